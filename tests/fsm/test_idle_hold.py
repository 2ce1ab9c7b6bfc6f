"""IdleHoldTimer with DampPeerOscillations (RFC 4271 §8.1.1): exponential back-off after session
flaps, capped, reset after a stable session; failed connections retry after ConnectRetryTime without
growth; and the ConnectRetryTimer."""

from __future__ import annotations

import dataclasses

import pytest

from bgpd.fsm import (
    AutomaticStart,
    CloseConnection,
    Connect,
    KeepaliveReceived,
    ManualStart,
    ManualStop,
    NotificationReceived,
    OpenReceived,
    Reason,
    Session,
    State,
    TcpConnectionAcknowledged,
    TcpConnectionConfirmed,
    TcpConnectionFails,
    Timer,
)
from bgpd.wire.constants import CeaseSub, ErrorCode
from bgpd.wire.notification import Notification

from ._helpers import CFG_A, PEER_OPEN, changes, notifications, sent

# ConnectRetryTime apart from the IdleHoldTime values, so the tests tell which one was armed.
CFG = dataclasses.replace(CFG_A, connect_retry_time=7.0)


def _fail_until_idle(session: Session, now: float) -> float:
    """One failed connection attempt; returns the IdleHoldTime armed."""
    session.handle(TcpConnectionFails(), now)
    assert session.state is State.IDLE and session.reason is Reason.CONNECT_FAILED
    deadline = session.timers.deadline(Timer.IDLE_HOLD)
    assert deadline is not None
    return deadline - now


def _flap(session: Session, now: float, up_for: float = 1.0) -> float:
    """From Connect: the connection comes up, the session is Established for ``up_for`` seconds and
    then the peer goes away. Returns the IdleHoldTime armed."""
    assert session.state is State.CONNECT
    for event in (TcpConnectionAcknowledged(), OpenReceived(PEER_OPEN), KeepaliveReceived()):
        session.handle(event, now)
    assert session.state is State.ESTABLISHED
    session.handle(TcpConnectionFails(), now + up_for)
    assert session.state is State.IDLE and session.reason is Reason.PEER_CLOSED
    deadline = session.timers.deadline(Timer.IDLE_HOLD)
    assert deadline is not None
    return deadline - (now + up_for)


def test_failed_connects_retry_after_connect_retry_time_without_growth() -> None:
    session = Session(CFG)
    now = 0.0
    session.handle(ManualStart(), now)
    holds = []
    for _ in range(8):
        hold = _fail_until_idle(session, now)
        holds.append(hold)
        now += hold
        actions = session.handle_timers(now)
        assert session.state is State.CONNECT and session.reason is Reason.AUTOMATIC_START
        assert Connect() in actions
    assert holds == [7.0] * 8


def test_refused_connections_do_not_grow_the_idle_hold() -> None:
    """A peer still in Idle answers our OPEN with Cease 6/5; that is no flap of the session."""
    session = Session(CFG)
    now = 0.0
    session.handle(ManualStart(), now)
    for _ in range(5):
        session.handle(TcpConnectionAcknowledged(), now)
        assert session.state is State.OPEN_SENT
        refusal = Notification(ErrorCode.CEASE, CeaseSub.CONNECTION_REJECTED)
        session.handle(NotificationReceived(refusal), now)
        assert session.state is State.IDLE
        assert session.timers.deadline(Timer.IDLE_HOLD) == now + 7.0
        now += 7.0
        session.handle_timers(now)
        assert session.state is State.CONNECT


def test_flaps_double_the_idle_hold_up_to_the_cap() -> None:
    session = Session(CFG)
    now = 0.0
    session.handle(ManualStart(), now)
    holds = []
    for _ in range(8):
        hold = _flap(session, now)
        holds.append(hold)
        now += 1.0 + hold
        session.handle_timers(now)
        assert session.state is State.CONNECT
    assert holds == [5.0, 10.0, 20.0, 40.0, 80.0, 120.0, 120.0, 120.0]


def test_connect_failures_between_flaps_neither_grow_nor_reset_the_damping() -> None:
    session = Session(CFG)
    session.handle(ManualStart(), 0.0)
    assert _flap(session, 0.0) == 5.0
    session.handle_timers(6.0)
    for i in range(3):  # the peer is away for a while: connect attempts every ConnectRetryTime
        assert _fail_until_idle(session, 6.0 + 7.0 * i) == 7.0
        session.handle_timers(6.0 + 7.0 * (i + 1))
    assert _flap(session, 27.0) == 10.0  # the second flap in a row


def test_stable_session_resets_the_back_off() -> None:
    session = Session(CFG)
    session.handle(ManualStart(), 0.0)
    assert _flap(session, 0.0) == 5.0
    session.handle_timers(6.0)
    assert _flap(session, 6.0) == 10.0
    session.handle_timers(17.0)
    for event in (TcpConnectionAcknowledged(), OpenReceived(PEER_OPEN), KeepaliveReceived()):
        session.handle(event, 17.0)
    assert session.state is State.ESTABLISHED
    # Established for 60 s (stable_time) with keepalives flowing, then the peer goes away.
    for t in range(20, 100, 20):
        session.handle(KeepaliveReceived(), float(t))
        session.handle_timers(float(t))
    session.handle(TcpConnectionFails(), 80.0)
    assert session.reason is Reason.PEER_CLOSED
    assert session.timers.deadline(Timer.IDLE_HOLD) == 80.0 + 5.0


def test_no_damping_keeps_the_first_value() -> None:
    session = Session(dataclasses.replace(CFG, damp_peer_oscillations=False))
    session.handle(ManualStart(), 0.0)
    now = 0.0
    for _ in range(4):
        hold = _flap(session, now)
        assert hold == 5.0
        now += 1.0 + hold
        session.handle_timers(now)


def test_incoming_connection_while_awaiting_restart_is_accepted() -> None:
    """RFC 4271 §8.1.2 event 5 then event 17: the peer's connection is the automatic restart."""
    session = Session(CFG)
    session.handle(ManualStart(), 0.0)
    assert _flap(session, 0.0) == 5.0
    assert session.awaiting_restart
    actions = session.handle(TcpConnectionConfirmed(), 2.0)
    assert CloseConnection() not in actions and Connect() not in actions
    assert [type(m).__name__ for m in sent(actions)] == ["Open"]
    assert [(t.new, t.reason) for t in changes(actions)] == [
        (State.ACTIVE, Reason.AUTOMATIC_START),
        (State.OPEN_SENT, Reason.CONNECTED),
    ]
    assert not session.timers.running(Timer.IDLE_HOLD)
    # Should this connection fail in OpenSent, the session goes on connecting actively (§8.2.2).
    session.handle(TcpConnectionFails(), 3.0)
    assert session.state is State.ACTIVE
    assert session.timers.deadline(Timer.CONNECT_RETRY) == 3.0 + 7.0


def test_incoming_connection_while_awaiting_restart_honours_delay_open() -> None:
    session = Session(dataclasses.replace(CFG, delay_open_time=4.0))
    session.handle(ManualStart(), 0.0)
    _fail_until_idle(session, 0.0)
    actions = session.handle(TcpConnectionConfirmed(), 1.0)
    assert sent(actions) == [] and session.state is State.ACTIVE
    assert session.timers.deadline(Timer.DELAY_OPEN) == 5.0
    actions = session.handle_timers(5.0)
    assert session.state is State.OPEN_SENT and [type(m).__name__ for m in sent(actions)] == ["Open"]


def test_incoming_connection_refused_when_administratively_stopped() -> None:
    session = Session(CFG)
    session.handle(ManualStart(), 0.0)
    _fail_until_idle(session, 0.0)
    session.handle(ManualStop(), 1.0)
    assert not session.awaiting_restart
    assert session.handle(TcpConnectionConfirmed(), 2.0) == [CloseConnection()]
    assert session.state is State.IDLE


def test_incoming_connection_refused_without_automatic_restart() -> None:
    session = Session(dataclasses.replace(CFG, automatic_restart=False))
    session.handle(ManualStart(), 0.0)
    session.handle(TcpConnectionFails(), 0.0)
    assert session.state is State.IDLE and not session.awaiting_restart
    assert session.handle(TcpConnectionConfirmed(), 1.0) == [CloseConnection()]
    assert session.state is State.IDLE


def test_passive_session_accepts_while_awaiting_restart_and_stays_passive() -> None:
    session = Session(CFG)
    session.handle(ManualStart(passive=True), 0.0)
    session.handle(TcpConnectionConfirmed(), 0.0)
    session.handle(OpenReceived(PEER_OPEN), 0.0)
    session.handle(KeepaliveReceived(), 0.0)
    session.handle(TcpConnectionFails(), 1.0)
    assert session.awaiting_restart
    session.handle(TcpConnectionConfirmed(), 2.0)
    session.handle(TcpConnectionFails(), 3.0)  # lost in OpenSent: Active, and passive: no retry timer
    assert session.state is State.ACTIVE and not session.timers.running(Timer.CONNECT_RETRY)


def test_config_rejects_negative_delay_open() -> None:
    with pytest.raises(ValueError, match="delay open"):
        dataclasses.replace(CFG_A, delay_open_time=-1.0)


def test_automatic_start_waits_for_the_idle_hold_timer() -> None:
    session = Session(CFG_A)
    session.handle(ManualStart(), 0.0)
    _fail_until_idle(session, 0.0)
    assert session.handle(AutomaticStart(), 1.0) == []
    assert session.state is State.IDLE
    session.handle(ManualStart(), 2.0)  # an operator does not wait
    assert session.state is State.CONNECT and session.reason is Reason.MANUAL_START


def test_manual_stop_in_idle_cancels_the_restart() -> None:
    session = Session(CFG_A)
    session.handle(ManualStart(), 0.0)
    _fail_until_idle(session, 0.0)
    session.handle(ManualStop(), 1.0)
    assert session.next_deadline() is None
    assert session.handle_timers(1000.0) == []
    assert session.state is State.IDLE


def test_no_automatic_restart_when_disabled() -> None:
    session = Session(dataclasses.replace(CFG_A, automatic_restart=False))
    session.handle(ManualStart(), 0.0)
    session.handle(TcpConnectionFails(), 0.0)
    assert session.state is State.IDLE and session.next_deadline() is None


def test_connect_retry_timer_retries_the_connection() -> None:
    session = Session(CFG_A)
    first = session.handle(ManualStart(), 0.0)
    assert Connect() in first
    assert session.next_deadline() == CFG_A.connect_retry_time
    actions = session.handle_timers(CFG_A.connect_retry_time)
    assert session.state is State.CONNECT
    assert Connect() in actions and actions.index(Connect()) > 0  # the old attempt is dropped first
    assert session.next_deadline() == 2 * CFG_A.connect_retry_time


def test_passive_session_never_connects() -> None:
    session = Session(CFG_A)
    actions = session.handle(ManualStart(passive=True), 0.0)
    assert Connect() not in actions
    assert session.state is State.ACTIVE and session.next_deadline() is None


def test_handle_timers_before_the_deadline_does_nothing() -> None:
    session = Session(CFG_A)
    session.handle(ManualStart(), 0.0)
    assert session.handle_timers(CFG_A.connect_retry_time - 0.001) == []


def test_manual_stop_on_a_delay_open_connection_sends_cease() -> None:
    session = Session(dataclasses.replace(CFG_A, delay_open_time=5.0))
    session.handle(ManualStart(), 0.0)
    session.handle(TcpConnectionAcknowledged(), 0.0)
    assert session.state is State.CONNECT and session.timers.running(Timer.DELAY_OPEN)
    actions = session.handle(ManualStop(text="bye"), 1.0)
    assert [(n.code, n.subcode) for n in notifications(actions)] == [(6, 2)]
    assert session.state is State.IDLE


def test_delay_open_connection_lost_in_connect_falls_back_to_active() -> None:
    session = Session(dataclasses.replace(CFG_A, delay_open_time=5.0))
    session.handle(ManualStart(), 0.0)
    session.handle(TcpConnectionAcknowledged(), 0.0)
    session.handle(TcpConnectionFails(), 1.0)
    assert session.state is State.ACTIVE and session.reason is Reason.PEER_CLOSED
    assert session.timers.deadline(Timer.CONNECT_RETRY) == 1.0 + CFG_A.connect_retry_time
    session.handle_timers(1.0 + CFG_A.connect_retry_time)
    assert session.state is State.CONNECT and session.reason is Reason.CONNECT_RETRY


def test_automatic_restart_follows_a_reloaded_passive_setting() -> None:
    """Passive mode comes from the config: a reload that turns it off applies at the next restart."""
    session = Session(dataclasses.replace(CFG, passive=True))
    session.handle(ManualStart(), 0.0)
    assert session.state is State.ACTIVE
    for event in (TcpConnectionConfirmed(), OpenReceived(PEER_OPEN), KeepaliveReceived()):
        session.handle(event, 0.0)
    session.handle(TcpConnectionFails(), 1.0)
    session.config = dataclasses.replace(CFG, passive=False)
    deadline = session.timers.deadline(Timer.IDLE_HOLD)
    assert deadline is not None
    actions = session.handle_timers(deadline)
    assert session.state is State.CONNECT
    assert any(isinstance(action, Connect) for action in actions)
