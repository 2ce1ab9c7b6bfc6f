"""The RFC 4271 §8.2.2 event/state matrix: every state × every event → next state and NOTIFICATION.

Each row is read from the RFC text of that state (with the choices documented in
``bgpd/fsm/session.py``); RFC 6608 gives the FSM Error subcodes.
"""

from __future__ import annotations

import pytest

from bgpd.fsm import (
    AutomaticStart,
    AutomaticStop,
    CloseConnection,
    CollisionDump,
    Event,
    HeaderError,
    KeepaliveReceived,
    ManualStart,
    ManualStop,
    NotificationReceived,
    OpenMessageError,
    OpenReceived,
    PrefixLimitReached,
    RouteRefreshReceived,
    State,
    StateChanged,
    TcpConnectionAcknowledged,
    TcpConnectionConfirmed,
    TcpConnectionFails,
    Timer,
    TimerExpired,
    UpdateMessageError,
    UpdateReceived,
)
from bgpd.fsm.session import _UNEXPECTED, TRANSITIONS, Rule
from bgpd.wire.constants import IPV4_UNICAST, ErrorAction
from bgpd.wire.errors import NotificationError, UpdateError
from bgpd.wire.notification import Notification
from bgpd.wire.route_refresh import RouteRefresh
from bgpd.wire.update import Update

from ._helpers import PEER_OPEN, notifications, session_in

EVENTS: dict[str, Event] = {
    "ManualStart": ManualStart(),
    "ManualStartPassive": ManualStart(passive=True),
    "AutomaticStart": AutomaticStart(),
    "ManualStop": ManualStop(text="maintenance"),
    "AutomaticStop": AutomaticStop(),
    "PrefixLimit": PrefixLimitReached(IPV4_UNICAST, 100, 30.0),
    "ConnectRetryExpires": TimerExpired(Timer.CONNECT_RETRY),
    "HoldExpires": TimerExpired(Timer.HOLD),
    "KeepaliveExpires": TimerExpired(Timer.KEEPALIVE),
    "DelayOpenExpires": TimerExpired(Timer.DELAY_OPEN),
    "IdleHoldExpires": TimerExpired(Timer.IDLE_HOLD),
    "PrefixLimitRestartExpires": TimerExpired(Timer.PREFIX_LIMIT_RESTART),
    "TcpAcked": TcpConnectionAcknowledged(),
    "TcpConfirmed": TcpConnectionConfirmed(),
    "TcpFails": TcpConnectionFails(),
    "Open": OpenReceived(PEER_OPEN),
    "HeaderErr": HeaderError(NotificationError(1, 1)),
    "OpenMsgErr": OpenMessageError(NotificationError(2, 4, b"\x09\x00")),
    "CollisionDump": CollisionDump(),
    "NotifVerErr": NotificationReceived(Notification(2, 1, b"\x00\x04")),
    "Notif": NotificationReceived(Notification(6, 2)),
    "Keepalive": KeepaliveReceived(),
    "Update": UpdateReceived(Update()),
    "UpdateErr": UpdateMessageError(UpdateError(3, 1, action=ErrorAction.SESSION_RESET)),
    "RouteRefresh": RouteRefreshReceived(RouteRefresh(1, 1)),
}

IDLE, C, A, S, OC, E = (
    State.IDLE,
    State.CONNECT,
    State.ACTIVE,
    State.OPEN_SENT,
    State.OPEN_CONFIRM,
    State.ESTABLISHED,
)
Expect = tuple[State, tuple[int, int] | None]

# Connect and Active: "any other event" → Idle without NOTIFICATION (no OPEN was sent).
_CONNECTING: dict[str, Expect] = {
    "ManualStop": (IDLE, None),
    "AutomaticStop": (IDLE, None),
    "PrefixLimit": (IDLE, None),  # routes arrive only when Established: unexpected before
    "HoldExpires": (IDLE, None),
    "KeepaliveExpires": (IDLE, None),
    "DelayOpenExpires": (S, None),
    "IdleHoldExpires": (IDLE, None),
    "PrefixLimitRestartExpires": (IDLE, None),
    "TcpAcked": (S, None),
    "TcpConfirmed": (S, None),
    "TcpFails": (IDLE, None),
    "Open": (IDLE, None),  # event 19 without the DelayOpenTimer
    "HeaderErr": (IDLE, (1, 1)),  # SendNOTIFICATIONwithoutOPEN
    "OpenMsgErr": (IDLE, (2, 4)),
    "CollisionDump": (IDLE, None),
    "NotifVerErr": (IDLE, None),
    "Notif": (IDLE, None),
    "Keepalive": (IDLE, None),
    "Update": (IDLE, None),
    "UpdateErr": (IDLE, None),
    "RouteRefresh": (IDLE, None),
}


# After OPEN: stops send Cease, errors their own code, the rest FSM Error (RFC 6608 subcode).
def _after_open(state: State, fsm_sub: int) -> dict[str, Expect]:
    return {
        "ManualStop": (IDLE, (6, 2)),
        "AutomaticStop": (IDLE, (6, 0)),
        "PrefixLimit": (IDLE, (6, 1)) if state is E else (IDLE, (5, 0)),
        "ConnectRetryExpires": (IDLE, (5, 0)),
        "HoldExpires": (IDLE, (4, 0)),
        "KeepaliveExpires": (state, None) if state is not S else (IDLE, (5, 0)),
        "DelayOpenExpires": (IDLE, (5, 0)),
        "IdleHoldExpires": (IDLE, (5, 0)),
        "PrefixLimitRestartExpires": (IDLE, (5, 0)),
        "TcpAcked": (state, None),
        "TcpConfirmed": (state, None),
        "TcpFails": (A if state is S else IDLE, None),
        "HeaderErr": (IDLE, (1, 1)),
        "OpenMsgErr": (IDLE, (2, 4)) if state is not E else (IDLE, (5, fsm_sub)),
        "CollisionDump": (IDLE, (6, 7)),
        "NotifVerErr": (IDLE, None),
        "Notif": (IDLE, None),
        "Keepalive": (IDLE, (5, fsm_sub)),
        "Update": (IDLE, (5, fsm_sub)),
        "UpdateErr": (IDLE, (5, fsm_sub)),
        "RouteRefresh": (IDLE, (5, fsm_sub)),
    }


_STARTS = ("ManualStart", "ManualStartPassive", "AutomaticStart")
MATRIX: dict[State, dict[str, Expect]] = {
    IDLE: {name: (IDLE, None) for name in EVENTS}
    | {"ManualStart": (C, None), "ManualStartPassive": (A, None), "AutomaticStart": (C, None)}
    | {"IdleHoldExpires": (C, None), "PrefixLimitRestartExpires": (C, None)},
    C: {name: (C, None) for name in _STARTS} | _CONNECTING | {"ConnectRetryExpires": (C, None)},
    A: {name: (A, None) for name in _STARTS} | _CONNECTING | {"ConnectRetryExpires": (A, None)},
    S: {name: (S, None) for name in _STARTS} | _after_open(S, 1) | {"Open": (OC, None)},
    OC: {name: (OC, None) for name in _STARTS}
    | _after_open(OC, 2)
    | {"Open": (IDLE, (5, 2)), "Keepalive": (E, None)},
    E: {name: (E, None) for name in _STARTS}
    | _after_open(E, 3)
    | {
        "Open": (IDLE, (5, 3)),
        "Keepalive": (E, None),
        "Update": (E, None),
        "UpdateErr": (IDLE, (3, 1)),
        "RouteRefresh": (E, None),
    },
}
CASES = [(state, name) for state in State for name in EVENTS]


def test_matrix_is_complete() -> None:
    for state in State:
        assert set(MATRIX[state]) == set(EVENTS), state


@pytest.mark.parametrize(("state", "name"), CASES, ids=[f"{s.value}-{n}" for s, n in CASES])
def test_state_event(state: State, name: str) -> None:
    session = session_in(state)
    actions = session.handle(EVENTS[name], 1.0)
    expected_state, expected_notification = MATRIX[state][name]
    assert session.state is expected_state
    sent = notifications(actions)
    if expected_notification is None:
        assert sent == []
    else:
        assert [(n.code, n.subcode) for n in sent] == [expected_notification]
        if expected_notification[0] == 5 and expected_notification[1] != 0:
            message_type = {"Open": 1, "OpenMsgErr": 1, "Update": 2, "UpdateErr": 2, "Keepalive": 4}
            assert sent[0].data == bytes((message_type.get(name, 5),))  # RFC 6608 §3: the type
    if state is not State.IDLE and expected_state is State.IDLE:
        assert CloseConnection() in actions
        assert StateChanged(state, State.IDLE, session.reason) in actions
    if expected_state is state:
        assert not any(isinstance(a, StateChanged) for a in actions)


def test_table_keys_are_states_and_event_types() -> None:
    event_types = {type(e) for e in EVENTS.values()}
    for state, event_type in TRANSITIONS:
        assert isinstance(state, State)
        assert event_type in event_types


@pytest.mark.parametrize(("state", "name"), CASES, ids=[f"{s.value}-{n}" for s, n in CASES])
def test_the_table_names_where_each_event_leads(state: State, name: str) -> None:
    """h11's habit: the table itself says which states an event may lead to; the matrix above,
    read from the RFC, must agree with it."""
    rule = TRANSITIONS.get((state, type(EVENTS[name])), _UNEXPECTED)
    assert MATRIX[state][name][0] in rule.targets


def test_a_handler_landing_outside_its_rule_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    session = session_in(State.CONNECT)
    honest = TRANSITIONS[State.CONNECT, TcpConnectionAcknowledged]
    table = dict(TRANSITIONS)
    table[State.CONNECT, TcpConnectionAcknowledged] = Rule(honest.handler, frozenset({State.CONNECT}))
    monkeypatch.setattr("bgpd.fsm.session.TRANSITIONS", table)
    with pytest.raises(AssertionError, match="OpenSent"):
        session.handle(TcpConnectionAcknowledged(), 1.0)
