"""IdleHoldTimer with DampPeerOscillations (RFC 4271 §8.1.1): exponential back-off, capped, reset
after a stable session; and the ConnectRetryTimer."""

from __future__ import annotations

import dataclasses

from bgpd.fsm import (
    AutomaticStart,
    Connect,
    KeepaliveReceived,
    ManualStart,
    ManualStop,
    OpenReceived,
    Reason,
    Session,
    State,
    TcpConnectionAcknowledged,
    TcpConnectionFails,
    Timer,
)

from ._helpers import CFG_A, PEER_OPEN, notifications


def _fail_until_idle(session: Session, now: float) -> float:
    """One failed connection attempt; returns the IdleHoldTime armed."""
    session.handle(TcpConnectionFails(), now)
    assert session.state is State.IDLE and session.reason is Reason.CONNECT_FAILED
    deadline = session.timers.deadline(Timer.IDLE_HOLD)
    assert deadline is not None
    return deadline - now


def test_back_off_doubles_and_is_capped() -> None:
    session = Session(CFG_A)
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
    assert holds == [5.0, 10.0, 20.0, 40.0, 80.0, 120.0, 120.0, 120.0]


def test_stable_session_resets_the_back_off() -> None:
    session = Session(CFG_A)
    session.handle(ManualStart(), 0.0)
    _fail_until_idle(session, 0.0)
    session.handle_timers(5.0)
    assert session.state is State.CONNECT
    assert _fail_until_idle(session, 5.0) == 10.0
    session.handle_timers(15.0)
    for event in (TcpConnectionAcknowledged(), OpenReceived(PEER_OPEN), KeepaliveReceived()):
        session.handle(event, 15.0)
    assert session.state is State.ESTABLISHED
    # Established for 60 s (stable_time) with keepalives flowing, then the peer goes away.
    for t in range(20, 80, 20):
        session.handle(KeepaliveReceived(), float(t))
        session.handle_timers(float(t))
    session.handle(TcpConnectionFails(), 80.0)
    assert session.reason is Reason.PEER_CLOSED
    assert session.timers.deadline(Timer.IDLE_HOLD) == 80.0 + 5.0


def test_short_lived_session_keeps_backing_off() -> None:
    session = Session(CFG_A)
    session.handle(ManualStart(), 0.0)
    assert _fail_until_idle(session, 0.0) == 5.0
    session.handle_timers(5.0)
    for event in (TcpConnectionAcknowledged(), OpenReceived(PEER_OPEN), KeepaliveReceived()):
        session.handle(event, 5.0)
    session.handle(TcpConnectionFails(), 10.0)  # up for 5 s only
    assert session.timers.deadline(Timer.IDLE_HOLD) == 10.0 + 10.0


def test_no_damping_keeps_the_first_value() -> None:
    session = Session(dataclasses.replace(CFG_A, damp_peer_oscillations=False))
    session.handle(ManualStart(), 0.0)
    now = 0.0
    for _ in range(4):
        hold = _fail_until_idle(session, now)
        assert hold == 5.0
        now += hold
        session.handle_timers(now)


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
