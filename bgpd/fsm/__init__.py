"""bgpd.fsm: the RFC 4271 §8 state machine of one BGP session, sans-IO.

Modules: ``states`` (State), ``events`` (inputs), ``actions`` (outputs), ``timers`` (deadlines),
``config`` (FsmConfig), ``negotiation`` (OPEN checks, capabilities -> Negotiated + codec contexts),
``collision`` (RFC 4271 §6.8 decision), ``records`` (counters, history), ``reasons`` (why a
transition happened), ``session`` (Session and its transition table).

Supported: RFC 4271 §8 with the optional PassiveTcpEstablishment, DelayOpen, DampPeerOscillations
(IdleHoldTimer) and OpenCollisionDump; RFC 6608 FSM error subcodes; RFC 4760, 6793, 2918, 7313,
8654, 8950, 7911 and 4724 capability negotiation; RFC 7606 UPDATE error actions; RFC 9003 shutdown
communication.
"""

from bgpd.fsm.actions import (
    Action,
    CloseConnection,
    Connect,
    RouteRefreshRequested,
    RoutesReceived,
    Send,
    SessionDown,
    SessionEstablished,
    StateChanged,
)
from bgpd.fsm.collision import Origin, Verdict, preferred_origin, resolve_collision
from bgpd.fsm.config import FsmConfig
from bgpd.fsm.events import (
    AutomaticStart,
    AutomaticStop,
    BytesReceived,
    CollisionDump,
    Event,
    HeaderError,
    KeepaliveReceived,
    ManualStart,
    ManualStop,
    NotificationReceived,
    OpenMessageError,
    OpenReceived,
    RouteRefreshReceived,
    TcpConnectionAcknowledged,
    TcpConnectionConfirmed,
    TcpConnectionFails,
    TimerExpired,
    UpdateMessageError,
    UpdateReceived,
)
from bgpd.fsm.negotiation import Negotiated
from bgpd.fsm.reasons import Reason
from bgpd.fsm.records import Counters, NotificationRecord, Transition
from bgpd.fsm.session import FsmUsageError, Session
from bgpd.fsm.states import State
from bgpd.fsm.timers import Timer

__all__ = [
    "Action",
    "AutomaticStart",
    "AutomaticStop",
    "BytesReceived",
    "CloseConnection",
    "CollisionDump",
    "Connect",
    "Counters",
    "Event",
    "FsmConfig",
    "FsmUsageError",
    "HeaderError",
    "KeepaliveReceived",
    "ManualStart",
    "ManualStop",
    "Negotiated",
    "NotificationReceived",
    "NotificationRecord",
    "OpenMessageError",
    "OpenReceived",
    "Origin",
    "Reason",
    "RouteRefreshReceived",
    "RouteRefreshRequested",
    "RoutesReceived",
    "Send",
    "Session",
    "SessionDown",
    "SessionEstablished",
    "State",
    "StateChanged",
    "TcpConnectionAcknowledged",
    "TcpConnectionConfirmed",
    "TcpConnectionFails",
    "Timer",
    "TimerExpired",
    "Transition",
    "UpdateMessageError",
    "UpdateReceived",
    "Verdict",
    "preferred_origin",
    "resolve_collision",
]
