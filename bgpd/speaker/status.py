"""Session status as plain values: counters, history, the last NOTIFICATIONs, and a snapshot.

The speaker keeps one ``SessionRecord`` per session and hands out frozen ``SessionStatus``
snapshots; ``SessionStatus.to_control`` renders the fields of docs/control-protocol.md (session
object plus session-detail fields), so the daemon's control socket needs no knowledge of BGP.
Wall-clock times (``at``) are POSIX seconds for display; durations use the loop's monotonic clock.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from bgpd.wire import Notification
from bgpd.wire.constants import Family, MessageType

HISTORY_LENGTH: Final = 32


def rfc3339(at: float) -> str:
    """POSIX seconds as the control protocol's timestamp (``2026-11-26T21:41:15.123Z``)."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """A NOTIFICATION sent or received, with its human text (and RFC 9003 communication).
    ``source`` is the FSM's own record it was made from, to notice a new one by identity."""

    code: int
    subcode: int
    text: str
    at: float
    source: object = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, message: Notification, at: float, source: object = None) -> NotificationRecord:
        text = message.name
        communication = message.shutdown_message
        if communication:
            text += f': "{communication}"'
        return cls(message.code, message.subcode, text, at, source)

    def to_control(self) -> dict[str, Any]:
        return {"code": self.code, "subcode": self.subcode, "text": self.text, "at": rfc3339(self.at)}


@dataclass(frozen=True, slots=True)
class Transition:
    at: float
    old: str
    new: str
    reason: str

    def to_control(self) -> dict[str, Any]:
        return {"at": rfc3339(self.at), "from": self.old, "to": self.new, "reason": self.reason}


@dataclass(slots=True)
class SessionRecord:
    """Mutable per-session bookkeeping, owned by the session driver."""

    messages_out: Counter[MessageType] = field(default_factory=Counter)  # incl. refusals' Ceases
    prefixes_announced_in: int = 0
    prefixes_withdrawn_in: int = 0
    prefixes_announced_out: int = 0
    prefixes_withdrawn_out: int = 0
    treated_as_withdraw: int = 0  # UPDATEs handled by RFC 7606 treat-as-withdraw
    flaps: int = 0  # times the session left Established
    connect_attempts: int = 0
    connections_accepted: int = 0
    collisions: int = 0
    last_error: str | None = None
    last_report: float = 0.0
    last_sent: NotificationRecord | None = None
    last_received: NotificationRecord | None = None
    history: deque[Transition] = field(default_factory=lambda: deque(maxlen=HISTORY_LENGTH))


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """A snapshot of one session for status output and tests."""

    name: str
    local_ip: str
    peer_ip: str
    local_asn: int
    peer_asn: int
    fsm_state: str
    admin_down: bool
    uptime: float | None
    prefixes_received: int
    prefixes_sent: int
    prefixes_pending: int
    hold_time: int | None
    keepalive_time: int | None
    capabilities: dict[str, tuple[str, ...]]
    counters: dict[str, Any]
    last_error: str | None
    last_sent: NotificationRecord | None
    last_received: NotificationRecord | None
    history: tuple[Transition, ...]
    last_report: float
    unsendable: tuple[str, ...] = ()

    @property
    def established(self) -> bool:
        return self.fsm_state == "Established"

    def to_control(self) -> dict[str, Any]:
        """The control protocol's session object plus its session-detail fields."""
        data: dict[str, Any] = {
            "name": self.name,
            "localASN": self.local_asn,
            "peerASN": self.peer_asn,
            "localIP": self.local_ip,
            "peerIP": self.peer_ip,
            "state": "Established" if self.established else "NotEstablished",
            "lastReport": rfc3339(self.last_report),
            "fsmState": self.fsm_state,
            "uptimeSeconds": None if self.uptime is None else int(self.uptime),
            "prefixesSent": self.prefixes_sent,
            "prefixesReceived": self.prefixes_received,
            "lastError": self.last_error,
            "holdTime": self.hold_time,
            "keepaliveTime": self.keepalive_time,
            "capabilities": {key: list(value) for key, value in self.capabilities.items()},
            "counters": self.counters,
            "history": [t.to_control() for t in self.history],
        }
        if self.last_sent is not None:
            data["lastNotificationSent"] = self.last_sent.to_control()
        if self.last_received is not None:
            data["lastNotificationReceived"] = self.last_received.to_control()
        if self.admin_down:
            data["adminDown"] = True
        if self.unsendable:
            data["routes"] = {"notSent": list(self.unsendable)}
        return data


@dataclass(frozen=True, slots=True)
class SoftReset:
    """What a soft reset did: the families whose Adj-RIB-Out is being re-sent (each followed by
    End-of-RIB), and those for which the peer was sent a ROUTE-REFRESH (none when the peer did
    not offer the capability, RFC 2918 §3)."""

    resent: tuple[Family, ...]
    requested: tuple[Family, ...]


@dataclass(frozen=True, slots=True)
class ReceivedRoute:
    """One route in a session's Adj-RIB-In, as the control protocol shows it."""

    session: str
    family: str
    prefix: str
    next_hop: str
    metric: int | None
    as_path: tuple[int, ...]

    def to_control(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "prefix": self.prefix,
            "nextHop": self.next_hop,
            "metric": self.metric,
            "family": self.family,
            "asPath": list(self.as_path),
        }
