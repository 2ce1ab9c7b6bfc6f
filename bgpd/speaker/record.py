"""The one record of a session: its statistics, its state history and its last NOTIFICATIONs.

Shape (BIRD's ``proto/bgp``: ``struct bgp_conn`` holds a connection's state, ``struct bgp_proto``
the statistics of the session): an FSM holds the state of one connection only and tells what
happened as facts in its output (``bgpd.fsm.actions``); the session's driver owns this record and
feeds it those facts, from every connection of the session. So a counter lives in one place, a
collision's second connection adds to the same statistics, and a replaced FSM takes nothing with
it. The record is plain data: no clock (``at`` is the caller's wall-clock time, for display), no
I/O; ``status.py`` renders it for the control socket.

Every field of ``Counters`` reaches the operator: ``status.counters_to_control`` renders them all,
by name, so a counter added here shows in ``bgpctl describe bgpsession`` without another edit.
"""

from __future__ import annotations

import enum
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Final

from bgpd.fsm import Reason, State, StateChanged
from bgpd.wire import Notification
from bgpd.wire.constants import MessageType, known_family

HISTORY_LENGTH: Final = 32


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of the session's connection, at wall-clock time ``at``."""

    at: float
    old: State
    new: State
    reason: Reason


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """A NOTIFICATION sent or received, with its human text (and RFC 9003 communication)."""

    code: int
    subcode: int
    text: str
    at: float

    @classmethod
    def of(cls, message: Notification, at: float) -> NotificationRecord:
        return cls(message.code, message.subcode, notification_text(message), at)


def notification_text(message: Notification) -> str:
    """``Cease / Administrative Shutdown: "draining node-3"``: the name, then any RFC 9003 text;
    ``Cease / Maximum Number of Prefixes Reached: ipv4-unicast, limit 1000`` with RFC 4486 data."""
    communication = message.shutdown_message
    if communication:
        return f'{message.name}: "{communication}"'
    limit = message.max_prefixes_data
    if limit is not None:
        afi, safi, bound = limit
        family = known_family(afi, safi)
        return f"{message.name}: {family or f'AFI {afi} SAFI {safi}'}, limit {bound}"
    return message.name


class ErrorKind(enum.StrEnum):
    """What kind of thing the last error was: a small fixed set, so it can label a metric (the
    error's text cannot: it carries addresses and whatever a peer wrote in its NOTIFICATION)."""

    NOTIFICATION_SENT = "notification-sent"
    NOTIFICATION_RECEIVED = "notification-received"
    CONNECT_FAILED = "connect-failed"
    CONNECTION_LOST = "connection-lost"
    CONNECTION_DROPPED = "connection-dropped"  # we dropped it: the peer stopped reading


@dataclass(slots=True)
class Counters:
    """What happened on the session since it was configured, over all its connections."""

    messages_in: Counter[MessageType] = field(default_factory=Counter)  # framed, per type
    messages_out: Counter[MessageType] = field(default_factory=Counter)  # incl. refusals' Ceases
    prefixes_in: int = 0  # prefixes announced to us
    withdrawn_in: int = 0
    prefixes_out: int = 0  # prefixes we announced
    withdrawn_out: int = 0
    updates_treated_as_withdraw: int = 0  # RFC 7606 treat-as-withdraw, one per UPDATE
    updates_attribute_discard: int = 0  # RFC 7606 attribute-discard, one per UPDATE
    updates_ignored_family: int = 0  # UPDATEs with routes of a family not negotiated (RFC 4760 §7)
    flaps: int = 0  # times the session left Established
    connect_attempts: int = 0
    connections_accepted: int = 0
    collisions: int = 0  # connections closed by RFC 4271 §6.8 collision resolution
    prefix_limit_warnings: int = 0  # times a family reached the max-prefix warning threshold
    prefix_limit_stops: int = 0  # times the session was stopped by its prefix limit (Cease 6/1)


@dataclass(slots=True)
class SessionRecord:
    """Mutable per-session bookkeeping, owned by the session driver (see the module docstring)."""

    counters: Counters = field(default_factory=Counters)
    history: deque[Transition] = field(default_factory=lambda: deque(maxlen=HISTORY_LENGTH))
    last_sent: NotificationRecord | None = None
    last_received: NotificationRecord | None = None
    last_error: str | None = None
    last_error_kind: ErrorKind | None = None
    last_error_at: float | None = None
    last_report: float = 0.0  # when anything an operator would look at last changed

    def transition(self, change: StateChanged, at: float) -> None:
        self.history.append(Transition(at, change.old, change.new, change.reason))
        self.last_report = at

    def notification_sent(self, message: Notification, at: float) -> NotificationRecord:
        self.last_sent = NotificationRecord.of(message, at)
        return self.last_sent

    def notification_received(self, message: Notification, at: float) -> NotificationRecord:
        self.last_received = NotificationRecord.of(message, at)
        return self.last_received

    def error(self, text: str, kind: ErrorKind, at: float) -> None:
        self.last_error = text
        self.last_error_kind = kind
        self.last_error_at = at
        self.last_report = at
