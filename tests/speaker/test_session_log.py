"""The session's log policy (OpenBGPD's logmsg.c habit): retry churn is debug, a state change is
news once per episode, a repeated problem is logged once and then counted."""

from __future__ import annotations

from typing import Any

import structlog
from structlog.testing import capture_logs

from bgpd.fsm import Reason, State, StateChanged
from bgpd.speaker.session_log import SessionLog

IDLE, CONNECT, ACTIVE = State.IDLE, State.CONNECT, State.ACTIVE
OPEN_SENT, OPEN_CONFIRM, ESTABLISHED = State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED


def loud(logs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The lines an operator sees at the default level, as (event, first interesting field)."""
    out = []
    for entry in logs:
        if entry["log_level"] == "debug":
            continue
        detail = entry.get("new") or entry.get("text") or entry.get("error")
        out.append((entry["event"], detail, entry.get("repeated")))
    return out


def new_log() -> SessionLog:
    return SessionLog(structlog.get_logger().bind(session="s1", peer="192.0.2.1"))


def test_retry_churn_between_idle_connect_and_active_is_debug_only() -> None:
    with capture_logs() as logs:
        log = new_log()
        log.state_changed(StateChanged(IDLE, CONNECT, Reason.MANUAL_START))
        for _ in range(50):
            log.state_changed(StateChanged(CONNECT, IDLE, Reason.CONNECT_FAILED))
            log.state_changed(StateChanged(IDLE, CONNECT, Reason.AUTOMATIC_START))
            log.state_changed(StateChanged(CONNECT, ACTIVE, Reason.PEER_CLOSED))
            log.state_changed(StateChanged(ACTIVE, CONNECT, Reason.CONNECT_RETRY))
    assert loud(logs) == [("state_changed", "Connect", None)]  # the operator's start only
    assert len(logs) == 201  # the churn is still there at debug level


def test_a_failing_handshake_is_reported_once_per_episode() -> None:
    """A peer that closes after our OPEN at every retry: the first round is news, the rest not."""
    with capture_logs() as logs:
        log = new_log()
        for _ in range(20):
            log.state_changed(StateChanged(CONNECT, OPEN_SENT, Reason.CONNECTED))
            log.problem("notification_received", text="OPEN Message Error / Bad Peer AS")
            log.state_changed(StateChanged(OPEN_SENT, IDLE, Reason.NOTIFICATION_RECEIVED))
            log.state_changed(StateChanged(IDLE, CONNECT, Reason.AUTOMATIC_START))
    assert loud(logs) == [
        ("state_changed", "OpenSent", None),
        ("notification_received", "OPEN Message Error / Bad Peer AS", None),
        ("state_changed", "Idle", None),
    ]


def test_a_repeated_problem_is_counted_and_the_count_logged_when_it_changes() -> None:
    with capture_logs() as logs:
        log = new_log()
        for _ in range(5):
            log.problem("connect_failed", error="refused")
        log.problem("connect_failed", error="no route to host")
        log.problem("connect_failed", error="no route to host")
    assert loud(logs) == [
        ("connect_failed", "refused", None),
        ("connect_failed", "refused", 4),
        ("connect_failed", "no route to host", None),
    ]


def test_the_episode_ends_when_the_session_comes_up_and_the_counts_come_first() -> None:
    with capture_logs() as logs:
        log = new_log()
        for _ in range(3):
            log.problem("connect_failed", error="refused")
        log.problem("notification_received", text="Cease / Connection Rejected")
        log.state_changed(StateChanged(OPEN_CONFIRM, ESTABLISHED, Reason.OPEN_CONFIRMED))
        log.problem("connect_failed", error="refused")  # a new episode: news again
    assert loud(logs) == [
        ("connect_failed", "refused", None),
        ("notification_received", "Cease / Connection Rejected", None),
        ("connect_failed", "refused", 2),  # the one without repeats writes no count
        ("state_changed", "Established", None),
        ("connect_failed", "refused", None),
    ]


def test_every_flap_and_operator_action_is_news() -> None:
    with capture_logs() as logs:
        log = new_log()
        for _ in range(3):
            log.state_changed(StateChanged(OPEN_CONFIRM, ESTABLISHED, Reason.OPEN_CONFIRMED))
            log.state_changed(StateChanged(ESTABLISHED, IDLE, Reason.HOLD_TIMER_EXPIRED))
        log.state_changed(StateChanged(CONNECT, IDLE, Reason.ADMIN_SHUTDOWN))
        log.state_changed(StateChanged(CONNECT, IDLE, Reason.ADMIN_SHUTDOWN))
    assert [new for _, new, _ in loud(logs)] == ["Established", "Idle"] * 3 + ["Idle", "Idle"]


def test_fields_other_than_the_text_tell_problems_apart() -> None:
    with capture_logs() as logs:
        log = new_log()
        log.problem(
            "notification_sent", text="Cease / Connection Rejected", reason="incoming connection refused"
        )
        log.problem(
            "notification_sent", text="Cease / Connection Rejected", reason="incoming connection refused"
        )
        log.problem("notification_sent", text="Cease / Connection Rejected")
        log.end_episode()
        log.end_episode()  # nothing left to write
    assert [(e.get("reason"), e.get("repeated")) for e in logs] == [
        ("incoming connection refused", None),
        ("incoming connection refused", 1),
        (None, None),
    ]
