"""The session's outputs: frozen values the driver carries out in order.

Timers are not actions: they are deadlines the driver reads with ``Session.next_deadline()``.
``Send`` carries the message object; the driver encodes it with ``Session.encode`` when it carries
the action out. The context only changes when an OPEN is accepted (after which only UPDATEs, from
``send_update``, depend on it), so encoding after ``handle`` returns is always right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from bgpd.fsm.negotiation import Negotiated
from bgpd.fsm.reasons import Reason
from bgpd.fsm.states import State
from bgpd.wire import Message
from bgpd.wire.constants import ErrorAction, Family, RouteRefreshSubtype
from bgpd.wire.update import Update


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


@dataclass(frozen=True, slots=True)
class StateChanged:
    """Emitted on every transition, with the reason kept in the history."""

    old: State
    new: State
    reason: Reason


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


Action: TypeAlias = (
    Connect
    | Send
    | CloseConnection
    | StateChanged
    | SessionEstablished
    | SessionDown
    | RoutesReceived
    | RouteRefreshRequested
)
