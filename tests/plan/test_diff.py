"""The running sessions vs a new plan → the fewest changes; unchanged sessions produce none."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

import pytest

from bgpd.plan import Plan, Session, SessionConfig, Settings
from bgpd.plan.diff import (
    Reconfigure,
    Reset,
    Start,
    Stop,
    StopReason,
    UpdateRoutes,
    changed_settings,
    diff,
    needs_reset,
    speaker_changes,
)
from bgpd.plan.secret import Secret
from bgpd.plan.session_config import Apply, apply_of
from bgpd.plan.settings import parse_settings
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST
from tests.plan._fixtures import SINGLE, plan, with_node, with_peer_asn, without_node

LEDGER = plan().ledger  # the daemon keeps its ledger: blocks stay put when nodes come and go


def new(
    text: str = SINGLE, held: tuple[str, ...] = ("10.0.1.100", "10.0.3.100"), settings: Settings | None = None
) -> Plan:
    return plan(text, held, LEDGER, settings)


def running(p: Plan | None = None) -> dict[str, Session]:
    return (p or new()).local_sessions()


def test_the_same_plan_twice_needs_nothing() -> None:
    assert diff(running(), new()) == []


def test_first_start_starts_every_held_session_with_its_segment_routes() -> None:
    changes = diff({}, new())
    assert [type(c) for c in changes] == [Start] * 4
    start = next(c for c in changes if isinstance(c, Start) and c.session.name == "10.0.1.254-node-01")
    assert {str(a.route.path.next_hop) for a in start.session.announced} == {"10.0.1.11", "10.0.1.21"}
    assert start.session.config.port == 179 and start.session.config.hold_time == 90


def test_a_new_node_only_updates_the_session_to_the_peer_on_its_segment() -> None:
    changes = diff(running(), new(with_node(SINGLE, "10.0.1.31")))
    assert [(type(c), c.session.name) for c in changes] == [(UpdateRoutes, "10.0.1.254-node-01")]
    assert all(c.announced == 1 and c.withdrawn == 0 for c in changes if isinstance(c, UpdateRoutes))


def test_a_removed_node_is_withdrawn_without_touching_other_segments() -> None:
    changes = diff(running(), new(without_node(SINGLE, "10.0.3.21")))
    assert [(type(c), c.session.name) for c in changes] == [(UpdateRoutes, "10.0.3.254-node-02")]
    assert all(c.withdrawn == 1 and c.announced == 0 for c in changes if isinstance(c, UpdateRoutes))


def test_a_node_off_every_segment_changes_no_routes_only_explanations() -> None:
    after = new(with_node(SINGLE, "10.0.9.9"))
    assert diff(running(), after) == []
    skipped = {s.node for s in after.by_name()["10.0.1.254-node-01"].skipped}
    assert "10.0.9.9" in skipped


def test_a_peer_asn_change_resets_only_that_peers_sessions() -> None:
    changes = diff(running(), new(with_peer_asn(SINGLE, "10.0.3.254", 65099)))
    assert all(isinstance(c, Reset) for c in changes)
    assert sorted(c.session.name for c in changes) == ["10.0.3.254-node-01", "10.0.3.254-node-02"]
    assert all(c.changed == ("peer_asn",) for c in changes if isinstance(c, Reset))


def test_a_per_peer_timer_change_resets_only_that_peer() -> None:
    changes = diff(running(), new(settings=parse_settings({"peers": {"10.0.1.254": {"holdTime": 30}}})))
    assert {c.session.peer_ip for c in changes if isinstance(c, Reset)} == {"10.0.1.254"}
    assert len(changes) == 2
    assert all(c.changed == ("hold_time",) for c in changes if isinstance(c, Reset))


def test_a_floating_ip_leaving_stops_its_sessions_as_moved_away() -> None:
    changes = diff(running(), new(held=("10.0.1.100",)))
    assert [(c.session.name, c.reason) for c in changes if isinstance(c, Stop)] == [
        ("10.0.1.254-node-02", StopReason.ADDRESS_LEFT),
        ("10.0.3.254-node-02", StopReason.ADDRESS_LEFT),
    ]
    assert len(changes) == 2


def test_a_session_dropped_by_the_configuration_is_stopped_as_deconfigured() -> None:
    start = SINGLE.index("---\napiVersion: networking.gke.io/v1\nkind: BGPPeer\nmetadata:\n  name: bgppeer2")
    changes = diff(running(), new(SINGLE[:start]))
    assert [(type(c), c.session.name, c.reason) for c in changes if isinstance(c, Stop)] == [
        (Stop, "10.0.3.254-node-01", StopReason.DECONFIGURED),
        (Stop, "10.0.3.254-node-02", StopReason.DECONFIGURED),
    ]
    assert len(changes) == 2


def test_stops_come_before_starts() -> None:
    changes = diff(running(new(held=("10.0.1.100",))), new(held=("10.0.3.100",)))
    assert [type(c) for c in changes] == [Stop, Stop, Start, Start]


# One changed value per SessionConfig field, each valid next to the defaults of ``new()``.
CHANGES: dict[str, Any] = {
    "name": "renamed",
    "local_ip": ipaddress.ip_address("10.0.1.101"),
    "peer_ip": ipaddress.ip_address("10.0.1.253"),
    "local_asn": 64999,
    "peer_asn": 64998,
    "router_id": ipaddress.IPv4Address("192.0.2.9"),
    "families": (IPV4_UNICAST, IPV6_UNICAST),
    "hold_time": 30,
    "keepalive_time": 7,
    "extended_next_hop": True,
    "port": 1179,
    "passive": True,
    "freebind": True,
    "ttl": 3,
    "connect_retry_time": 11.0,
    "delay_open_time": 2.0,
    "idle_hold_time": 7.0,
    "idle_hold_max": 240.0,
    "damp_peer_oscillations": False,
    "send_hold_time": 0.0,
    "off_segment_next_hop": "node",
    "max_prefixes": 100,
    "max_prefixes_warning": 90,
    "max_prefixes_restart": 0.0,
    "ttl_security": True,
    "password": Secret(b"new password"),
    "password_file": Secret(b"from a file", "passwordFile /etc/bgpd/tor.key"),
}
FIELDS = tuple(f.name for f in dataclasses.fields(SessionConfig))
NAME = "10.0.1.254-node-01"


def _changed(field: str) -> tuple[dict[str, Session], Plan]:
    before = running()
    old = before[NAME]
    assert getattr(old.config, field) != CHANGES[field]
    after = dataclasses.replace(old, config=dataclasses.replace(old.config, **{field: CHANGES[field]}))
    p = new()
    return before, dataclasses.replace(p, sessions=tuple(after if s.name == NAME else s for s in p.sessions))


def test_every_session_config_field_declares_how_it_applies() -> None:
    assert set(FIELDS) <= set(CHANGES), "give the new field a changed value in CHANGES"
    assert all(apply_of(f) in Apply for f in FIELDS)
    assert apply_of("some_future_field") is Apply.OPEN  # undeclared: the safe default


@pytest.mark.parametrize("field", [f for f in FIELDS if apply_of(f) is Apply.CONNECTION])
def test_a_connection_level_change_reconfigures_without_a_reset(field: str) -> None:
    before, after = _changed(field)
    assert diff(before, after) == [Reconfigure(after.by_name()[NAME], (field,))]
    assert not needs_reset((field,))


@pytest.mark.parametrize("field", [f for f in FIELDS if apply_of(f) is Apply.OPEN and f != "name"])
def test_an_open_level_change_resets_the_session(field: str) -> None:
    before, after = _changed(field)
    assert diff(before, after) == [Reset(after.by_name()[NAME], (field,))]


@pytest.mark.parametrize("field", [f for f in FIELDS if apply_of(f) is Apply.ROUTES])
def test_a_routes_level_change_alone_asks_nothing_of_the_speaker(field: str) -> None:
    before, after = _changed(field)
    assert diff(before, after) == []  # the plan's routes for it are the same here: nothing to send
    assert changed_settings(before[NAME].config, after.by_name()[NAME].config) == (field,)
    assert speaker_changes(before[NAME].config, after.by_name()[NAME].config) == ()


def test_needs_reset_follows_the_declarations() -> None:
    assert needs_reset(("some_future_setting",))
    assert needs_reset(("port", "hold_time"))
    assert not needs_reset(("port", "ttl"))


def test_per_peer_connection_settings_reconfigure_only_that_peer() -> None:
    tuned = parse_settings(
        {"peers": {"10.0.1.254": {"connectRetryTime": 30, "passive": True, "port": 1179, "multihop": 2}}}
    )
    changes = diff(running(), new(settings=tuned))
    assert all(isinstance(c, Reconfigure) for c in changes)
    assert {c.session.name for c in changes} == {"10.0.1.254-node-01", "10.0.1.254-node-02"}
    assert all(
        set(c.changed) == {"connect_retry_time", "passive", "port", "ttl"}
        for c in changes
        if isinstance(c, Reconfigure)
    )


def test_a_connection_level_change_and_a_timer_change_together_reset() -> None:
    tuned = parse_settings({"peers": {"10.0.1.254": {"connectRetryTime": 30, "holdTime": 30}}})
    assert [type(c) for c in diff(running(), new(settings=tuned))] == [Reset, Reset]


def test_a_reconfigured_session_whose_routes_changed_also_gets_the_routes() -> None:
    tuned = parse_settings({"peers": {"10.0.1.254": {"freebind": True}}})
    changes = diff(running(), new(with_node(SINGLE, "10.0.1.31"), settings=tuned))
    # The new node is on 10.0.1.0/24, carried by the session from 10.0.1.100 to 10.0.1.254; freebind
    # changed for both sessions of peer 10.0.1.254, one of which runs from 10.0.3.100.
    assert [(type(c), c.session.name) for c in changes] == [
        (Reconfigure, "10.0.1.254-node-01"),
        (UpdateRoutes, "10.0.1.254-node-01"),
        (Reconfigure, "10.0.1.254-node-02"),
    ]


def test_a_next_hop_policy_change_sends_only_routes() -> None:
    tuned = parse_settings({"peers": {"10.0.3.254": {"offSegmentNextHop": "self"}}})
    changes = diff(running(), new(settings=tuned))
    assert [(type(c), c.session.name) for c in changes] == [
        (UpdateRoutes, "10.0.3.254-node-01"),
        (UpdateRoutes, "10.0.3.254-node-02"),
    ]
    # from 10.0.1.100 the peer is off the segment: all four via the floating IP; from 10.0.3.100 the
    # two nodes of 10.0.1.0/24
    assert [(c.announced, c.withdrawn) for c in changes if isinstance(c, UpdateRoutes)] == [(4, 0), (2, 0)]


def test_session_pacing_settings_reach_the_session_config() -> None:
    tuned = parse_settings(
        {
            "defaults": {"idleHoldTime": 9},
            "peers": {"10.0.1.254": {"delayOpenTime": 4, "dampPeerOscillations": False}},
        }
    )
    sessions = running(new(settings=tuned))
    assert sessions
    for session in sessions.values():
        cfg = session.config
        assert cfg.idle_hold_time == 9
        on_peer = session.peer_ip == "10.0.1.254"
        assert cfg.delay_open_time == (4 if on_peer else 0)
        assert cfg.damp_peer_oscillations is not on_peer
