"""The session's outputs: frozen values the driver handles in order. Two kinds:

- **Commands** the driver carries out: ``Connect``, ``Send``, ``CloseConnection``.
- **Facts** the driver records or acts upon: a state changed (with its reason), a message was
  received, the peer sent a NOTIFICATION, an UPDATE was repaired or partly ignored, the session
  came up or went down, routes arrived, a route refresh was asked for. The FSM keeps no
  statistics of its own: one record per session, owned by the driver, is fed by these facts (the
  shape of BIRD's ``proto/bgp``: state per connection, statistics per session). A NOTIFICATION we
  send needs no fact of its own: the ``Send`` carrying it is one.

Timers are not actions: they are deadlines the driver reads with ``Session.next_deadline()``.
``Send`` carries the message object; the driver encodes it with ``Session.encode`` when it carries
the action out. The context only changes when an OPEN is accepted (after which only UPDATEs, from
``send_update``, depend on it), so encoding after ``handle`` returns is always right.

New kinds of output (graceful restart's stale routes, RFC 4724) are new facts here: the driver
dispatches on the type, so adding one touches neither the existing facts nor their handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from bgpd.fsm.negotiation import Negotiated
from bgpd.fsm.reasons import Reason
from bgpd.fsm.states import State
from bgpd.wire import Message
from bgpd.wire.constants import ErrorAction, Family, MessageType, RouteRefreshSubtype
from bgpd.wire.notification import Notification
from bgpd.wire.update import Update


# ---------------------------------------------------------------------- commands
@dataclass(frozen=True, slots=True)
class Connect:
    """Open a TCP connection to the peer (the driver keeps listening as well)."""


@dataclass(frozen=True, slots=True)
class Send:
    """Write one message on the connection."""

    message: Message


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Drop the connection, or abandon a connection attempt; after any ``Send`` before it."""


# ---------------------------------------------------------------------- facts
@dataclass(frozen=True, slots=True)
class StateChanged:
    """Emitted on every transition, with the reason the driver keeps in the session's history."""

    old: State
    new: State
    reason: Reason


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """One whole message framed from the connection (before it is decoded or checked)."""

    type: MessageType


@dataclass(frozen=True, slots=True)
class PeerNotification:
    """The peer's NOTIFICATION (RFC 4271 events 24/25); the state change to Idle follows."""

    message: Notification


@dataclass(frozen=True, slots=True)
class UpdateRepaired:
    """A malformed UPDATE handled without ending the session (RFC 7606 §2): ``action`` is
    treat-as-withdraw or attribute-discard; the ``RoutesReceived`` it produced follow."""

    action: ErrorAction


@dataclass(frozen=True, slots=True)
class FamilyIgnored:
    """An UPDATE carried routes of a family that was not negotiated; those were dropped (RFC 4760
    §7). Whatever else it carried follows as ``RoutesReceived``."""


@dataclass(frozen=True, slots=True)
class SessionEstablished:
    """The session reached Established: start sending routes (the negotiated facts say how)."""

    negotiated: Negotiated


@dataclass(frozen=True, slots=True)
class SessionDown:
    """The session left Established: routes learnt from it are gone (RFC 4271 §8.2.2)."""

    reason: Reason


@dataclass(frozen=True, slots=True)
class RoutesReceived:
    """An UPDATE to apply to the Adj-RIB-In. ``error`` is the RFC 7606 action that shaped it: for
    treat-as-withdraw the UPDATE only withdraws (see ``Update.as_withdrawals``)."""

    update: Update
    error: ErrorAction | None = None


@dataclass(frozen=True, slots=True)
class RouteRefreshRequested:
    """The peer asked for our routes of ``family`` again (RFC 2918 §4), or marked BoRR/EoRR."""

    family: Family
    subtype: RouteRefreshSubtype


Command: TypeAlias = Connect | Send | CloseConnection
Fact: TypeAlias = (
    StateChanged
    | MessageReceived
    | PeerNotification
    | UpdateRepaired
    | FamilyIgnored
    | SessionEstablished
    | SessionDown
    | RoutesReceived
    | RouteRefreshRequested
)
Action: TypeAlias = Command | Fact
