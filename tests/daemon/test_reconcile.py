"""Old vs new desired sessions → the fewest actions; unchanged sessions produce none."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

import pytest

from bgpd.daemon.reconcile import (
    CONNECTION_FIELDS,
    OPEN_FIELDS,
    DesiredSession,
    ReconfigureSession,
    ResetSession,
    StartSession,
    StopSession,
    UpdateRoutes,
    desired_sessions,
    needs_reset,
    reconcile,
    router_id,
)
from bgpd.plan.settings import Settings, parse_settings
from bgpd.speaker import SessionConfig
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, CeaseSub
from tests.daemon._fixtures import (
    SEGMENTS,
    SINGLE,
    plan,
    with_node,
    with_peer_asn,
    without_node,
)

SETTINGS = Settings()


LEDGER = plan().ledger  # the daemon keeps its ledger: blocks stay put when nodes come and go


def desired(
    text: str = SINGLE, held: tuple[str, ...] = ("10.0.1.100", "10.0.3.100"), settings: Settings = SETTINGS
) -> dict[str, DesiredSession]:
    return desired_sessions(plan(text, held, LEDGER), settings, SEGMENTS)


def test_the_same_plan_twice_needs_nothing() -> None:
    assert reconcile(desired(), desired()) == []


def test_first_start_starts_every_held_session_with_its_segment_routes() -> None:
    actions = reconcile({}, desired())
    assert [type(a) for a in actions] == [StartSession] * 4
    start = next(
        a for a in actions if isinstance(a, StartSession) and a.session.plan.name == "10.0.1.254-node-01"
    )
    assert {str(r.path.next_hop) for r in start.session.routes} == {"10.0.1.11", "10.0.1.21"}
    assert start.session.config.port == 179 and start.session.config.hold_time == 90


def test_a_new_node_only_updates_the_sessions_on_its_segment() -> None:
    actions = reconcile(desired(), desired(with_node(SINGLE, "10.0.1.31")))
    assert all(isinstance(a, UpdateRoutes) for a in actions)
    assert sorted(a.session.plan.local_ip for a in actions if isinstance(a, UpdateRoutes)) == [
        "10.0.1.100",
        "10.0.1.100",
    ]
    assert all(a.announced == 1 and a.withdrawn == 0 for a in actions if isinstance(a, UpdateRoutes))


def test_a_removed_node_is_withdrawn_without_touching_other_segments() -> None:
    actions = reconcile(desired(), desired(without_node(SINGLE, "10.0.3.21")))
    updates = [a for a in actions if isinstance(a, UpdateRoutes)]
    assert len(updates) == len(actions) == 2
    assert {a.session.plan.local_ip for a in updates} == {"10.0.3.100"}
    assert all(a.withdrawn == 1 and a.announced == 0 for a in updates)


def test_a_peer_asn_change_resets_only_that_peers_sessions() -> None:
    actions = reconcile(desired(), desired(with_peer_asn(SINGLE, "10.0.3.254", 65099)))
    assert all(isinstance(a, ResetSession) for a in actions)
    assert sorted(a.session.plan.name for a in actions if isinstance(a, ResetSession)) == [
        "10.0.3.254-node-01",
        "10.0.3.254-node-02",
    ]
    assert all(a.changed == ("peer_asn",) for a in actions if isinstance(a, ResetSession))


def test_a_per_peer_timer_change_resets_only_that_peer() -> None:
    tuned = parse_settings({"peers": {"10.0.1.254": {"holdTime": 30}}})
    actions = reconcile(desired(), desired(settings=tuned))
    assert {a.session.plan.peer_ip for a in actions if isinstance(a, ResetSession)} == {"10.0.1.254"}
    assert len(actions) == 2
    assert all(
        set(a.changed) == {"hold_time", "keepalive_time"} for a in actions if isinstance(a, ResetSession)
    )


def test_a_floating_ip_leaving_stops_its_sessions_gracefully() -> None:
    """The session goes on from the floating IP's new holder: the peer is to keep the routes."""
    actions = reconcile(desired(), desired(held=("10.0.1.100",)))
    assert [(a.name, a.subcode, a.graceful) for a in actions if isinstance(a, StopSession)] == [
        ("10.0.1.254-node-02", CeaseSub.ADMINISTRATIVE_RESET, True),
        ("10.0.3.254-node-02", CeaseSub.ADMINISTRATIVE_RESET, True),
    ]
    assert len(actions) == 2
    assert "10.0.3.100 left this host" in actions[0].text  # type: ignore[union-attr]


def test_a_session_dropped_by_the_configuration_is_stopped_as_deconfigured() -> None:
    old = desired()
    new = {k: v for k, v in old.items() if not k.startswith("10.0.3.254")}
    actions = reconcile(old, new, dropped_by_config=frozenset({"10.0.3.254-node-01", "10.0.3.254-node-02"}))
    assert [(type(a), a.subcode, a.graceful) for a in actions if isinstance(a, StopSession)] == [
        (StopSession, CeaseSub.PEER_DECONFIGURED, False)  # withdraws: Hard Reset with the N bit
    ] * 2
    assert len(actions) == 2


def test_stops_come_before_starts() -> None:
    actions = reconcile(desired(held=("10.0.1.100",)), desired(held=("10.0.3.100",)))
    kinds = [type(a) for a in actions]
    assert kinds == [StopSession, StopSession, StartSession, StartSession]


def test_router_id_is_the_ipv4_floating_ip() -> None:
    p = plan()
    assert router_id(p, p.sessions[0]) == ipaddress.IPv4Address(p.sessions[0].local_ip)


# One changed value per SessionConfig field, each valid next to the defaults of ``desired()``.
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
    "graceful_restart": False,
    "restart_time": 60,
    "stale_time": 30.0,
}
FIELDS = tuple(SessionConfig.__dataclass_fields__)


def test_every_session_config_field_is_classified_once() -> None:
    assert not OPEN_FIELDS & CONNECTION_FIELDS
    assert set(FIELDS) <= OPEN_FIELDS | CONNECTION_FIELDS, "classify the new field in reconcile.py"
    assert set(FIELDS) <= set(CHANGES), "give the new field a changed value in CHANGES"


@pytest.mark.parametrize("field", [f for f in FIELDS if f in CONNECTION_FIELDS])
def test_a_connection_level_change_reconfigures_without_a_reset(field: str) -> None:
    old = desired()
    name = "10.0.1.254-node-01"
    assert getattr(old[name].config, field) != CHANGES[field]
    changed = dataclasses.replace(old[name].config, **{field: CHANGES[field]})
    new = {**old, name: dataclasses.replace(old[name], config=changed)}
    assert reconcile(old, new) == [ReconfigureSession(new[name], (field,))]
    assert not needs_reset((field,))


@pytest.mark.parametrize("field", [f for f in FIELDS if f in OPEN_FIELDS])
def test_an_open_level_change_resets_the_session(field: str) -> None:
    old = desired()
    name = "10.0.1.254-node-01"
    assert getattr(old[name].config, field) != CHANGES[field]
    changed = dataclasses.replace(old[name].config, **{field: CHANGES[field]})
    new = {**old, name: dataclasses.replace(old[name], config=changed)}
    assert reconcile(old, new) == [ResetSession(new[name], (field,))]


def test_an_unclassified_field_counts_as_open_level() -> None:
    assert needs_reset(("some_future_setting",))
    assert needs_reset(("port", "hold_time"))
    assert not needs_reset(("port", "ttl"))


def test_per_peer_connection_settings_reconfigure_only_that_peer() -> None:
    tuned = parse_settings(
        {"peers": {"10.0.1.254": {"connectRetryTime": 30, "passive": True, "port": 1179, "multihop": 2}}}
    )
    actions = reconcile(desired(), desired(settings=tuned))
    assert all(isinstance(a, ReconfigureSession) for a in actions)
    assert {a.session.plan.name for a in actions if isinstance(a, ReconfigureSession)} == {
        "10.0.1.254-node-01",
        "10.0.1.254-node-02",
    }
    assert all(
        set(a.changed) == {"connect_retry_time", "passive", "port", "ttl"}
        for a in actions
        if isinstance(a, ReconfigureSession)
    )


def test_a_connection_level_change_and_a_timer_change_together_reset() -> None:
    tuned = parse_settings({"peers": {"10.0.1.254": {"connectRetryTime": 30, "holdTime": 30}}})
    actions = reconcile(desired(), desired(settings=tuned))
    assert [type(a) for a in actions] == [ResetSession, ResetSession]


def test_a_reconfigured_session_whose_routes_changed_also_gets_the_routes() -> None:
    tuned = parse_settings({"peers": {"10.0.1.254": {"freebind": True}}})
    actions = reconcile(desired(), desired(with_node(SINGLE, "10.0.1.31"), settings=tuned))
    # The new node is on 10.0.1.0/24: the sessions from 10.0.1.100 carry it; freebind changed for
    # both sessions of peer 10.0.1.254, one of which runs from 10.0.3.100.
    assert [(type(a), a.session.plan.name) for a in actions] == [  # type: ignore[union-attr]
        (ReconfigureSession, "10.0.1.254-node-01"),
        (UpdateRoutes, "10.0.1.254-node-01"),
        (ReconfigureSession, "10.0.1.254-node-02"),
        (UpdateRoutes, "10.0.3.254-node-01"),
    ]


def test_session_pacing_settings_reach_the_session_config() -> None:
    tuned = parse_settings(
        {
            "defaults": {"idleHoldTime": 9},
            "peers": {"10.0.1.254": {"delayOpenTime": 4, "dampPeerOscillations": False}},
        }
    )
    sessions = desired(settings=tuned)
    assert sessions
    for session in sessions.values():
        cfg = session.config
        assert cfg.idle_hold_time == 9.0
        on_peer = session.plan.peer_ip == "10.0.1.254"
        assert cfg.delay_open_time == (4.0 if on_peer else 0.0)
        assert cfg.damp_peer_oscillations is not on_peer
