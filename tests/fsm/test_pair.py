"""Two sessions wired back to back through bytes, with a fake clock: no sockets, no sleeps."""

from __future__ import annotations

import dataclasses

import pytest

from bgpd.fsm import (
    AutomaticStop,
    BytesReceived,
    FsmUsageError,
    ManualStart,
    ManualStop,
    PeerNotification,
    Reason,
    RouteRefreshRequested,
    RoutesReceived,
    Session,
    SessionDown,
    SessionEstablished,
    State,
    StateChanged,
    TcpConnectionAcknowledged,
    TcpConnectionFails,
    Timer,
)
from bgpd.fsm.negotiation import build_open
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, CeaseSub, MessageType, RouteRefreshSubtype
from bgpd.wire.keepalive import Keepalive
from bgpd.wire.notification import Notification
from bgpd.wire.update import Update

from ._helpers import CFG_A, CFG_B, ID_A, ID_B, Pair, changes, notifications, received_count, sent, sent_count


def established_pair(chunk: int | None = None, delay_a: float = 0.0, delay_b: float = 0.0) -> Pair:
    a = Session(dataclasses.replace(CFG_A, delay_open_time=delay_a))
    b = Session(dataclasses.replace(CFG_B, delay_open_time=delay_b))
    pair = Pair(a, b, chunk=chunk)
    pair.feed("a", ManualStart())
    pair.feed("b", ManualStart(passive=True))
    assert (a.state, b.state) == (State.CONNECT, State.ACTIVE)
    pair.connect()
    pair.run()
    for _ in range(4):  # DelayOpen: the timers decide; bounded
        if a.state is State.ESTABLISHED and b.state is State.ESTABLISHED:
            break
        pair.advance_to_next_deadline()
    assert (a.state, b.state) == (State.ESTABLISHED, State.ESTABLISHED)
    return pair


@pytest.mark.parametrize(
    ("chunk", "delay_a", "delay_b"),
    [(None, 0.0, 0.0), (1, 0.0, 0.0), (None, 0.0, 5.0), (None, 5.0, 5.0), (1, 3.0, 0.0)],
    ids=["plain", "one-byte-at-a-time", "passive-delay-open", "both-delay-open", "active-delay-bytewise"],
)
def test_active_and_passive_reach_established(chunk: int | None, delay_a: float, delay_b: float) -> None:
    pair = established_pair(chunk, delay_a, delay_b)
    for side, peer_id in (("a", ID_B), ("b", ID_A)):
        session = pair.session(side)
        ups = [x for x in pair.log[side] if isinstance(x, SessionEstablished)]
        assert len(ups) == 1
        neg = ups[0].negotiated
        assert neg.families == {IPV4_UNICAST, IPV6_UNICAST}
        assert neg.hold_time == 90 and neg.keepalive_time == 30
        assert neg.four_octet_as and neg.route_refresh and neg.enhanced_route_refresh
        assert session.peer_id == peer_id
        assert sent_count(pair.log[side], MessageType.OPEN) == 1
        assert received_count(pair.log[side], MessageType.OPEN) == 1
        assert received_count(pair.log[side], MessageType.KEEPALIVE) == 1
        assert session.established_at == pair.now
        assert changes(pair.log[side])[-1] == StateChanged(
            State.OPEN_CONFIRM, State.ESTABLISHED, Reason.OPEN_CONFIRMED
        )


def test_delay_open_waits_for_the_peer_open() -> None:
    """The passive side with DelayOpen sends nothing until the active side's OPEN arrives, then
    answers OPEN + KEEPALIVE at once (§8.2.2 Active, event 20)."""
    a = Session(CFG_A)
    b = Session(dataclasses.replace(CFG_B, delay_open_time=30.0))
    pair = Pair(a, b)
    pair.feed("a", ManualStart())
    pair.feed("b", ManualStart(passive=True))
    b_actions = b.handle_timers(0.0)
    assert b_actions == []
    pair.connect()
    assert b.timers.running(Timer.DELAY_OPEN)
    assert sent(pair.log["b"]) == []
    pair.run()
    assert [type(m).__name__ for m in sent(pair.log["b"])][:2] == ["Open", "Keepalive"]
    assert not b.timers.running(Timer.DELAY_OPEN)
    assert (a.state, b.state) == (State.ESTABLISHED, State.ESTABLISHED)


def test_keepalives_keep_the_session_up_and_follow_hold_over_three() -> None:
    pair = established_pair()
    start = pair.now
    assert pair.a.timers.deadline(Timer.KEEPALIVE) == start + 30
    assert pair.a.timers.deadline(Timer.HOLD) == start + 90
    for _ in range(40):  # ten minutes of keepalives, bounded
        pair.advance_to_next_deadline()
        if pair.now - start >= 600:
            break
    assert (pair.a.state, pair.b.state) == (State.ESTABLISHED, State.ESTABLISHED)
    keepalives = sent_count(pair.log["a"], MessageType.KEEPALIVE)
    assert keepalives == 1 + 20  # the one answering OPEN, then one per 30 s
    assert received_count(pair.log["b"], MessageType.KEEPALIVE) == keepalives


def test_sending_an_update_restarts_the_keepalive_timer() -> None:
    pair = established_pair()
    pair.now += 10
    actions = pair.a.send_update(Update.end_of_rib(IPV4_UNICAST), pair.now)
    assert sent(actions) == [Update()]
    assert pair.a.timers.deadline(Timer.KEEPALIVE) == pair.now + 30  # RFC 4271 §8.2.2


def test_updates_written_by_the_driver_restart_the_keepalive_timer() -> None:
    pair = established_pair()
    pair.now += 10
    pair.a.sent_updates(3, pair.now)  # a batch the Adj-RIB-Out encoded itself
    assert pair.a.timers.deadline(Timer.KEEPALIVE) == pair.now + 30  # RFC 4271 §8.2.2


def test_hold_timer_expiry_sends_4_0() -> None:
    """The peer goes silent: only a's timers run; at 90 s a sends Hold Timer Expired and goes Idle."""
    pair = established_pair()
    actions = pair.a.handle_timers(90.0)
    assert [(n.code, n.subcode) for n in notifications(actions)] == [(4, 0)]
    assert pair.a.state is State.IDLE and pair.a.reason is Reason.HOLD_TIMER_EXPIRED
    assert SessionDown(Reason.HOLD_TIMER_EXPIRED) in actions
    assert pair.a.established_at is None


def test_peer_receives_hold_timer_expired() -> None:
    pair = established_pair()
    pair.now = 90.0
    pair.fire_timers("a")  # b is frozen: it sent no keepalive since the session came up
    pair.run()
    assert pair.b.state is State.IDLE and pair.b.reason is Reason.NOTIFICATION_RECEIVED
    assert PeerNotification(Notification(4, 0)) in pair.log["b"]
    tail = pair.log["b"][-4:]  # the fact comes first, then the session goes down
    assert [type(a).__name__ for a in tail] == [
        "PeerNotification",
        "CloseConnection",
        "SessionDown",
        "StateChanged",
    ]
    assert SessionDown(Reason.NOTIFICATION_RECEIVED) in pair.log["b"]


def test_admin_shutdown_sends_cease_2_with_rfc9003_text() -> None:
    pair = established_pair()
    actions = pair.feed("a", ManualStop(text="maintenance window"))
    pair.run()
    cease = notifications(actions)
    assert [(n.code, n.subcode) for n in cease] == [(6, CeaseSub.ADMINISTRATIVE_SHUTDOWN)]
    assert cease[0].data == bytes((18,)) + b"maintenance window"
    assert pair.a.state is State.IDLE and pair.a.reason is Reason.ADMIN_SHUTDOWN
    assert pair.a.next_deadline() is None  # no automatic restart after an operator's stop
    (got,) = [a.message for a in pair.log["b"] if isinstance(a, PeerNotification)]
    assert got.shutdown_message == "maintenance window"
    assert pair.b.state is State.IDLE
    assert pair.b.timers.running(Timer.IDLE_HOLD)  # the peer restarts by itself


def test_automatic_stop_restarts_after_idle_hold() -> None:
    pair = established_pair()
    actions = pair.feed("a", AutomaticStop(subcode=CeaseSub.MAXIMUM_PREFIXES_REACHED))
    assert [(n.code, n.subcode) for n in notifications(actions)] == [(6, 1)]
    assert pair.a.timers.deadline(Timer.IDLE_HOLD) == pair.now + CFG_A.idle_hold_time
    pair.run()
    pair.advance(CFG_A.idle_hold_time)
    assert pair.a.state is State.CONNECT and pair.a.reason is Reason.AUTOMATIC_START


def test_session_comes_back_after_a_flap() -> None:
    pair = established_pair()
    pair.feed("a", AutomaticStop())
    pair.run()
    assert pair.b.state is State.IDLE
    for _ in range(6):  # both idle-hold timers, then b's passive restart; bounded
        pair.advance_to_next_deadline()
        if pair.a.state is State.CONNECT and pair.b.state is State.ACTIVE:
            break
    pair.connect()
    pair.run()
    assert (pair.a.state, pair.b.state) == (State.ESTABLISHED, State.ESTABLISHED)
    for side in ("a", "b"):
        assert sum(isinstance(x, SessionDown) for x in pair.log[side]) == 1
    assert sent_count(pair.log["a"], MessageType.OPEN) == 2


def test_updates_and_route_refresh_cross_the_wire() -> None:
    pair = established_pair()
    pair.apply("b", pair.b.send_update(Update.end_of_rib(IPV6_UNICAST), pair.now))
    pair.apply("b", pair.b.send_route_refresh(IPV4_UNICAST, pair.now, RouteRefreshSubtype.BEGIN))
    pair.run()
    assert RoutesReceived(Update.end_of_rib(IPV6_UNICAST)) in pair.log["a"]
    assert RouteRefreshRequested(IPV4_UNICAST, RouteRefreshSubtype.BEGIN) in pair.log["a"]
    assert received_count(pair.log["a"], MessageType.UPDATE) == 1
    assert received_count(pair.log["a"], MessageType.ROUTE_REFRESH) == 1


def test_open_and_keepalive_in_one_read_are_processed_in_order() -> None:
    """OPEN and KEEPALIVE arriving in one read: OpenSent -> OpenConfirm -> Established."""
    a = Session(CFG_A)
    a.handle(ManualStart(), 0.0)
    a.handle(TcpConnectionAcknowledged(), 0.0)
    peer = Session(CFG_B)
    data = peer.encode(build_open(CFG_B)) + peer.encode(Keepalive())
    actions = a.handle(BytesReceived(data), 1.0)
    assert a.state is State.ESTABLISHED
    assert [x.new for x in actions if isinstance(x, StateChanged)] == [State.OPEN_CONFIRM, State.ESTABLISHED]


def test_bytes_after_a_fatal_message_are_not_processed() -> None:
    a = Session(CFG_A)
    a.handle(ManualStart(), 0.0)
    a.handle(TcpConnectionAcknowledged(), 0.0)
    peer = Session(CFG_B)
    data = peer.encode(Keepalive()) + peer.encode(build_open(CFG_B))  # KEEPALIVE first: FSM error
    actions = a.handle(BytesReceived(data), 1.0)
    assert a.state is State.IDLE
    assert [(n.code, n.subcode, n.data) for n in notifications(actions)] == [(5, 1, bytes((4,)))]
    assert received_count(actions, MessageType.KEEPALIVE) == 1
    assert received_count(actions, MessageType.OPEN) == 0


def test_send_outside_established_is_a_usage_error() -> None:
    a = Session(CFG_A)
    with pytest.raises(FsmUsageError):
        a.send_update(Update(), 0.0)
    with pytest.raises(FsmUsageError):
        a.sent_updates(1, 0.0)
    with pytest.raises(FsmUsageError):
        a.send_route_refresh(IPV4_UNICAST, 0.0)


def test_peer_connecting_while_we_await_restart_reaches_established() -> None:
    """RFC 4271 §8.1.2 event 5: a reappearing peer that connects first is not refused while our
    IdleHoldTimer runs; the session comes up on its connection without waiting for the timer."""
    a = Session(CFG_A)
    b = Session(CFG_B)
    pair = Pair(a, b)
    pair.feed("a", ManualStart())
    pair.a.handle(TcpConnectionFails(), pair.now)  # b is down: our connect attempt failed
    assert a.awaiting_restart and a.reason is Reason.CONNECT_FAILED
    idle_hold_end = a.timers.deadline(Timer.IDLE_HOLD)
    assert idle_hold_end == pair.now + CFG_A.connect_retry_time
    pair.now += 1.0
    pair.feed("b", ManualStart())  # b comes back and connects to a (b outgoing, a incoming)
    assert b.state is State.CONNECT
    pair.connect(outgoing="b")
    pair.run()
    assert (a.state, b.state) == (State.ESTABLISHED, State.ESTABLISHED)
    assert pair.now < idle_hold_end
    assert notifications(pair.log["a"]) == [] and notifications(pair.log["b"]) == []
