"""A prefix limit (RFC 4486 §4) as the session carries it out: Cease 6/1 with AFI, SAFI and the
limit, then a hold-down that refuses the peer and restarts by itself, or no restart at all."""

from __future__ import annotations

from bgpd.fsm import (
    CloseConnection,
    ManualStart,
    ManualStop,
    PeerNotification,
    PrefixLimitReached,
    Reason,
    SessionDown,
    State,
    TcpConnectionConfirmed,
    Timer,
)
from bgpd.wire.constants import IPV6_UNICAST, CeaseSub, ErrorCode

from ._helpers import notifications
from .test_pair import established_pair

HOLD_DOWN = 30.0


def test_limit_sends_cease_6_1_with_family_and_limit_and_goes_idle() -> None:
    pair = established_pair()
    actions = pair.feed("a", PrefixLimitReached(IPV6_UNICAST, 1000, HOLD_DOWN))
    (cease,) = notifications(actions)
    assert (cease.code, cease.subcode) == (ErrorCode.CEASE, CeaseSub.MAXIMUM_PREFIXES_REACHED)
    assert cease.data == bytes.fromhex("000201000003e8")  # AFI 2, SAFI 1, 1000 (RFC 4486 §4)
    assert SessionDown(Reason.PREFIX_LIMIT) in actions and CloseConnection() in actions
    assert pair.a.state is State.IDLE and pair.a.reason is Reason.PREFIX_LIMIT
    pair.run()
    (got,) = [a.message for a in pair.log["b"] if isinstance(a, PeerNotification)]
    assert got.max_prefixes_data == (2, 1, 1000)


def test_hold_down_refuses_the_peer_then_restarts_once_it_ends() -> None:
    pair = established_pair()
    pair.feed("a", PrefixLimitReached(IPV6_UNICAST, 1000, HOLD_DOWN))
    assert pair.a.timers.snapshot() == {Timer.PREFIX_LIMIT_RESTART: pair.now + HOLD_DOWN}
    assert not pair.a.awaiting_restart  # no IdleHoldTimer: the peer's connection is not taken
    refused = pair.a.handle(TcpConnectionConfirmed(), pair.now + 1)
    assert refused == [CloseConnection()] and pair.a.state is State.IDLE
    pair.advance(HOLD_DOWN - 1)
    assert pair.a.state is State.IDLE
    pair.advance(1)
    assert pair.a.state is State.CONNECT and pair.a.reason is Reason.AUTOMATIC_START


def test_without_hold_down_only_an_operator_restarts_the_session() -> None:
    pair = established_pair()
    pair.feed("a", PrefixLimitReached(IPV6_UNICAST, 1000, None))
    assert pair.a.next_deadline() is None
    assert pair.a.handle(TcpConnectionConfirmed(), pair.now) == [CloseConnection()]
    pair.feed("a", ManualStart())
    assert pair.a.state is State.CONNECT and pair.a.reason is Reason.MANUAL_START


def test_an_operator_stop_cancels_the_hold_down() -> None:
    pair = established_pair()
    pair.feed("a", PrefixLimitReached(IPV6_UNICAST, 1000, HOLD_DOWN))
    pair.feed("a", ManualStop())
    assert pair.a.next_deadline() is None


def test_a_limit_above_four_octets_is_sent_as_the_largest_bound() -> None:
    pair = established_pair()
    (cease,) = notifications(pair.feed("a", PrefixLimitReached(IPV6_UNICAST, 1 << 40, None)))
    assert cease.data[-4:] == b"\xff\xff\xff\xff"
