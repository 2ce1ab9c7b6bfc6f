"""The session's inputs (RFC 4271 §8.1): frozen values, loggable, comparable and replayable.

The driver feeds the administrative, timer and TCP events and ``BytesReceived``; the session turns
received bytes into the message events below (§8.1.5) itself. Message events are public so tests
and replays can feed them directly. The comment on each class names the RFC events it folds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from bgpd.fsm.timers import Timer
from bgpd.wire.constants import CeaseSub, Family
from bgpd.wire.errors import NotificationError, UpdateError
from bgpd.wire.notification import Notification
from bgpd.wire.open import Open
from bgpd.wire.route_refresh import RouteRefresh
from bgpd.wire.update import Update


@dataclass(frozen=True, slots=True)
class ManualStart:
    """Events 1 and 4 (``passive``: ManualStart_with_PassiveTcpEstablishment)."""

    passive: bool = False


@dataclass(frozen=True, slots=True)
class AutomaticStart:
    """Events 3 and 5; damping (events 6 and 7) is the session's DampPeerOscillations setting."""

    passive: bool = False


@dataclass(frozen=True, slots=True)
class ManualStop:
    """Event 2. ``text`` is the RFC 9003 shutdown communication sent with Cease ``subcode``."""

    subcode: int = CeaseSub.ADMINISTRATIVE_SHUTDOWN
    text: str = ""


@dataclass(frozen=True, slots=True)
class AutomaticStop:
    """Event 8; the session restarts after the IdleHoldTimer (a prefix limit is ``PrefixLimitReached``)."""

    subcode: int = CeaseSub.UNSPECIFIC
    text: str = ""


@dataclass(frozen=True, slots=True)
class PrefixLimitReached:
    """Event 8 for a prefix limit (RFC 4486 §4): the peer sent more prefixes of ``family`` than
    ``limit``, as the driver counted them in its Adj-RIB-In. The session sends Cease 6/1 and goes
    to Idle; it restarts after ``restart_after`` seconds, or (None) only on a ManualStart."""

    family: Family
    limit: int
    restart_after: float | None


@dataclass(frozen=True, slots=True)
class TimerExpired:
    """Events 9-13. Usually produced by ``Session.handle_timers(now)``, not by the driver."""

    timer: Timer


@dataclass(frozen=True, slots=True)
class TcpConnectionAcknowledged:
    """Event 16 (Tcp_CR_Acked): our outgoing connection is up."""


@dataclass(frozen=True, slots=True)
class TcpConnectionConfirmed:
    """Event 17: an incoming connection from the peer was accepted."""


@dataclass(frozen=True, slots=True)
class TcpConnectionFails:
    """Event 18: the attempt failed, or the established connection closed or broke."""


@dataclass(frozen=True, slots=True)
class BytesReceived:
    """Octets from the connection; the session frames and decodes them into the events below."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CollisionDump:
    """Event 23 (OpenCollisionDump): §6.8 resolution chose to close this connection."""


@dataclass(frozen=True, slots=True)
class OpenReceived:
    """Events 19 and 20 (which one depends on the DelayOpenTimer); event 22 when a check fails."""

    message: Open


@dataclass(frozen=True, slots=True)
class HeaderError:
    """Event 21 (BGPHeaderErr); also a message whose body did not decode (other than OPEN/UPDATE)."""

    error: NotificationError


@dataclass(frozen=True, slots=True)
class OpenMessageError:
    """Event 22 (BGPOpenMsgErr) for an OPEN that did not decode."""

    error: NotificationError


@dataclass(frozen=True, slots=True)
class NotificationReceived:
    """Events 24 (NotifMsgVerErr, code 2 subcode 1) and 25 (NotifMsg)."""

    message: Notification


@dataclass(frozen=True, slots=True)
class KeepaliveReceived:
    """Event 26."""


@dataclass(frozen=True, slots=True)
class UpdateReceived:
    """Event 27."""

    message: Update


@dataclass(frozen=True, slots=True)
class UpdateMessageError:
    """Event 28, or a milder RFC 7606 outcome: ``error.action`` decides."""

    error: UpdateError


@dataclass(frozen=True, slots=True)
class RouteRefreshReceived:
    """A ROUTE-REFRESH (RFC 2918, RFC 7313); not an RFC 4271 event, expected only when Established."""

    message: RouteRefresh


MessageEvent: TypeAlias = (
    OpenReceived
    | HeaderError
    | OpenMessageError
    | NotificationReceived
    | KeepaliveReceived
    | UpdateReceived
    | UpdateMessageError
    | RouteRefreshReceived
)
Event: TypeAlias = (
    ManualStart
    | AutomaticStart
    | ManualStop
    | AutomaticStop
    | PrefixLimitReached
    | TimerExpired
    | TcpConnectionAcknowledged
    | TcpConnectionConfirmed
    | TcpConnectionFails
    | BytesReceived
    | CollisionDump
    | MessageEvent
)
