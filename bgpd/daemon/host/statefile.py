"""Files in the state directory, replaced atomically: a crash leaves the old file or the new, never half.

``atomic_write`` is the classic sequence: write a temporary file in the same directory (so the rename
stays within one filesystem), ``fsync`` it (its data is on disk before its name is), ``os.replace``
it over the target (atomic on POSIX), then ``fsync`` the directory (the rename itself survives a
power cut). If anything fails before the rename, the temporary file is removed and the target is
untouched; only a process killed outright can leave a temporary file behind, which is harmless
(never read) and removed by the next ``save_ledger``.

The ledger file is ``pod-cidr-ledger.json``. A missing file is an empty ledger (first start); a file
that cannot be read or parsed is a ``LedgerError`` naming the file, and is never overwritten here
without the caller deciding to — replacing it silently would renumber every node.

The maintenance file is ``maintenance.json`` (``bgpd.plan.maintenance``): the sessions an operator
disabled or drained. Missing means none; unreadable is a ``MaintenanceError`` naming the file, for
the same reason: starting without it could bring up a session someone is working on.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Final

from bgpd.plan.maintenance import Maintenance, MaintenanceError
from bgpd.rib.ledger import Ledger, LedgerError, LedgerText

__all__ = [
    "LEDGER_FILE",
    "MAINTENANCE_FILE",
    "atomic_write",
    "load_ledger",
    "load_maintenance",
    "save_ledger",
    "save_maintenance",
]

LEDGER_FILE: Final = "pod-cidr-ledger.json"
MAINTENANCE_FILE: Final = "maintenance.json"
_TEMP_SUFFIX: Final = ".tmp"
_NEW_FILE_MODE: Final = 0o644


def _temp_prefix(name: str) -> str:
    return f".{name}."


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers, and a crash, see only the old or the new file.

    The new file keeps the mode of the file it replaces (0644 for a new one); ``mkstemp`` would
    otherwise leave it 0600.
    """
    target = Path(path)
    directory = target.parent
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = _NEW_FILE_MODE
    fd, temp_name = tempfile.mkstemp(prefix=_temp_prefix(target.name), suffix=_TEMP_SUFFIX, dir=directory)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable: the directory entry is data of the directory."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_ledger(state_dir: str | os.PathLike[str]) -> Ledger:
    """The ledger in ``state_dir``; empty if there is none yet; ``LedgerError`` if it is unusable."""
    path = Path(state_dir) / LEDGER_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Ledger.empty()
    except OSError as err:
        raise LedgerError(f"cannot read ledger {path}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise LedgerError(
            f"ledger {path} is corrupt: not UTF-8 text ({err.reason} at byte {err.start})"
        ) from None
    try:
        return Ledger.from_json(text)
    except LedgerError as err:
        raise LedgerError(f"ledger {path} is corrupt: {err}") from None


def save_ledger(state_dir: str | os.PathLike[str], ledger: Ledger, text: LedgerText | None = None) -> None:
    """Write the ledger atomically, creating ``state_dir`` if needed and clearing crash leftovers.
    ``text``: the writer's memory of the last ledger it wrote (``LedgerText``), for speed."""
    _save(Path(state_dir), LEDGER_FILE, text.render(ledger) if text is not None else ledger.to_json())


def load_maintenance(state_dir: str | os.PathLike[str]) -> Maintenance:
    """The maintenance state in ``state_dir``; none if there is no file; ``MaintenanceError`` if
    it is unusable."""
    path = Path(state_dir) / MAINTENANCE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Maintenance()
    except UnicodeDecodeError as err:
        raise MaintenanceError(
            f"maintenance state {path} is corrupt: not UTF-8 text ({err.reason})"
        ) from None
    except OSError as err:
        raise MaintenanceError(f"cannot read maintenance state {path}: {err.strerror or err}") from None
    try:
        return Maintenance.from_json(text)
    except MaintenanceError as err:
        raise MaintenanceError(f"maintenance state {path} is corrupt: {err}") from None


def save_maintenance(state_dir: str | os.PathLike[str], maintenance: Maintenance) -> None:
    """Write the maintenance state atomically (like ``save_ledger``)."""
    _save(Path(state_dir), MAINTENANCE_FILE, maintenance.to_json())


def _save(directory: Path, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob(f"{_temp_prefix(name)}*{_TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    atomic_write(directory / name, text.encode("utf-8"))
