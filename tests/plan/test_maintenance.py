"""Disabled and drained sessions: the state's rules, its JSON, and what the plan makes of it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgpd.plan.diff import Disable, Enable, Reset, Start, UpdateRoutes, diff
from bgpd.plan.maintenance import Maintenance, MaintenanceError
from bgpd.wire.constants import GRACEFUL_SHUTDOWN
from tests.plan._fixtures import SINGLE, plan, with_peer_asn

ONE = "10.0.1.254-node-01"
OTHER = "10.0.3.254-node-02"


def test_disable_and_enable_one_session() -> None:
    state = Maintenance().disable(ONE, "ToR upgrade")
    assert state.shutdown_message(ONE) == "ToR upgrade"
    assert state.shutdown_message(OTHER) is None
    assert state.enable(ONE) == Maintenance()


def test_drain_one_or_every_session_and_undrain() -> None:
    one = Maintenance().drain(ONE)
    assert one.is_drained(ONE) and not one.is_drained(OTHER)
    every = one.drain(None)
    assert every.is_drained(OTHER) and every.is_drained("a-session-added-later")
    assert every.undrain(None) == Maintenance()
    assert one.undrain(ONE) == Maintenance()


def test_one_session_cannot_leave_a_drain_of_every_session() -> None:
    with pytest.raises(MaintenanceError, match="undrain them all"):
        Maintenance().drain(None).undrain(ONE)


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@given(
    st.dictionaries(names, st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)),
    st.booleans(),
    st.frozensets(names),
)
def test_json_round_trip(disabled: dict[str, str], drained_all: bool, drained: frozenset[str]) -> None:
    state = Maintenance(disabled, drained_all, drained)
    assert Maintenance.from_json(state.to_json()) == state


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"kind": "bgpd-maintenance", "version": 2}', "kind/version"),
        ('{"kind": "bgpd-maintenance", "version": 1, "disabld": {}}', "unknown key"),
        ('{"kind": "bgpd-maintenance", "version": 1, "disabled": ["x"]}', '"disabled"'),
        ('{"kind": "bgpd-maintenance", "version": 1, "drainedAll": "yes"}', '"drainedAll"'),
        ('{"kind": "bgpd-maintenance", "version": 1, "drained": [1]}', '"drained"'),
    ],
)
def test_a_file_half_understood_is_refused(text: str, problem: str) -> None:
    with pytest.raises(MaintenanceError, match=problem):
        Maintenance.from_json(text)


def test_the_file_is_stable_text() -> None:
    state = Maintenance({"b": "x", "a": "y"}, False, frozenset({"d", "c"}))
    data = json.loads(state.to_json())
    assert list(data["disabled"]) == ["a", "b"] and data["drained"] == ["c", "d"]


def test_a_drained_sessions_routes_carry_graceful_shutdown_and_only_its() -> None:
    drained = plan(maintenance=Maintenance().drain(ONE)).by_name()
    assert drained[ONE].drained and not drained[OTHER].drained
    assert drained[ONE].announced and all(
        a.route.path.communities == (GRACEFUL_SHUTDOWN,) and a.communities == ("65535:0",)
        for a in drained[ONE].announced
    )
    assert all(a.route.path.communities == () for a in drained[OTHER].announced)
    plain = plan().by_name()[ONE]
    assert [(a.prefix, a.next_hop) for a in drained[ONE].announced] == [
        (a.prefix, a.next_hop) for a in plain.announced
    ]


def test_draining_every_session_tags_every_route() -> None:
    sessions = plan(maintenance=Maintenance().drain(None)).local_sessions().values()
    assert all(s.drained for s in sessions)
    assert all(a.communities == ("65535:0",) for s in sessions for a in s.announced)


def test_a_disabled_session_is_still_planned_with_its_message() -> None:
    sessions = plan(maintenance=Maintenance().disable(ONE, "maintenance")).by_name()
    assert sessions[ONE].disabled == "maintenance" and sessions[ONE].local
    assert sessions[OTHER].disabled is None


def test_drain_and_undrain_send_only_the_drained_sessions_routes() -> None:
    before = plan()
    after = plan(ledger=before.ledger, maintenance=Maintenance().drain(ONE))
    changes = diff(before.local_sessions(), after)
    assert [(type(c), c.session.name) for c in changes] == [(UpdateRoutes, ONE)]
    assert diff(after.local_sessions(), before) == [
        UpdateRoutes(before.by_name()[ONE], tuple(a.route for a in before.by_name()[ONE].announced), ())
    ]


def test_disable_takes_the_session_down_and_enable_brings_it_back() -> None:
    up = plan()
    down = plan(ledger=up.ledger, maintenance=Maintenance().disable(ONE, "x"))
    assert [(type(c), c.session.name) for c in diff(up.local_sessions(), down)] == [(Disable, ONE)]
    assert diff(down.local_sessions(), down) == []  # a reload with nothing new keeps it down
    assert [(type(c), c.session.name) for c in diff(down.local_sessions(), up)] == [(Enable, ONE)]


def test_a_disabled_session_starts_held_down_and_a_reset_keeps_it_down() -> None:
    maintenance = Maintenance().disable(ONE, "x")
    down = plan(maintenance=maintenance)
    start = next(c for c in diff({}, down) if c.session.name == ONE)
    assert isinstance(start, Start) and start.session.disabled == "x"  # the daemon adds it held down
    changed = plan(with_peer_asn(SINGLE, "10.0.1.254", 65010), ledger=down.ledger, maintenance=maintenance)
    reset = [c for c in diff(down.local_sessions(), changed) if c.session.name == ONE]
    assert [type(c) for c in reset] == [Reset] and reset[0].session.disabled == "x"


def test_enabling_with_a_new_configuration_resets_then_enables() -> None:
    down = plan(maintenance=Maintenance().disable(ONE, "x"))
    up = plan(with_peer_asn(SINGLE, "10.0.1.254", 65010), ledger=down.ledger)
    changes = [c for c in diff(down.local_sessions(), up) if c.session.name == ONE]
    assert [type(c) for c in changes] == [Reset, Enable]
