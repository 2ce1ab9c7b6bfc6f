"""Why a session changed state: one enum value per cause, kept in the transition history for status.

The values are the strings operators see (``bgpctl`` tables, logs), in the style of GoBGP's
``fsmStateReason``.
"""

from __future__ import annotations

from enum import Enum


class Reason(Enum):
    """The cause recorded with every state change."""

    MANUAL_START = "manual-start"
    AUTOMATIC_START = "automatic-start"  # also the IdleHoldTimer restarting the session
    ADMIN_SHUTDOWN = "admin-shutdown"  # ManualStop (event 2)
    AUTOMATIC_STOP = "automatic-stop"  # AutomaticStop (event 8)
    PREFIX_LIMIT = "prefix-limit"  # event 8 for a prefix limit: Cease 6/1 (RFC 4486 §4)
    CONNECT_RETRY = "connect-retry"  # ConnectRetryTimer expired
    CONNECTED = "connected"  # TCP connection up, OPEN sent
    DELAY_OPEN_EXPIRED = "delay-open-expired"
    CONNECT_FAILED = "connect-failed"  # TCP attempt failed before any OPEN
    PEER_CLOSED = "peer-closed"  # TCP connection lost after OPEN was sent
    OPEN_RECEIVED = "open-received"
    OPEN_REJECTED = "open-rejected"  # the peer's OPEN failed the §6.2 checks
    OPEN_CONFIRMED = "open-confirmed"  # KEEPALIVE in OpenConfirm: Established
    HOLD_TIMER_EXPIRED = "hold-timer-expired"
    NOTIFICATION_RECEIVED = "notification-received"
    NOTIFICATION_SENT = "notification-sent"  # a message header (or body) error we reported
    UPDATE_ERROR = "update-error"  # an UPDATE error whose RFC 7606 action is session-reset
    CONNECTION_COLLISION = "connection-collision"
    FSM_ERROR = "fsm-error"  # an event the state does not expect (RFC 4271 §6.6, RFC 6608)

    def __str__(self) -> str:
        return self.value
