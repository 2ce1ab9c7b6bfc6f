"""Shared fixtures for the FSM tests: configurations, a peer's OPEN, sessions driven to each state,
and ``Pair``: two sessions joined by an in-memory "network" with a fake clock (no sockets, no sleeps)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from bgpd.fsm import (
    Action,
    CloseConnection,
    Connect,
    Event,
    FsmConfig,
    KeepaliveReceived,
    ManualStart,
    MessageReceived,
    OpenReceived,
    Send,
    Session,
    State,
    StateChanged,
    TcpConnectionAcknowledged,
    TcpConnectionConfirmed,
    TcpConnectionFails,
)
from bgpd.fsm.events import BytesReceived
from bgpd.plan import SessionConfig
from bgpd.wire.capabilities import FourOctetAs, Multiprotocol, RouteRefreshCapability
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, MessageType
from bgpd.wire.notification import Notification
from bgpd.wire.open import Open

ID_A = 0x0A000001  # 10.0.0.1
ID_B = 0x0A000002  # 10.0.0.2
# The operator's settings as SessionConfig declares their defaults (the FSM has none of its own).
TIMERS = SessionConfig(
    name="fsm-tests",
    local_ip=ipaddress.ip_address("10.0.0.1"),
    peer_ip=ipaddress.ip_address("10.0.0.2"),
    local_asn=65001,
    peer_asn=65002,
    router_id=ipaddress.IPv4Address(ID_A),
)
SETTINGS = {
    "hold_time": TIMERS.hold_time,
    "keepalive_time": TIMERS.keepalive_time,
    "connect_retry_time": TIMERS.connect_retry_time,
    "passive": TIMERS.passive,
    "delay_open_time": TIMERS.delay_open_time,
    "damp_peer_oscillations": TIMERS.damp_peer_oscillations,
    "idle_hold_time": TIMERS.idle_hold_time,
    "idle_hold_max": TIMERS.idle_hold_max,
}
CFG_A = FsmConfig(
    local_as=65001, peer_as=65002, bgp_id=ID_A, families=(IPV4_UNICAST, IPV6_UNICAST), **SETTINGS
)
CFG_B = FsmConfig(
    local_as=65002, peer_as=65001, bgp_id=ID_B, families=(IPV4_UNICAST, IPV6_UNICAST), **SETTINGS
)

PEER_OPEN = Open(
    my_as=65002,
    hold_time=90,
    bgp_id=ID_B,
    capabilities=(Multiprotocol(1, 1), Multiprotocol(2, 1), RouteRefreshCapability(), FourOctetAs(65002)),
)


def session_in(state: State, config: FsmConfig = CFG_A, now: float = 0.0) -> Session:
    """A session of ``config`` brought to ``state`` by the shortest sequence of events."""
    session = Session(config)
    steps: dict[State, list[Event]] = {
        State.IDLE: [],
        State.CONNECT: [ManualStart()],
        State.ACTIVE: [ManualStart(passive=True)],
        State.OPEN_SENT: [ManualStart(), TcpConnectionAcknowledged()],
        State.OPEN_CONFIRM: [ManualStart(), TcpConnectionAcknowledged(), OpenReceived(PEER_OPEN)],
        State.ESTABLISHED: [
            ManualStart(),
            TcpConnectionAcknowledged(),
            OpenReceived(PEER_OPEN),
            KeepaliveReceived(),
        ],
    }
    for event in steps[state]:
        session.handle(event, now)
    assert session.state is state
    return session


def sent(actions: list[Action]) -> list[object]:
    return [a.message for a in actions if isinstance(a, Send)]


def notifications(actions: list[Action]) -> list[Notification]:
    return [m for m in sent(actions) if isinstance(m, Notification)]


def sent_count(actions: list[Action], msg_type: MessageType) -> int:
    return sum(1 for m in sent(actions) if getattr(m, "TYPE", None) is msg_type)


def received_count(actions: list[Action], msg_type: MessageType) -> int:
    """Messages of ``msg_type`` the session reported framing (``MessageReceived`` facts)."""
    return sum(1 for a in actions if isinstance(a, MessageReceived) and a.type is msg_type)


def changes(actions: list[Action]) -> list[StateChanged]:
    return [a for a in actions if isinstance(a, StateChanged)]


@dataclass
class Pair:
    """Sessions ``a`` and ``b`` and the bytes in flight between them.

    ``connect()`` joins them (by default a outgoing, b incoming); ``Send`` actions are encoded by the sending
    session and delivered ``chunk`` octets at a time; ``CloseConnection`` tells the other side
    ``TcpConnectionFails`` once the bytes sent before it were delivered.
    """

    a: Session
    b: Session
    now: float = 0.0
    chunk: int | None = None
    log: dict[str, list[Action]] = field(default_factory=lambda: {"a": [], "b": []})
    _wire: dict[str, bytearray] = field(default_factory=lambda: {"a": bytearray(), "b": bytearray()})
    _closed: set[str] = field(default_factory=set)
    _connected: bool = False

    def session(self, side: str) -> Session:
        return self.a if side == "a" else self.b

    def feed(self, side: str, event: Event) -> list[Action]:
        actions = self.session(side).handle(event, self.now)
        self._apply(side, actions)
        return actions

    def connect(self, outgoing: str = "a") -> None:
        """Bring the connection up; ``outgoing`` is the side that opened it."""
        self._closed.clear()
        self._wire = {"a": bytearray(), "b": bytearray()}
        self._connected = True
        self.feed(outgoing, TcpConnectionAcknowledged())
        self.feed("b" if outgoing == "a" else "a", TcpConnectionConfirmed())

    def fire_timers(self, side: str) -> list[Action]:
        """Only ``side``'s timers run (the other side is frozen, e.g. a peer that went silent)."""
        actions = self.session(side).handle_timers(self.now)
        self._apply(side, actions)
        return actions

    def apply(self, side: str, actions: list[Action]) -> None:
        """Carry out actions ``side`` produced outside ``feed`` (e.g. ``send_update``)."""
        self._apply(side, actions)

    def advance(self, seconds: float) -> None:
        """Move the fake clock, fire due timers on both sides, deliver what that produced."""
        self.now += seconds
        for side in ("a", "b"):
            self._apply(side, self.session(side).handle_timers(self.now))
        self.run()

    def advance_to_next_deadline(self) -> None:
        deadlines = [d for s in (self.a, self.b) if (d := s.next_deadline()) is not None]
        assert deadlines, "no timer running"
        self.advance(max(min(deadlines) - self.now, 0.0))

    def step(self) -> None:
        """Deliver what is in flight right now in both directions, once (replies stay queued)."""
        pending = {side: bytes(buf) for side, buf in self._wire.items()}
        for side, data in pending.items():
            del self._wire[side][: len(data)]
            if data:
                self.feed(side, BytesReceived(data))

    def run(self, rounds: int = 200) -> None:
        """Deliver bytes (and closes) until nothing is in flight."""
        for _ in range(rounds):
            progressed = False
            for side in ("a", "b"):
                buf = self._wire[side]
                if buf:
                    size = len(buf) if self.chunk is None else self.chunk
                    data = bytes(buf[:size])
                    del buf[:size]
                    self.feed(side, BytesReceived(data))
                    progressed = True
            if not progressed:
                for closer in sorted(self._closed):
                    other = "b" if closer == "a" else "a"
                    self._closed.discard(closer)
                    if self._connected and self.session(other).state is not State.IDLE:
                        self.feed(other, TcpConnectionFails())
                    progressed = True
                self._connected = self._connected and not progressed
            if not progressed:
                return
        raise AssertionError("the sessions did not quiesce")

    def _apply(self, side: str, actions: list[Action]) -> None:
        self.log[side].extend(actions)
        other = "b" if side == "a" else "a"
        session = self.session(side)
        for action in actions:
            if isinstance(action, Send) and self._connected and side not in self._closed:
                self._wire[other] += session.encode(action.message)
            elif isinstance(action, CloseConnection) and self._connected:
                self._closed.add(side)
            elif isinstance(action, Connect):
                pass  # the test decides when the connection comes up (connect())
