"""Rule 1 when the ledger cannot be written (disk full, read-only state directory): a pod CIDR is
never announced before the ledger that gives it is on disk; everything else runs on, and the
write is tried again until it succeeds."""

from __future__ import annotations

import asyncio
import errno
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from structlog.testing import capture_logs

from bgpd.cli.tables import render_status
from bgpd.control.protocol import Command, ControlError, ErrorCode
from bgpd.daemon import runner
from bgpd.daemon.handlers import ReloadRejectedError, commands, describe_session_data, status_data
from bgpd.daemon.host import statefile
from bgpd.daemon.host.statefile import load_ledger
from bgpd.daemon.metrics import Format
from bgpd.daemon.runner import Daemon
from bgpd.plan.allocation import node_list
from bgpd.rib.ledger import Ledger
from tests.daemon._fakes import FakeSpeaker
from tests.daemon.test_metrics import samples
from tests.daemon.test_runner_allocation import announced, events, make
from tests.plan._fixtures import SINGLE, manifests, plan, with_node, without_node

NEW = "10.0.1.31"  # the node added; its session is 10.0.1.254-node-01 (the node's segment)


class Disk:
    """``save_ledger`` on a disk that can be made full."""

    def __init__(self) -> None:
        self.full = False
        self.failed = 0  # writes refused

    def __call__(self, state_dir: Path, ledger: Ledger, text: object = None) -> None:
        if self.full:
            self.failed += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        statefile.save_ledger(state_dir, ledger)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    found = Disk()
    monkeypatch.setattr(runner, "save_ledger", found)
    return found


def carriers(speaker: FakeSpeaker, next_hop: str) -> list[str]:
    """The sessions announcing a route with ``next_hop``."""
    return sorted(
        n for n, routes in speaker.routes.items() if any(str(r.path.next_hop) == next_hop for r in routes)
    )


async def started(
    tmp_path: Path, text: str = SINGLE, ledger: Ledger | None = None
) -> tuple[Daemon, FakeSpeaker, Path]:
    """A started daemon that tries a failed write again every 10 ms (the daemon's default: 10 s)."""
    daemon, speaker, path, _ = make(tmp_path, text, ledger=ledger)
    daemon.ledger_retry = 0.01
    await daemon.start()
    return daemon, speaker, path


def nodes_on_disk(tmp_path: Path) -> set[str]:
    return {e.node for e in load_ledger(tmp_path / "state").entries}


async def healed(daemon: Daemon, disk: Disk) -> None:
    """Free the disk and wait (bounded) for the daemon's own retry to write the ledger."""
    disk.full = False
    async with asyncio.timeout(10):
        while daemon.snapshot().ledger_lag is not None:
            await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_a_reload_giving_a_block_that_cannot_be_written_is_refused_then_retried(
    tmp_path: Path, disk: Disk
) -> None:
    daemon, speaker, path = await started(tmp_path)
    before = dict(speaker.routes)
    speaker.calls.clear()
    disk.full = True
    path.write_text(with_node(SINGLE, NEW), encoding="utf-8")
    with capture_logs() as logs, pytest.raises(ControlError) as refused:
        await commands(daemon)[Command.RELOAD].handler({})
    assert refused.value.code is ErrorCode.FAILED
    text = str(refused.value)
    assert "the old one keeps running" in text and "No space left on device" in text
    assert str(tmp_path / "state") in text and f"to {NEW}" in text
    assert speaker.calls == [] and speaker.routes == before  # nothing sent, on any session
    assert daemon.generation == 0 and NEW not in {n.name for n in daemon.plan.nodes}
    assert NEW not in nodes_on_disk(tmp_path)
    assert events(logs, "ledger_write_failed") and events(logs, "reload_rejected")
    assert daemon.last_reload_successful is False and daemon.reloads_rejected == 1
    lag = status_data(daemon.snapshot(), daemon.generation, daemon.loop_lag)["ledgerUnwritten"]
    assert lag["error"] == "No space left on device" and lag["reloadWaiting"] is True
    assert lag["withheldPodCIDRs"] == 0
    # The disk is freed: the retry writes the ledger, then runs the waiting configuration.
    await healed(daemon, disk)
    assert carriers(speaker, NEW) == ["10.0.1.254-node-01"]
    assert NEW in nodes_on_disk(tmp_path)
    assert daemon.generation == 1 and daemon.reloads == 1
    await daemon.stop()


@pytest.mark.asyncio
async def test_a_refused_reload_is_replanned_in_full_and_the_next_reload_applies_it(
    tmp_path: Path, disk: Disk
) -> None:
    """After a refused reload the next one plans against what runs, and records what it gives."""
    daemon, speaker, path = await started(tmp_path)
    disk.full = True
    path.write_text(with_node(SINGLE, NEW), encoding="utf-8")
    with pytest.raises(ReloadRejectedError):
        await daemon.reload("test")
    disk.full = False
    path.write_text(with_node(with_node(SINGLE, NEW), "10.0.1.32"), encoding="utf-8")
    await daemon.reload("test")
    assert carriers(speaker, NEW) == carriers(speaker, "10.0.1.32") == ["10.0.1.254-node-01"]
    on_disk = {e.node: e.ipv4 for e in load_ledger(tmp_path / "state").entries}
    planned = {r.next_hop: r.prefix for r in daemon.plan.routes}
    assert on_disk[NEW] == planned[NEW] and on_disk["10.0.1.32"] == planned["10.0.1.32"]
    await daemon.stop()


@pytest.mark.asyncio
async def test_a_start_withholds_only_the_blocks_the_ledger_on_disk_lacks(tmp_path: Path, disk: Disk) -> None:
    first, first_speaker, path = await started(tmp_path)
    before = dict(first_speaker.routes)
    await first.stop()
    recorded = load_ledger(tmp_path / "state")
    path.write_text(with_node(SINGLE, NEW), encoding="utf-8")
    disk.full = True
    with capture_logs() as logs:
        daemon, speaker, _ = await started(tmp_path, path.read_text(), ledger=recorded)
        assert carriers(speaker, NEW) == []  # on no session
        assert speaker.routes == before  # the recorded nodes, as before
        # The retry fails again and again: each time the same plan, nothing sent, nothing compared.
        plan, failed = daemon.plan, disk.failed
        speaker.calls.clear()
        async with asyncio.timeout(10):
            while disk.failed < failed + 2:
                await asyncio.sleep(0.01)
        assert daemon.plan is plan and speaker.calls == []
        new_block = next(r.prefix for r in daemon.plan.routes if r.next_hop == NEW)
        (problem,) = [p for p in daemon.plan.problems if p.node == NEW]
        assert f"{new_block} not announced" in problem.reason and "No space left on device" in problem.reason
        skipped = describe_session_data(daemon.snapshot(), "10.0.1.254-node-01", None)["routes"]["skipped"]
        assert [s["prefix"] for s in skipped if s["reason"].startswith("not announced: the ledger")] == [
            new_block
        ]
        status = status_data(daemon.snapshot(), daemon.generation, daemon.loop_lag)
        assert status["ledgerUnwritten"]["withheldPodCIDRs"] == 1
        assert status["ledgerUnwritten"]["reloadWaiting"] is False
        (line,) = [
            x for x in render_status(status, datetime.now(UTC)).splitlines() if x.startswith("Ledger:")
        ]
        assert line.startswith("Ledger:          NOT WRITTEN since ")
        assert line.endswith(": No space left on device; pod CIDRs not announced until written: 1")
        got = samples(await daemon.metrics_text(Format.OPENMETRICS), Format.OPENMETRICS)
        assert (got[("bgpd_ledger_written", ())], got[("bgpd_ledger_withheld_pod_cidrs", ())]) == (0, 1)
        # A reload meanwhile that gives nothing new runs, and says what is still held back.
        message = await daemon.reload("test")
        assert message.endswith("(No space left on device): 1 pod CIDR")
        assert carriers(speaker, NEW) == []
        await healed(daemon, disk)
    assert carriers(speaker, NEW) == ["10.0.1.254-node-01"]
    assert NEW in nodes_on_disk(tmp_path)
    assert [e["nodes"] for e in events(logs, "routes_withheld")] == [[NEW]]
    assert [e["node"] for e in events(logs, "allocation_problem")] == [NEW]
    assert events(logs, "withheld_routes_announced")
    assert not [p for p in daemon.plan.problems if p.node == NEW]
    await daemon.stop()


@pytest.mark.asyncio
async def test_a_change_that_only_removes_runs_unwritten_and_is_written_later(
    tmp_path: Path, disk: Disk
) -> None:
    daemon, speaker, path = await started(tmp_path)
    gone = "10.0.3.21"
    block = next(r.prefix for r in daemon.plan.routes if r.next_hop == gone)
    disk.full = True
    path.write_text(without_node(SINGLE, gone), encoding="utf-8")
    with capture_logs() as logs:
        message = await daemon.reload("test")
    assert "reloaded (generation 1)" in message and events(logs, "ledger_write_failed")
    assert block not in announced(speaker)  # withdrawn at once
    assert gone in nodes_on_disk(tmp_path)  # the old, more cautious file
    assert status_data(daemon.snapshot(), 1, daemon.loop_lag)["ledgerUnwritten"]["withheldPodCIDRs"] == 0
    await healed(daemon, disk)
    assert [r.node for r in load_ledger(tmp_path / "state").reserved] == [gone]
    await daemon.stop()


@pytest.mark.asyncio
async def test_stop_ends_the_retry_and_writes_the_ledger_once_more(tmp_path: Path, disk: Disk) -> None:
    daemon, _, path = await started(tmp_path)
    disk.full = True
    path.write_text(without_node(SINGLE, "10.0.3.21"), encoding="utf-8")
    await daemon.reload("test")
    assert len(asyncio.all_tasks()) == 2  # this test, and the retry (every 10 s by default)
    disk.full = False
    await daemon.stop()
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert [r.node for r in load_ledger(tmp_path / "state").reserved] == ["10.0.3.21"]


@pytest.mark.asyncio
async def test_retries_that_fail_alike_are_logged_once_then_counted(tmp_path: Path, disk: Disk) -> None:
    """A full disk for minutes must not write a line every retry (quiet logs): one error line per
    episode, and the count of the failures that followed it on the line that ends it."""
    disk.full = True
    with capture_logs() as logs:
        daemon, _, _ = await started(tmp_path)
        async with asyncio.timeout(10):
            while disk.failed < 5:
                await asyncio.sleep(0.01)
        await healed(daemon, disk)
    assert len(events(logs, "ledger_write_failed")) == 1
    (committed,) = [e for e in events(logs, "ledger_committed") if "repeated_failures" in e]
    assert committed["repeated_failures"] >= 4
    await daemon.stop()


@pytest.mark.asyncio
async def test_blocks_node_documents_give_are_announced_though_the_ledger_cannot_be_written(
    tmp_path: Path, disk: Disk
) -> None:
    """The cluster file records them: a restart reads the same Node documents, whatever the ledger
    on disk says, so a full disk holds nothing back (a fresh gateway with Node documents)."""
    text = with_node(SINGLE, NEW)
    listed = node_list(manifests(text), plan(text).ledger)
    pinned = text + "\n---\n" + yaml.safe_dump(listed, sort_keys=False)
    for name in ("reference", "full"):
        (tmp_path / name).mkdir()
    reference, reference_speaker, _ = await started(tmp_path / "reference", pinned)
    expected = dict(reference_speaker.routes)
    await reference.stop()
    disk.full = True
    with capture_logs() as logs:
        daemon, speaker, _ = await started(tmp_path / "full", pinned)
    assert events(logs, "ledger_write_failed") and not events(logs, "routes_withheld")
    assert speaker.routes == expected and carriers(speaker, NEW) == ["10.0.1.254-node-01"]
    await daemon.stop()
