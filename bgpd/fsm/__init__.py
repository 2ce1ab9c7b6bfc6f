"""bgpd.fsm: the RFC 4271 §8 state machine of one BGP session, sans-IO.

Modules: ``states`` (State), ``events`` (inputs), ``actions`` (outputs), ``timers`` (deadlines),
``config`` (FsmConfig), ``negotiation`` (OPEN checks, capabilities -> Negotiated + codec contexts),
``collision`` (RFC 4271 §6.8 decision), ``reasons`` (why a transition happened), ``session``
(Session and its transition table). The session keeps the state of its connection; what
happened leaves it as facts among its actions, for the driver's one record per session.

Supported: RFC 4271 §8 with the optional PassiveTcpEstablishment, DelayOpen, DampPeerOscillations
(IdleHoldTimer) and OpenCollisionDump; RFC 6608 FSM error subcodes; RFC 4760, 6793, 2918, 7313,
8654, 8950, 7911 and 4724 capability negotiation; RFC 7606 UPDATE error actions; RFC 9003 shutdown
communication.
"""

from bgpd.fsm.actions import (
    Action,
    CloseConnection,
    Command,
    Connect,
    Fact,
    FamilyIgnored,
    MessageReceived,
    PeerNotification,
    RouteRefreshRequested,
    RoutesReceived,
    Send,
    SessionDown,
    SessionEstablished,
    StateChanged,
    UpdateRepaired,
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
    PrefixLimitReached,
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
from bgpd.fsm.session import TRANSITIONS, FsmUsageError, Rule, Session
from bgpd.fsm.states import State
from bgpd.fsm.timers import Timer

__all__ = [
    "TRANSITIONS",
    "Action",
    "AutomaticStart",
    "AutomaticStop",
    "BytesReceived",
    "CloseConnection",
    "CollisionDump",
    "Command",
    "Connect",
    "Event",
    "Fact",
    "FamilyIgnored",
    "FsmConfig",
    "FsmUsageError",
    "HeaderError",
    "KeepaliveReceived",
    "ManualStart",
    "ManualStop",
    "MessageReceived",
    "Negotiated",
    "NotificationReceived",
    "OpenMessageError",
    "OpenReceived",
    "Origin",
    "PeerNotification",
    "PrefixLimitReached",
    "Reason",
    "RouteRefreshReceived",
    "RouteRefreshRequested",
    "RoutesReceived",
    "Rule",
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
    "UpdateMessageError",
    "UpdateReceived",
    "UpdateRepaired",
    "Verdict",
    "preferred_origin",
    "resolve_collision",
]
