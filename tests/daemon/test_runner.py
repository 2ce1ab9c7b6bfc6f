"""The daemon's logic against a recording speaker: reloads, floating IPs, the ledger, the stop."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bgpd.control.protocol import ControlError, ErrorCode
from bgpd.daemon.handlers import ReloadRejectedError, describe_session_data, sessions_data
from bgpd.daemon.host.statefile import (
    LEDGER_FILE,
    RestartRecord,
    load_ledger,
    load_restart_record,
    save_restart_record,
)
from bgpd.daemon.inputs import ConfigFile
from bgpd.daemon.runner import RESTART_TEXT, STOP_TEXT, Daemon
from bgpd.plan.maintenance import Maintenance
from bgpd.plan.settings import Settings
from bgpd.rib.ledger import Ledger
from bgpd.wire.constants import CeaseSub
from tests.daemon._fakes import FakeSpeaker, FixedAddresses
from tests.plan._fixtures import SEGMENTS, SINGLE, with_node, with_peer_asn, without_node


def make(
    tmp_path: Path,
    text: str = SINGLE,
    settings: Path | None = None,
    *,
    clock: Callable[[], float] = time.time,
    restarting: frozenset[str] = frozenset(),
    maintenance: Maintenance | None = None,
) -> tuple[Daemon, FakeSpeaker, FixedAddresses, Path]:
    path = tmp_path / "cluster.yaml"
    path.write_text(text, encoding="utf-8")
    config = ConfigFile(path)
    speaker = FakeSpeaker()
    addresses = FixedAddresses(dict(SEGMENTS))
    daemon = Daemon(
        config,
        settings_path=settings,
        state_dir=tmp_path / "state",
        loaded=config.load(),
        settings=Settings(),
        ledger=Ledger.empty(),
        speaker=speaker,
        addresses=addresses,
        clock=clock,
        restarting=restarting,
        maintenance=maintenance,
    )
    return daemon, speaker, addresses, path


async def started_with_settings(tmp_path: Path) -> tuple[Daemon, FakeSpeaker, Path]:
    """A started daemon that reads ``bgpd.yaml`` (holdTime 90), its speaker's calls cleared."""
    settings = tmp_path / "bgpd.yaml"
    settings.write_text("defaults:\n  holdTime: 90\n", encoding="utf-8")
    daemon, speaker, _, _ = make(tmp_path, settings=settings)
    await daemon.start()
    speaker.calls.clear()
    return daemon, speaker, settings


@pytest.mark.asyncio
async def test_start_runs_every_held_session_and_commits_the_ledger(tmp_path: Path) -> None:
    daemon, speaker, _, _ = make(tmp_path)
    await daemon.start()
    assert sorted(speaker.sessions) == [
        "10.0.1.254-node-01",
        "10.0.1.254-node-02",
        "10.0.3.254-node-01",
        "10.0.3.254-node-02",
    ]
    assert {str(r.path.next_hop) for r in speaker.routes["10.0.3.254-node-02"]} == {"10.0.3.11", "10.0.3.21"}
    assert {e.node for e in load_ledger(tmp_path / "state").entries} == {
        "10.0.1.11",
        "10.0.1.21",
        "10.0.3.11",
        "10.0.3.21",
    }
    assert daemon.status_line() == "4 sessions, 4 established, 4 routes"


@pytest.mark.asyncio
async def test_sessions_start_before_the_first_plan_then_get_their_whole_table(tmp_path: Path) -> None:
    daemon, speaker, _, _ = make(tmp_path)
    await daemon.start()
    adds = [call for call in speaker.calls if call[0].startswith("add")]
    assert len(adds) == 4 and all(call[0] == "add-unplanned" for call in adds)  # no routes known yet
    first_routes = min(i for i, call in enumerate(speaker.calls) if call[0] == "routes")
    assert first_routes > max(speaker.calls.index(call) for call in adds)
    assert sorted(call[1] for call in speaker.calls if call[0] == "routes") == sorted(speaker.sessions)
    for name, session in daemon.plan.local_sessions().items():  # every table, empty ones included
        assert speaker.routes[name] == {a.route for a in session.announced}


@pytest.mark.asyncio
async def test_the_first_plan_gives_the_loop_back_between_two_sessions_tables(tmp_path: Path) -> None:
    """Each table of 10,000 routes is ~10 ms of the loop's time: one at a time, not all at once."""
    daemon, speaker, _, _ = make(tmp_path)

    async def ticker() -> None:
        while True:
            speaker.calls.append(("tick", ""))
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    try:
        await daemon.start()
    finally:
        ticking.cancel()
    tables = [i for i, call in enumerate(speaker.calls) if call[0] == "routes"]
    assert len(tables) == 4
    for before, after in itertools.pairwise(tables):
        assert ("tick", "") in speaker.calls[before:after]


@pytest.mark.asyncio
async def test_reload_with_a_new_node_only_sends_routes_and_commits_its_block(tmp_path: Path) -> None:
    daemon, speaker, _, path = make(tmp_path)
    await daemon.start()
    speaker.calls.clear()
    path.write_text(with_node(SINGLE, "10.0.1.31"), encoding="utf-8")
    message = await daemon.reload("test")
    assert speaker.calls == [("routes", "10.0.1.254-node-01")]  # the one session to the node's segment
    assert "1 session updated" in message
    assert "10.0.1.31" in {e.node for e in load_ledger(tmp_path / "state").entries}


@pytest.mark.asyncio
async def test_reload_removing_a_node_withdraws_it_everywhere_it_was_carried(tmp_path: Path) -> None:
    daemon, speaker, _, path = make(tmp_path)
    await daemon.start()
    gone = next(r.prefix for r in daemon.plan.routes if r.next_hop == "10.0.3.21")
    speaker.calls.clear()
    path.write_text(without_node(SINGLE, "10.0.3.21"), encoding="utf-8")
    await daemon.reload("test")
    assert all(call[0] == "routes" for call in speaker.calls)
    assert all(gone not in {r.text for r in routes} for routes in speaker.routes.values())
    assert "10.0.3.21" not in {e.node for e in load_ledger(tmp_path / "state").entries}


@pytest.mark.asyncio
async def test_invalid_file_keeps_the_old_plan_and_reports_every_error(tmp_path: Path) -> None:
    daemon, speaker, _, path = make(tmp_path)
    await daemon.start()
    before = daemon.plan
    speaker.calls.clear()
    broken = SINGLE.replace("peerASN: 65002", "peerASN: banana")
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ReloadRejectedError) as caught:
        await daemon.reload("test")
    errors = caught.value.errors
    assert len(errors) == 2  # both bad BGPPeers, not just the first
    assert "bgppeer1" in errors[0] and "bgppeer2" in errors[1] and all("peerASN" in e for e in errors)
    assert speaker.calls == []
    assert daemon.plan is before


@pytest.mark.asyncio
async def test_peer_asn_change_resets_only_that_peers_sessions(tmp_path: Path) -> None:
    daemon, speaker, _, path = make(tmp_path)
    await daemon.start()
    speaker.calls.clear()
    path.write_text(with_peer_asn(SINGLE, "10.0.1.254", 65010), encoding="utf-8")
    await daemon.reload("test")
    touched = {call[1] for call in speaker.calls}
    assert touched == {"10.0.1.254-node-01", "10.0.1.254-node-02"}
    removes = [c for c in speaker.calls if c[0] == "remove"]
    assert all(c[2] == str(int(CeaseSub.OTHER_CONFIGURATION_CHANGE)) for c in removes)
    assert set(speaker.graceful.values()) == {True}  # RFC 8538 §5: a reset the peer rides out
    assert speaker.sessions["10.0.1.254-node-01"].peer_asn == 65010
    assert speaker.restarting == []  # a reset is no restart of bgpd


@pytest.mark.asyncio
async def test_removed_peer_is_stopped_as_deconfigured(tmp_path: Path) -> None:
    daemon, speaker, _, path = make(tmp_path)
    await daemon.start()
    speaker.calls.clear()
    start = SINGLE.index("---\napiVersion: networking.gke.io/v1\nkind: BGPPeer\nmetadata:\n  name: bgppeer2")
    path.write_text(SINGLE[:start], encoding="utf-8")
    with pytest.raises(ReloadRejectedError, match="removes 1 of 2 BGP peers at once"):
        await daemon.reload("test")  # a file cut after bgppeer1 looks exactly like this (issue 9)
    assert speaker.calls == []
    await daemon.reload("test", force=True)
    assert sorted(speaker.calls) == [
        ("remove", "10.0.3.254-node-01", str(int(CeaseSub.PEER_DECONFIGURED)), "peer de-configured"),
        ("remove", "10.0.3.254-node-02", str(int(CeaseSub.PEER_DECONFIGURED)), "peer de-configured"),
    ]
    # withdrawing: a Hard Reset with the N bit, so the router drops our routes at once
    assert speaker.graceful == {"10.0.3.254-node-01": False, "10.0.3.254-node-02": False}


@pytest.mark.asyncio
async def test_floating_ip_leaving_and_returning_stops_and_restarts_its_sessions(tmp_path: Path) -> None:
    daemon, speaker, addresses, _ = make(tmp_path)
    await daemon.start()
    speaker.calls.clear()
    del addresses.addresses["10.0.3.100"]
    await daemon.addresses_changed()
    assert sorted(c[:3] for c in speaker.calls) == [
        ("remove", "10.0.1.254-node-02", str(int(CeaseSub.ADMINISTRATIVE_RESET))),
        ("remove", "10.0.3.254-node-02", str(int(CeaseSub.ADMINISTRATIVE_RESET))),
    ]
    assert speaker.graceful == {"10.0.1.254-node-02": True, "10.0.3.254-node-02": True}
    away = [s for s in sessions_data(daemon.snapshot()) if "not run on this host" in (s["lastError"] or "")]
    assert sorted(s["name"] for s in away) == ["10.0.1.254-node-02", "10.0.3.254-node-02"]
    assert all(s["state"] == "NotEstablished" for s in away)
    speaker.calls.clear()
    addresses.addresses["10.0.3.100"] = SEGMENTS["10.0.3.100"]
    await daemon.addresses_changed()
    assert sorted(speaker.calls) == [("add", "10.0.1.254-node-02"), ("add", "10.0.3.254-node-02")]
    # a takeover: the same BGP identity restarting here, so the Restart State bit (RFC 4724 §4.1)
    assert sorted(speaker.restarting) == ["10.0.1.254-node-02", "10.0.3.254-node-02"]


@pytest.mark.asyncio
async def test_stop_is_a_graceful_restart_and_leaves_the_ledger_and_a_restart_record(tmp_path: Path) -> None:
    now = [100.0]
    daemon, speaker, _, _ = make(tmp_path, clock=lambda: now[0])
    await daemon.start()
    speaker.not_established.add("10.0.1.254-node-02")  # its peer keeps nothing of ours
    running = sorted(set(speaker.sessions) - speaker.not_established)
    now[0] = 200.0
    await daemon.stop()
    assert speaker.closed_with == RESTART_TEXT == "bgpd restarting"
    assert speaker.closed_graceful is True
    assert len(json.loads((tmp_path / "state" / LEDGER_FILE).read_text())["nodes"]) == 4
    record = load_restart_record(tmp_path / "state")
    assert record is not None and record.stopped_at == 200.0
    assert record.sessions == dict.fromkeys(running, 120)


@pytest.mark.asyncio
async def test_stop_that_withdraws_sends_hard_reset_and_forgets_any_restart(tmp_path: Path) -> None:
    save_restart_record(tmp_path / "state", RestartRecord(1.0, {"x": 120}))
    daemon, speaker, _, _ = make(tmp_path)
    await daemon.start()
    assert daemon.request_stop(withdraw=True).startswith("bgpd stopping: every session withdraws")
    assert daemon.stop_requested.is_set() and daemon.withdraw_on_stop
    await daemon.stop(withdraw=daemon.withdraw_on_stop)
    assert (speaker.closed_with, speaker.closed_graceful) == (STOP_TEXT, False)
    assert STOP_TEXT == "bgpd stopping"
    assert load_restart_record(tmp_path / "state") is None


@pytest.mark.asyncio
async def test_a_restart_starts_the_recorded_sessions_with_the_restart_state_bit(tmp_path: Path) -> None:
    daemon, speaker, _, _ = make(tmp_path, restarting=frozenset({"10.0.1.254-node-01", "gone-session"}))
    await daemon.start()
    assert speaker.restarting == ["10.0.1.254-node-01"]
    speaker.calls.clear()
    await daemon.reset_session("10.0.1.254-node-01", soft=False)  # a later start is no restart
    assert speaker.restarting == ["10.0.1.254-node-01"]


@pytest.mark.asyncio
async def test_hard_reset_restarts_one_session(tmp_path: Path) -> None:
    daemon, speaker, _, _ = make(tmp_path)
    await daemon.start()
    speaker.calls.clear()
    message = await daemon.reset_session("10.0.1.254-node-01", soft=False)
    assert speaker.calls == [
        ("remove", "10.0.1.254-node-01", str(int(CeaseSub.ADMINISTRATIVE_RESET)), "reset by bgpctl"),
        ("add", "10.0.1.254-node-01"),
    ]
    assert speaker.graceful == {"10.0.1.254-node-01": True}  # the peer keeps our routes through it
    assert "graceful restart: routes kept" in message
    message = await daemon.reset_session("10.0.1.254-node-01", soft=False, hard=True)
    assert speaker.graceful == {"10.0.1.254-node-01": False}  # Hard Reset: withdrawn at once
    assert "hard reset: routes withdrawn" in message


@pytest.mark.asyncio
async def test_soft_reset_refreshes_without_removing_the_session(tmp_path: Path) -> None:
    daemon, speaker, _, _ = make(tmp_path)
    await daemon.start()
    speaker.calls.clear()
    message = await daemon.reset_session("10.0.1.254-node-01", soft=True)
    assert speaker.calls == [("refresh", "10.0.1.254-node-01")]  # no remove, no add: no flap
    assert message == (
        "bgpsession 10.0.1.254-node-01 soft-reset: routes re-sent for ipv4-unicast; "
        "ROUTE-REFRESH sent for ipv4-unicast"
    )
    speaker.not_established.add("10.0.1.254-node-01")
    with pytest.raises(ControlError) as refused:
        await daemon.reset_session("10.0.1.254-node-01", soft=True)
    assert refused.value.code is ErrorCode.FAILED and "not Established" in refused.value.message
    with pytest.raises(ControlError) as missing:
        await daemon.reset_session("nope", soft=True)
    assert missing.value.code is ErrorCode.NOT_FOUND


@pytest.mark.asyncio
async def test_an_off_segment_node_changes_no_routes_but_the_explanations_follow(tmp_path: Path) -> None:
    daemon, speaker, _, path = make(tmp_path)
    await daemon.start()
    speaker.calls.clear()
    path.write_text(with_node(SINGLE, "10.0.9.9"), encoding="utf-8")  # on neither floating IP's segment
    assert "no change" in await daemon.reload("test")
    assert speaker.calls == []
    detail = describe_session_data(
        daemon.snapshot(), "10.0.1.254-node-01", daemon.session_status("10.0.1.254-node-01")
    )
    assert "10.0.9.9" in {s["reason"].split()[1] for s in detail["routes"]["skipped"]}


@pytest.mark.asyncio
async def test_a_settings_change_of_one_peers_timers_resets_only_that_peer(tmp_path: Path) -> None:
    daemon, speaker, settings = await started_with_settings(tmp_path)
    settings.write_text(
        'defaults:\n  holdTime: 90\npeers:\n  "10.0.3.254":\n    holdTime: 9\n', encoding="utf-8"
    )
    await daemon.reload("test")
    assert {call[1] for call in speaker.calls} == {"10.0.3.254-node-01", "10.0.3.254-node-02"}
    assert speaker.sessions["10.0.3.254-node-01"].hold_time == 9
    assert speaker.sessions["10.0.1.254-node-01"].hold_time == 90


@pytest.mark.asyncio
async def test_a_bad_settings_file_on_reload_keeps_everything(tmp_path: Path) -> None:
    daemon, speaker, settings = await started_with_settings(tmp_path)
    settings.write_text("defaults:\n  holdTime: 2\n", encoding="utf-8")
    with pytest.raises(ReloadRejectedError) as caught:
        await daemon.reload("test")
    assert caught.value.errors == (
        f"{settings}:2: error: defaults.holdTime: must be 0 (no keepalives) or between 3 and 65535 seconds",
    )
    assert speaker.calls == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("setting", "field", "value"),
    [
        ("connectRetryTime: 30", "connect_retry_time", 30.0),
        ("passive: true", "passive", True),
        ("port: 1179", "port", 1179),
        ("multihop: 3", "ttl", 3),
        ("freebind: true", "freebind", True),
    ],
)
async def test_a_connection_level_settings_change_reconfigures_without_a_flap(
    tmp_path: Path, setting: str, field: str, value: object
) -> None:
    daemon, speaker, settings = await started_with_settings(tmp_path)
    settings.write_text(
        f'defaults:\n  holdTime: 90\npeers:\n  "10.0.3.254":\n    {setting}\n', encoding="utf-8"
    )
    result = await daemon.reload("test")
    assert sorted(speaker.calls) == [
        ("reconfigure", "10.0.3.254-node-01"),
        ("reconfigure", "10.0.3.254-node-02"),
    ]
    assert getattr(speaker.sessions["10.0.3.254-node-01"], field) == value
    assert getattr(speaker.sessions["10.0.1.254-node-01"], field) != value
    assert "2 sessions reconfigured" in result
    speaker.calls.clear()
    await daemon.reload("again")  # the running sessions now have the new config: nothing to do
    assert speaker.calls == []


@pytest.mark.asyncio
async def test_a_failed_reconfiguration_keeps_the_old_config_and_is_retried(tmp_path: Path) -> None:
    daemon, speaker, settings = await started_with_settings(tmp_path)
    path = tmp_path / "cluster.yaml"
    speaker.unreconfigurable = {"10.0.1.254-node-01"}
    settings.write_text(
        'defaults:\n  holdTime: 90\npeers:\n  "10.0.1.254":\n    port: 1179\n', encoding="utf-8"
    )
    path.write_text(with_node(SINGLE, "10.0.1.31"), encoding="utf-8")  # and its routes change too
    await daemon.reload("test")
    assert speaker.sessions["10.0.1.254-node-01"].port == 179
    assert speaker.sessions["10.0.1.254-node-02"].port == 1179
    assert ("routes", "10.0.1.254-node-01") in speaker.calls  # the routes went out regardless
    speaker.unreconfigurable.clear()
    speaker.calls.clear()
    await daemon.reload("retry")
    assert speaker.calls == [("reconfigure", "10.0.1.254-node-01")]
    assert speaker.sessions["10.0.1.254-node-01"].port == 1179


@pytest.mark.asyncio
async def test_a_next_hop_policy_change_only_sends_routes_and_describe_follows(tmp_path: Path) -> None:
    daemon, speaker, settings = await started_with_settings(tmp_path)
    settings.write_text('peers:\n  "10.0.3.254":\n    offSegmentNextHop: self\n', encoding="utf-8")
    assert "2 sessions updated" in await daemon.reload("test")
    assert sorted(speaker.calls) == [("routes", "10.0.3.254-node-01"), ("routes", "10.0.3.254-node-02")]
    assert {str(r.path.next_hop) for r in speaker.routes["10.0.3.254-node-01"]} == {"10.0.1.100"}
    detail = describe_session_data(
        daemon.snapshot(), "10.0.3.254-node-01", daemon.session_status("10.0.3.254-node-01")
    )
    assert detail["routes"]["offSegmentNextHop"] == "self"
    speaker.calls.clear()
    assert "no change" in await daemon.reload("again")
    assert speaker.calls == []
