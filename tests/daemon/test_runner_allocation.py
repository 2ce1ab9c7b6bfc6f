"""The daemon and allocation: reservations across reloads and restarts, the mass-removal guard,
``release-node``, and Node documents overriding this gateway's ledger, each with its log line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from bgpd.cli.tables import table_for
from bgpd.control.protocol import ControlError, ErrorCode
from bgpd.daemon.handlers import ReloadRejectedError, allocations_listing
from bgpd.daemon.handlers import listed as listed_items
from bgpd.daemon.host.statefile import LEDGER_FILE, load_ledger
from bgpd.daemon.inputs import ConfigFile, read_settings
from bgpd.daemon.runner import Daemon
from bgpd.rib.ledger import Ledger, NodeAllocation
from tests.daemon._fakes import FakeSpeaker, FixedAddresses
from tests.manifests._cluster import as_list, node_object
from tests.plan._fixtures import SEGMENTS, SINGLE, with_node, without_node

T0 = 1_740_830_400.0  # 2025-03-01T12:00:00Z
DAY = 86400


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make(
    tmp_path: Path, text: str = SINGLE, settings: str | None = None, ledger: Ledger | None = None
) -> tuple[Daemon, FakeSpeaker, Path, Clock]:
    """A daemon on ``text``, with ``settings`` (YAML) as its settings file, and a clock to turn."""
    settings_path = None
    if settings is not None:
        settings_path = tmp_path / "bgpd.yaml"
        settings_path.write_text(settings, encoding="utf-8")
    path = tmp_path / "cluster.yaml"
    path.write_text(text, encoding="utf-8")
    config = ConfigFile(path)
    speaker = FakeSpeaker()
    clock = Clock()
    daemon = Daemon(
        config,
        settings_path=settings_path,
        state_dir=tmp_path / "state",
        loaded=config.load(),
        settings=read_settings(settings_path),
        ledger=ledger or Ledger.empty(),
        speaker=speaker,
        addresses=FixedAddresses(dict(SEGMENTS)),
        clock=clock,
    )
    return daemon, speaker, path, clock


def two_of_four_replaced() -> str:
    """Both NodePool nodes gone, one new one: 2 of the 4 running nodes are removed."""
    old = "  - address: 10.0.1.21\n  - address: 10.0.3.21\n"
    assert old in SINGLE
    return SINGLE.replace(old, "  - address: 10.0.1.31\n")


def announced(speaker: FakeSpeaker) -> dict[str, str]:
    return {r.text: str(r.path.next_hop) for routes in speaker.routes.values() for r in routes}


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


@pytest.mark.asyncio
async def test_removed_node_keeps_its_block_reserved_on_disk_and_gets_it_back(tmp_path: Path) -> None:
    daemon, speaker, path, clock = make(tmp_path)
    await daemon.start()
    block = next(r.prefix for r in daemon.plan.routes if r.next_hop == "10.0.3.21")
    clock.now += 60
    path.write_text(with_node(without_node(SINGLE, "10.0.3.21"), "10.0.1.31"), encoding="utf-8")
    with capture_logs() as logs:
        await daemon.reload("test")
    assert block not in announced(speaker)  # withdrawn: the node is gone from the file
    assert announced(speaker)[next(r.prefix for r in daemon.plan.routes if r.next_hop == "10.0.1.31")]
    assert block not in {r.prefix for r in daemon.plan.routes}  # ... and not given to the new node
    on_disk = load_ledger(tmp_path / "state")
    assert [(r.node, r.allocation.ipv4, r.missing_since) for r in on_disk.reserved] == [
        ("10.0.3.21", block, int(T0) + 60)
    ]
    listed = listed_items(allocations_listing(daemon.snapshot().plan))
    assert listed[-1] == {
        "node": "10.0.3.21",
        "nodePool": None,
        "clusterCIDRConfig": "cluster-wide-1",
        "podCIDRs": [block],
        "nodeIPs": [],
        "missingSince": "2025-03-01T12:01:00.000Z",
    }
    assert "MISSING SINCE" in table_for("allocations", listed, datetime.now(UTC), wide=True)
    (reserved,) = events(logs, "node_reserved")
    assert reserved["node"] == "10.0.3.21" and reserved["pod_cidrs"] == [block]
    assert reserved["missing_since"] == "2025-03-01T12:01:00Z"
    assert reserved["reserved_until"] == "2025-03-02T12:01:00Z"  # the default: 24 hours
    # A restart in between (the ledger is read back from disk) changes nothing.
    daemon2, speaker2, _, clock2 = make(tmp_path, path.read_text(), ledger=load_ledger(tmp_path / "state"))
    clock2.now = T0 + 120
    await daemon2.start()
    path.write_text(with_node(SINGLE, "10.0.1.31"), encoding="utf-8")
    with capture_logs() as logs:
        await daemon2.reload("test")
    assert announced(speaker2)[block] == "10.0.3.21"
    assert load_ledger(tmp_path / "state").reserved == ()
    assert [e["node"] for e in events(logs, "node_returned")] == ["10.0.3.21"]


@pytest.mark.asyncio
async def test_reservation_runs_out_after_the_reservation_time(tmp_path: Path) -> None:
    daemon, _, path, clock = make(tmp_path, settings="allocation:\n  reservationTime: 600\n")
    await daemon.start()
    block = next(r.prefix for r in daemon.plan.routes if r.next_hop == "10.0.3.21")
    path.write_text(without_node(SINGLE, "10.0.3.21"), encoding="utf-8")
    await daemon.reload("test")
    clock.now += 600
    path.write_text(with_node(without_node(SINGLE, "10.0.3.21"), "10.0.3.31"), encoding="utf-8")
    with capture_logs() as logs:
        await daemon.reload("test")
    assert [e["node"] for e in events(logs, "reservation_ended")] == ["10.0.3.21"]
    assert next(r.next_hop for r in daemon.plan.routes if r.prefix == block) == "10.0.3.31"


@pytest.mark.asyncio
async def test_release_node_frees_a_reservation_and_refuses_anything_else(tmp_path: Path) -> None:
    daemon, _, path, _ = make(tmp_path)
    await daemon.start()
    block = next(r.prefix for r in daemon.plan.routes if r.next_hop == "10.0.3.21")
    path.write_text(without_node(SINGLE, "10.0.3.21"), encoding="utf-8")
    await daemon.reload("test")
    for name, words in (
        ("10.0.1.21", "it is in the cluster file"),
        ("10.9.9.9", "the ledger does not know it"),
    ):
        with pytest.raises(ControlError) as refused:
            await daemon.release_node(name)
        assert refused.value.code is ErrorCode.NOT_FOUND and words in refused.value.message
    with capture_logs() as logs:
        message = await daemon.release_node("10.0.3.21")
    assert message == f"node 10.0.3.21: reservation of {block} released; another node may now get them"
    assert load_ledger(tmp_path / "state").reserved == ()
    assert events(logs, "reservation_released")[0]["pod_cidrs"] == [block]
    path.write_text(with_node(without_node(SINGLE, "10.0.3.21"), "10.0.3.31"), encoding="utf-8")
    await daemon.reload("test")
    assert next(r.next_hop for r in daemon.plan.routes if r.prefix == block) == "10.0.3.31"


@pytest.mark.asyncio
async def test_release_that_cannot_be_written_is_not_done(tmp_path: Path) -> None:
    daemon, _, path, _ = make(tmp_path)
    await daemon.start()
    path.write_text(without_node(SINGLE, "10.0.3.21"), encoding="utf-8")
    await daemon.reload("test")
    state = tmp_path / "state"
    (state / LEDGER_FILE).unlink()
    state.rmdir()
    state.write_text("a file where the state directory should be")
    with pytest.raises(ControlError, match="cannot write the ledger"):
        await daemon.release_node("10.0.3.21")
    assert [r.node for r in daemon.plan.ledger.reserved] == ["10.0.3.21"]


@pytest.mark.asyncio
async def test_reload_removing_too_many_nodes_is_refused_logged_and_can_be_forced(tmp_path: Path) -> None:
    daemon, speaker, path, _ = make(tmp_path)
    await daemon.start()
    speaker.calls.clear()
    before = daemon.plan
    path.write_text(two_of_four_replaced(), encoding="utf-8")
    with capture_logs() as logs, pytest.raises(ReloadRejectedError) as refused:
        await daemon.reload("test")
    (reason,) = refused.value.errors
    assert reason.startswith(
        "the new cluster file removes 2 of 4 nodes at once (50%, more than removals.maxShare 25%): "
        "10.0.1.21, 10.0.3.21; refused"
    )
    assert "bgpctl reload --force" in reason
    assert speaker.calls == [] and daemon.plan is before
    (logged,) = events(logs, "reload_refused")
    assert logged["removed"] == ["10.0.1.21", "10.0.3.21"] and logged["what"] == "nodes"
    with capture_logs() as logs:
        await daemon.reload("test", force=True)
    assert events(logs, "reload_forced")[0]["removed"] == ["10.0.1.21", "10.0.3.21"]
    assert {r.next_hop for r in daemon.plan.routes} == {"10.0.1.11", "10.0.3.11", "10.0.1.31"}


@pytest.mark.asyncio
async def test_removing_one_node_in_four_is_within_the_default_share(tmp_path: Path) -> None:
    daemon, _, path, _ = make(tmp_path)
    await daemon.start()
    path.write_text(without_node(SINGLE, "10.0.1.21"), encoding="utf-8")
    assert "updated" in await daemon.reload("test")


@pytest.mark.asyncio
async def test_the_guard_uses_the_share_from_the_settings(tmp_path: Path) -> None:
    daemon, _, path, _ = make(tmp_path, settings="removals:\n  maxShare: 1\n")
    await daemon.start()
    path.write_text(two_of_four_replaced(), encoding="utf-8")
    await daemon.reload("test")
    assert {r.next_hop for r in daemon.plan.routes} == {"10.0.1.11", "10.0.3.11", "10.0.1.31"}


NODE_OBJECTS = [
    node_object("cp", ["222.2.9.0/24"], ["10.0.1.11"]),
    node_object("lb", ["222.2.8.0/24"], ["10.0.3.11"]),
    node_object("w1", ["222.2.1.0/24"], ["10.0.1.21"]),
    node_object("w2", ["222.2.3.0/24"], ["10.0.3.21"]),
]
NODE_DOCS = "---\n" + yaml.safe_dump(as_list(*NODE_OBJECTS))


@pytest.mark.asyncio
async def test_node_documents_win_over_the_ledger_and_each_contradiction_is_logged_once(
    tmp_path: Path,
) -> None:
    history = Ledger.of(
        [
            NodeAllocation("10.0.1.11", "cluster-wide-1", "222.2.0.0/24", None),
            NodeAllocation("10.0.1.21", "cluster-wide-1", "222.2.1.0/24", None),
            NodeAllocation("10.0.3.11", "cluster-wide-1", "222.2.2.0/24", None),
            NodeAllocation("10.0.3.21", "cluster-wide-1", "222.2.3.0/24", None),
        ]
    )
    daemon, speaker, _, _ = make(tmp_path, SINGLE + NODE_DOCS, ledger=history)
    with capture_logs() as logs:
        await daemon.start()
    assert announced(speaker) == {
        "222.2.9.0/24": "10.0.1.11",
        "222.2.1.0/24": "10.0.1.21",
        "222.2.8.0/24": "10.0.3.11",
        "222.2.3.0/24": "10.0.3.21",
    }
    said = {e["node"]: e["reason"] for e in events(logs, "allocation_problem")}
    assert said == {
        "10.0.1.11": "this gateway's ledger contradicts the file: ipv4 ledger 222.2.0.0/24, Node document "
        "222.2.9.0/24: the file wins (announced and recorded as in the file)",
        "10.0.3.11": "this gateway's ledger contradicts the file: ipv4 ledger 222.2.2.0/24, Node document "
        "222.2.8.0/24: the file wins (announced and recorded as in the file)",
    }
    on_disk = json.loads((tmp_path / "state" / LEDGER_FILE).read_text())
    assert {e["node"]: e["ipv4"] for e in on_disk["nodes"]}["10.0.1.11"] == "222.2.9.0/24"
    with capture_logs() as logs:
        await daemon.reload("again")
    assert events(logs, "allocation_problem") == []


@pytest.mark.asyncio
async def test_a_node_without_a_node_document_is_not_announced_and_logged(tmp_path: Path) -> None:
    text = SINGLE + "---\n" + yaml.safe_dump(as_list(*NODE_OBJECTS[:3]))
    daemon, speaker, _, _ = make(tmp_path, text)
    with capture_logs() as logs:
        await daemon.start()
    assert "10.0.3.21" not in announced(speaker).values()
    (logged,) = events(logs, "node_not_served")
    assert logged["node"] == "10.0.3.21" and "the file has no Node document for it" in logged["reason"]
