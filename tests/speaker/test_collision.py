"""RFC 4271 §6.8 on the speaker's side, without sockets: what an arriving connection becomes and
which of two connections survives."""

from __future__ import annotations

from typing import cast

import pytest

from bgpd.fsm import ManualStart, Origin, Session, State, TimerExpired
from bgpd.fsm.events import OpenReceived, TcpConnectionConfirmed
from bgpd.fsm.timers import Timer
from bgpd.speaker.collision import Arrival, Link, Links
from bgpd.speaker.connection import Connection
from tests.fsm._helpers import CFG_A, ID_A, ID_B, PEER_OPEN, session_in

CONN = cast(Connection, object())  # stands for a live connection: only its identity matters


def links(state: State, *, connected: bool) -> Links:
    return Links(Link(session_in(state), CONN if connected else None))


@pytest.mark.parametrize(
    ("state", "connected", "admin_down", "expected"),
    [
        (State.IDLE, False, True, Arrival.REFUSE),  # stopped by the operator
        (State.IDLE, False, False, Arrival.REFUSE),  # Idle without a pending restart
        (State.CONNECT, False, False, Arrival.TAKE),
        (State.ACTIVE, False, False, Arrival.TAKE),
        (State.OPEN_SENT, True, False, Arrival.COLLIDE),
        (State.OPEN_CONFIRM, True, False, Arrival.COLLIDE),
        (State.ESTABLISHED, True, False, Arrival.REFUSE_COLLISION),
        (State.ACTIVE, False, True, Arrival.REFUSE),
    ],
)
def test_what_an_arriving_connection_becomes(
    state: State, connected: bool, admin_down: bool, expected: Arrival
) -> None:
    assert links(state, connected=connected).arrival(admin_down) is expected


def test_idle_awaiting_its_restart_takes_the_connection_and_a_third_one_is_refused() -> None:
    session = session_in(State.ESTABLISHED)
    session.handle(TimerExpired(Timer.HOLD), 1.0)  # a flap: Idle with the IdleHoldTimer running
    assert session.awaiting_restart
    assert Links(Link(session)).arrival(admin_down=False) is Arrival.TAKE
    pair = links(State.OPEN_SENT, connected=True)
    pair.secondary = Link(Session(CFG_A), CONN, Origin.REMOTE)
    assert pair.arrival(admin_down=False) is Arrival.REFUSE_COLLISION


def test_undecided_until_an_open_names_the_peer_then_the_higher_identifier_wins() -> None:
    assert ID_B > ID_A  # the peer (PEER_OPEN) has the higher BGP Identifier
    pair = links(State.OPEN_SENT, connected=True)  # ours, opened by us
    second = Session(CFG_A)  # as the speaker starts a colliding connection's FSM
    second.handle(ManualStart(), 0.0)
    second.handle(TcpConnectionConfirmed(), 0.0)
    assert second.state is State.OPEN_SENT
    pair.secondary = Link(second, CONN, Origin.REMOTE)
    assert pair.resolve(ID_A, 65001) is None  # nobody has the peer's OPEN yet
    first = pair.primary
    first.fsm.handle(OpenReceived(PEER_OPEN), 0.0)  # the peer's identifier is higher than ours
    resolution = pair.resolve(ID_A, 65001)
    assert resolution is not None and resolution.promoted and resolution.loser is first
    assert pair.primary is not first and pair.secondary is None


def test_a_colliding_connection_that_went_away_is_forgotten() -> None:
    pair = links(State.OPEN_SENT, connected=True)
    pair.secondary = Link(Session(CFG_A), None, Origin.REMOTE)
    assert pair.resolve(ID_A, 65001) is None and pair.secondary is None
