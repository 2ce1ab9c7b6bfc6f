"""The state directory's ledger file: load/save, corruption reported with the file's name, and crash
safety — an interrupted write (an exception, or the process killed) at any step leaves the old file
or the new one, never a mix, and no temporary file once the failure was handled."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from bgpd.daemon.host.statefile import (
    LEDGER_FILE,
    MAINTENANCE_FILE,
    atomic_write,
    load_ledger,
    load_maintenance,
    save_ledger,
    save_maintenance,
)
from bgpd.plan.maintenance import Maintenance, MaintenanceError
from bgpd.rib.ledger import Ledger, LedgerError, NodeAllocation, Reservation

REPO = Path(__file__).resolve().parents[3]
OLD = Ledger.of([NodeAllocation("node-1", "pool", "10.0.0.0/24", "fd00::/120")])
NEW = Ledger.of([*OLD.entries, NodeAllocation("node-2", "pool", "10.0.1.0/24", "fd00::100/120")])


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != LEDGER_FILE)


# --- load / save ----------------------------------------------------------------------------------


def test_missing_file_or_directory_is_an_empty_ledger(tmp_path: Path) -> None:
    assert load_ledger(tmp_path) == Ledger.empty()
    assert load_ledger(tmp_path / "not-yet") == Ledger.empty()
    assert not (tmp_path / "not-yet").exists()  # loading never creates anything


def test_save_creates_the_directory_and_loads_back(tmp_path: Path) -> None:
    state = tmp_path / "var" / "lib" / "bgpd"
    save_ledger(state, NEW)
    assert load_ledger(state) == NEW
    assert (state / LEDGER_FILE).read_text() == NEW.to_json()
    assert stat.S_IMODE((state / LEDGER_FILE).stat().st_mode) == 0o644
    assert leftovers(state) == []


def test_a_version_1_ledger_is_read_and_replaced_by_version_2_with_reservations(tmp_path: Path) -> None:
    version_1 = (
        '{"kind": "bgpd-pod-cidr-ledger", "version": 1, "nodes": [{"config": "pool", '
        '"ipv4": "10.0.0.0/24", "ipv6": "fd00::/120", "node": "node-1"}]}\n'
    )
    (tmp_path / LEDGER_FILE).write_text(version_1)
    assert load_ledger(tmp_path) == OLD
    reserved = Ledger.of(NEW.entries[1:], [Reservation(OLD.entries[0], 1_740_830_400)])
    save_ledger(tmp_path, reserved)
    assert load_ledger(tmp_path) == reserved
    assert '"version": 2' in (tmp_path / LEDGER_FILE).read_text()
    assert '"missingSince": "2025-03-01T12:00:00Z"' in (tmp_path / LEDGER_FILE).read_text()
    assert leftovers(tmp_path) == []


def test_replacing_keeps_the_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    target.chmod(0o600)
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not valid JSON"),
        (b'{"kind": "bgpd-pod-cidr-ledger", "version": 1, "nodes": [', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8 text"),
        (b'{"kind": "bgpd-pod-cidr-ledger", "version": 9, "nodes": []}', "unsupported ledger version 9"),
    ],
)
def test_corrupt_file_is_an_error_naming_the_file_and_is_left_alone(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / LEDGER_FILE
    path.write_bytes(content)
    with pytest.raises(LedgerError) as caught:
        load_ledger(tmp_path)
    assert str(path) in str(caught.value) and "corrupt" in str(caught.value)
    assert reason in str(caught.value)
    assert path.read_bytes() == content


def test_unreadable_ledger_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / LEDGER_FILE).mkdir()
    with pytest.raises(LedgerError, match=f"cannot read ledger {tmp_path / LEDGER_FILE}"):
        load_ledger(tmp_path)


def test_save_clears_temp_files_left_by_a_killed_writer_only(tmp_path: Path) -> None:
    (tmp_path / f".{LEDGER_FILE}.abc123.tmp").write_text("half a ledger")
    (tmp_path / "unrelated.tmp").write_text("not ours")
    save_ledger(tmp_path, OLD)
    assert leftovers(tmp_path) == ["unrelated.tmp"]
    assert load_ledger(tmp_path) == OLD


def test_write_into_a_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "f", b"data")
    assert list(tmp_path.iterdir()) == []


# --- failures raised inside the write -------------------------------------------------------------


def _failing_on_call(real: Callable[..., object], fail_at: int) -> Callable[..., object]:
    calls = {"n": 0}

    def wrapper(*args: object) -> object:
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError(5, "simulated I/O error")
        return real(*args)

    return wrapper


def _short_then_failing_write(real: Callable[[int, bytes], int]) -> Callable[[int, bytes], int]:
    """Write half the data (a short write), then fail on the retry: a disk filling up mid-file."""
    calls = {"n": 0}

    def wrapper(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    return wrapper


@pytest.mark.parametrize(
    ("function", "fail_at"),
    [("fchmod", 1), ("write", 1), ("write", "short"), ("fsync", 1), ("close", 1), ("replace", 1)],
    ids=["chmod", "write", "short-write-then-enospc", "fsync-file", "close", "rename"],
)
def test_failure_before_the_rename_keeps_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, function: str, fail_at: int | str
) -> None:
    save_ledger(tmp_path, OLD)
    before = (tmp_path / LEDGER_FILE).read_bytes()
    if fail_at == "short":
        monkeypatch.setattr(os, "write", _short_then_failing_write(os.write))
    else:
        monkeypatch.setattr(os, function, _failing_on_call(getattr(os, function), int(fail_at)))
    with pytest.raises(OSError):
        save_ledger(tmp_path, NEW)
    monkeypatch.undo()
    assert (tmp_path / LEDGER_FILE).read_bytes() == before
    assert load_ledger(tmp_path) == OLD
    assert leftovers(tmp_path) == []


def test_failure_syncing_the_directory_after_the_rename_leaves_the_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_ledger(tmp_path, OLD)
    monkeypatch.setattr(os, "fsync", _failing_on_call(os.fsync, 2))  # 1: the file, 2: the directory
    with pytest.raises(OSError, match="simulated"):
        save_ledger(tmp_path, NEW)
    monkeypatch.undo()
    assert load_ledger(tmp_path) == NEW
    assert leftovers(tmp_path) == []


def test_the_file_is_synced_before_the_rename_and_the_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        steps.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        assert Path(src).parent == Path(dst).parent  # same directory: the rename cannot cross filesystems
        steps.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(tmp_path / "f", b"data")
    assert steps == ["fsync-file", "replace", "fsync-dir"]


# --- the writer killed outright at each step ------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from bgpd.rib.ledger import Ledger
    from bgpd.daemon.host import statefile

    state_dir, step, payload = sys.argv[1], sys.argv[2], sys.argv[3]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    real_write, real_fsync, real_replace = os.write, os.fsync, os.replace
    fsyncs = 0

    def write(fd, data):
        if step == "before-write":
            die()
        if step == "mid-write":
            real_write(fd, bytes(data[: len(data) // 2]))
            die()
        return real_write(fd, data)

    def fsync(fd):
        global fsyncs
        fsyncs += 1
        if step == "before-fsync" and fsyncs == 1:
            die()
        real_fsync(fd)
        if step == "after-dir-fsync" and fsyncs == 2:
            die()

    def replace(src, dst):
        if step == "before-replace":
            die()
        real_replace(src, dst)
        if step == "after-replace":
            die()

    os.write, os.fsync, os.replace = write, fsync, replace
    statefile.save_ledger(state_dir, Ledger.from_json(payload))
    """
)

KILL_STEPS = {
    "before-write": "old",
    "mid-write": "old",
    "before-fsync": "old",
    "before-replace": "old",
    "after-replace": "new",
    "after-dir-fsync": "new",
}


@pytest.mark.parametrize(("step", "survivor"), KILL_STEPS.items(), ids=list(KILL_STEPS))
def test_writer_killed_at_any_step_leaves_old_or_new_ledger(tmp_path: Path, step: str, survivor: str) -> None:
    save_ledger(tmp_path, OLD)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), step, NEW.to_json()],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert load_ledger(tmp_path) == (OLD if survivor == "old" else NEW)
    if survivor == "old":
        assert len(leftovers(tmp_path)) == 1  # a kill -9 cannot clean up; the next save does
    save_ledger(tmp_path, NEW)
    assert leftovers(tmp_path) == []
    assert load_ledger(tmp_path) == NEW


# --- the maintenance state ------------------------------------------------------------------------


def test_maintenance_state_saves_and_loads_back(tmp_path: Path) -> None:
    assert load_maintenance(tmp_path) == Maintenance()  # none yet
    state = Maintenance({"10.0.1.254-node-01": "ToR upgrade"}, False, frozenset({"x"}))
    save_maintenance(tmp_path / "state", state)
    assert load_maintenance(tmp_path / "state") == state
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == [MAINTENANCE_FILE]


def test_a_corrupt_maintenance_state_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / MAINTENANCE_FILE).write_text('{"kind": "bgpd-maintenance", "version": 1, "drained": 5}')
    with pytest.raises(MaintenanceError, match=rf"{MAINTENANCE_FILE} is corrupt: \"drained\""):
        load_maintenance(tmp_path)
    (tmp_path / MAINTENANCE_FILE).write_bytes(b"\xff\xfe")
    with pytest.raises(MaintenanceError, match="not UTF-8"):
        load_maintenance(tmp_path)
