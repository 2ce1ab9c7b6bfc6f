"""Session status as plain values: a frozen snapshot of one session and its control rendering.

The speaker keeps one ``SessionRecord`` per session (``record.py``) and hands out frozen
``SessionStatus`` snapshots; ``SessionStatus.to_control`` renders the fields of
docs/control-protocol.md (session object plus session-detail fields), so the daemon's control
socket needs no knowledge of BGP. Wall-clock times (``at``) are POSIX seconds for display;
durations use the loop's monotonic clock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from bgpd.fsm import Negotiated, State
from bgpd.speaker.record import Counters, ErrorKind, NotificationRecord, Transition
from bgpd.wire.capabilities import Capability, capability_code
from bgpd.wire.constants import CapabilityCode, Family, MessageType


def rfc3339(at: float) -> str:
    """POSIX seconds as the control protocol's timestamp (``2026-11-26T21:41:15.123Z``)."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def notification_to_control(record: NotificationRecord) -> dict[str, Any]:
    return {"code": record.code, "subcode": record.subcode, "text": record.text, "at": rfc3339(record.at)}


def transition_to_control(transition: Transition) -> dict[str, Any]:
    return {
        "at": rfc3339(transition.at),
        "from": str(transition.old),
        "to": str(transition.new),
        "reason": str(transition.reason),
    }


def counter_key(name: str) -> str:
    """The control protocol's key of a ``Counters`` field: ``updates_ignored_family`` ->
    ``updatesIgnoredFamily``."""
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def message_kind(msg_type: MessageType) -> str:
    return msg_type.name.lower().replace("_", "-")


def counters_to_control(counters: Counters) -> dict[str, Any]:
    """Every counter of the record, by name: per-type message counts become ``{kind: n}``."""
    out: dict[str, Any] = {}
    for item in fields(counters):
        value = getattr(counters, item.name)
        if isinstance(value, Counter):
            value = {message_kind(t): n for t, n in sorted(value.items())}
        out[counter_key(item.name)] = value
    return out


def capabilities_to_control(negotiated: Negotiated | None) -> dict[str, tuple[str, ...]]:
    """Sent, received and negotiated capabilities, for ``describe-session``."""
    if negotiated is None:
        return {}
    names = [*(f"multiprotocol({f})" for f in sorted(negotiated.families))]
    flags = (
        ("four-octet-as", negotiated.four_octet_as),
        ("route-refresh", negotiated.route_refresh),
        ("extended-message", negotiated.extended_message),
        ("graceful-restart", negotiated.graceful_restart is not None),
        ("graceful-restart-notification", negotiated.graceful_notification),
    )
    names += [name for name, on in flags if on]
    names += [f"extended-next-hop({f})" for f in sorted(negotiated.extended_next_hop)]
    return {
        "sent": _capability_names(negotiated.sent.capabilities),
        "received": _capability_names(negotiated.received.capabilities),
        "negotiated": tuple(names),
    }


def _capability_names(caps: tuple[Capability, ...]) -> tuple[str, ...]:
    names = []
    for cap in caps:
        code = capability_code(cap)
        try:
            name = CapabilityCode(code).name.lower().replace("_", "-")
        except ValueError:
            name = f"capability-{code}"
        family = getattr(cap, "family", None)
        names.append(f"{name}({family})" if family is not None else name)
    return tuple(names)


@dataclass(frozen=True, slots=True)
class GracefulRestartStatus:
    """Graceful restart (RFC 4724, RFC 8538) of one session, both roles."""

    restart_time: int  # what we announce
    stale_time: float  # our bound on a restarted peer's stale routes
    restart_state: bool  # our OPENs carry the Restart State bit (we restarted; not Established yet)
    peer_restart_time: int | None  # from the peer's capability on the current connection
    peer_restart_state: bool | None  # its Restart State bit: it says it restarted (RFC 4724 §3)
    notification: bool | None  # the N bit negotiated (None: no OPEN exchanged yet)
    peer_families: tuple[str, ...]  # families the peer preserves across its restarts (F bit)
    stale_families: tuple[str, ...]  # the peer is restarting: its routes of these are kept, stale
    stale_routes: int
    stale_seconds_left: float | None = None  # until the restart (or stale) timer deletes them

    def to_control(self) -> dict[str, Any]:
        return {
            "restartTime": self.restart_time,
            "staleTime": self.stale_time,
            "restartState": self.restart_state,
            "peerRestartTime": self.peer_restart_time,
            "peerRestartState": self.peer_restart_state,
            "notification": self.notification,
            "peerFamilies": list(self.peer_families),
            "peerRestarting": bool(self.stale_families),
            "staleFamilies": list(self.stale_families),
            "staleRoutes": self.stale_routes,
            "staleSecondsLeft": None
            if self.stale_seconds_left is None
            else round(self.stale_seconds_left, 1),
        }


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """The fields of the control protocol's session object, cheap enough to take for every session
    on every ``sessions`` request and status line: plain reads of the session's record and counts
    the RIBs keep, nothing computed over routes (the detail is ``SessionStatus``)."""

    name: str
    local_ip: str
    peer_ip: str
    local_asn: int
    peer_asn: int
    fsm_state: str
    uptime: float | None
    prefixes_received: int
    prefixes_sent: int
    last_error: str | None
    last_report: float

    @property
    def established(self) -> bool:
        return self.fsm_state == "Established"

    def to_control(self) -> dict[str, Any]:
        """The control protocol's session object."""
        return {
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
        }


@dataclass(frozen=True, slots=True)
class SessionStatus(SessionSummary):
    """Everything about one session, for ``describe`` and tests: the summary plus the detail."""

    admin_down: bool
    prefixes_pending: int
    hold_time: int | None
    keepalive_time: int | None
    capabilities: dict[str, tuple[str, ...]]
    counters: dict[str, Any]
    last_sent: NotificationRecord | None
    last_received: NotificationRecord | None
    history: tuple[Transition, ...]
    unsendable: tuple[str, ...] = ()
    prefix_limit: dict[str, Any] = field(default_factory=dict)
    security: dict[str, Any] = field(default_factory=dict)
    graceful_restart: GracefulRestartStatus | None = None  # None: switched off for this session

    @property
    def summary(self) -> SessionSummary:
        """Just the session object's fields (a status is a summary; this drops the detail)."""
        return SessionSummary(*(getattr(self, f.name) for f in fields(SessionSummary)))

    def to_control(self) -> dict[str, Any]:
        """The control protocol's session object plus its session-detail fields."""
        data = SessionSummary.to_control(self)
        data.update(
            {
                "holdTime": self.hold_time,
                "keepaliveTime": self.keepalive_time,
                "capabilities": {key: list(value) for key, value in self.capabilities.items()},
                "counters": self.counters,
                "history": [transition_to_control(t) for t in self.history],
            }
        )
        if self.prefix_limit:
            data["maxPrefixes"] = self.prefix_limit
        if self.security:
            data["security"] = self.security
        if self.last_sent is not None:
            data["lastNotificationSent"] = notification_to_control(self.last_sent)
        if self.last_received is not None:
            data["lastNotificationReceived"] = notification_to_control(self.last_received)
        if self.admin_down:
            data["adminDown"] = True
        if self.unsendable:
            data["routes"] = {"notSent": list(self.unsendable)}
        if self.graceful_restart is not None:
            data["gracefulRestart"] = self.graceful_restart.to_control()
        return data


@dataclass(frozen=True, slots=True)
class SessionReading:
    """A session's numbers for the metrics, taken in constant time: no route walk and no rendering
    (``SessionStatus`` lists the routes a session cannot send, which walks its Adj-RIB-Out; a scrape
    of 500 sessions must not). ``counters`` is the session's live record: read it at once."""

    name: str
    fsm_state: State
    admin_down: bool
    uptime: float | None
    routes_received: int  # the Adj-RIB-In now
    routes_sent: int  # the Adj-RIB-Out as sent now
    counters: Counters
    last_error_kind: ErrorKind | None
    last_error_at: float | None  # POSIX time
    last_notification: NotificationRecord | None  # the last error's NOTIFICATION, when it was one


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
    stale: bool = False  # kept from before the peer's graceful restart, not re-sent yet (RFC 4724)

    def to_control(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "prefix": self.prefix,
            "nextHop": self.next_hop,
            "metric": self.metric,
            "family": self.family,
            "asPath": list(self.as_path),
            "stale": self.stale,
        }
