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

The restart record, ``graceful-restart.json``, is what a graceful stop leaves for the next start
(RFC 4724 §4.1): when bgpd stopped and, per session, the restart time its peer was given. A start
within that time is a restart: the session's OPEN carries the Restart State bit. The record is
advisory and used once: the next start reads it and removes it, a stop that withdraws removes it,
and a record that cannot be read only costs the Restart State bit (``RestartRecordError``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bgpd.plan.maintenance import Maintenance, MaintenanceError
from bgpd.rib.ledger import Ledger, LedgerError, LedgerText

__all__ = [
    "LEDGER_FILE",
    "MAINTENANCE_FILE",
    "RESTART_FILE",
    "RestartRecord",
    "RestartRecordError",
    "atomic_write",
    "clear_restart_record",
    "load_ledger",
    "load_maintenance",
    "load_restart_record",
    "save_ledger",
    "save_maintenance",
    "save_restart_record",
]

LEDGER_FILE: Final = "pod-cidr-ledger.json"
MAINTENANCE_FILE: Final = "maintenance.json"
RESTART_FILE: Final = "graceful-restart.json"
_RESTART_VERSION: Final = 1
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


# ---------------------------------------------------------------------- graceful restart record
class RestartRecordError(Exception):
    """The restart record cannot be used; the message names the file and says why."""


@dataclass(frozen=True, slots=True)
class RestartRecord:
    """What a graceful stop leaves: when (POSIX seconds) and, per session name, the restart time
    its peer was given (how long it keeps our routes, RFC 4724 §3)."""

    stopped_at: float
    sessions: Mapping[str, int] = field(default_factory=dict)

    def restarting(self, now: float) -> frozenset[str]:
        """The sessions whose peers still keep our routes at ``now``: within their restart time
        of the stop. A clock that went back counts as no time passed."""
        elapsed = max(0.0, now - self.stopped_at)
        return frozenset(name for name, restart_time in self.sessions.items() if elapsed < restart_time)

    def to_json(self) -> str:
        sessions = {name: {"restartTime": t} for name, t in sorted(self.sessions.items())}
        body = {"version": _RESTART_VERSION, "stoppedAt": self.stopped_at, "sessions": sessions}
        return json.dumps(body, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RestartRecord:
        """Parse; ValueError says what is wrong."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"not JSON ({err.msg} at line {err.lineno})") from None
        if not isinstance(data, dict) or data.get("version") != _RESTART_VERSION:
            raise ValueError(f"not a version {_RESTART_VERSION} restart record")
        stopped_at = data.get("stoppedAt")
        if (
            isinstance(stopped_at, bool)
            or not isinstance(stopped_at, int | float)
            or not math.isfinite(stopped_at)
        ):
            raise ValueError("stoppedAt must be a number of seconds")
        sessions = data.get("sessions")
        if not isinstance(sessions, dict):
            raise ValueError("sessions must be a mapping")
        return cls(
            float(stopped_at), {str(name): _restart_time(name, entry) for name, entry in sessions.items()}
        )


def _restart_time(name: str, entry: Any) -> int:
    value = entry.get("restartTime") if isinstance(entry, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFF:
        raise ValueError(f"session {name!r}: restartTime must be 0..4095 seconds")
    return value


def save_restart_record(state_dir: str | os.PathLike[str], record: RestartRecord) -> None:
    """Write the record atomically (before the sessions close, so a crash meanwhile leaves it)."""
    _save(Path(state_dir), RESTART_FILE, record.to_json())


def load_restart_record(state_dir: str | os.PathLike[str]) -> RestartRecord | None:
    """The record a graceful stop left, or None; ``RestartRecordError`` if it is unusable."""
    path = Path(state_dir) / RESTART_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise RestartRecordError(f"cannot read restart record {path}: {err.strerror or err}") from None
    try:
        return RestartRecord.from_json(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise RestartRecordError(f"restart record {path} is unusable: {err}") from None


def clear_restart_record(state_dir: str | os.PathLike[str]) -> None:
    """Remove the record (used once; or a stop that withdraws leaves no restart to claim)."""
    with contextlib.suppress(FileNotFoundError):
        (Path(state_dir) / RESTART_FILE).unlink()
