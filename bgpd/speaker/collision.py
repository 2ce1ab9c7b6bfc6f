"""Connection collisions (RFC 4271 §6.8) on the speaker's side: a session's connections, which
connection an arriving one becomes, and which survives when two exist.

A session has one connection with its FSM (the *primary*: its state is the session's). A
connection accepted while the primary is in OpenSent/OpenConfirm gets a second FSM of its own (the
*secondary*, RFC 4271 §8.2.1.2). Once either has the peer's OPEN (so its BGP Identifier),
``bgpd.fsm.resolve_collision`` decides which connection survives; the loser's FSM gets
``CollisionDump`` and closes it with Cease / Connection Collision Resolution (RFC 4486 subcode 7).
A connection arriving while the session is Established (or while two exist) is refused the same
way. One arriving while the session is Idle waiting for its automatic restart is the restart
(RFC 4271 §8.1.2 event 5, then event 17: see ``bgpd.fsm.session``), so a peer that comes back is
not kept out by our back-off; only a session that is administratively down (or Idle without a
pending restart) answers Cease / Connection Rejected (subcode 5).

Pure decisions over the links; the driver (``peer.py``) feeds the FSM events they call for.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from bgpd.fsm import Origin, Session, State, Verdict, resolve_collision
from bgpd.speaker.connection import Connection

_OPEN_STATES: Final = frozenset({State.OPEN_SENT, State.OPEN_CONFIRM})
_WAITING_STATES: Final = frozenset({State.IDLE, State.CONNECT, State.ACTIVE})


@dataclass(slots=True)
class Link:
    """One FSM with (at most) one TCP connection; ``origin`` says who opened it (§6.8)."""

    fsm: Session
    conn: Connection | None = None
    origin: Origin = Origin.LOCAL


class Arrival(Enum):
    """What an accepted connection from the session's peer becomes."""

    REFUSE = "refuse"  # Cease / Connection Rejected: the session is down (RFC 4271 §8.2.2 Idle)
    TAKE = "take"  # the session's connection: it was waiting (Connect/Active, or Idle to restart)
    COLLIDE = "collide"  # a second FSM, until §6.8 resolution decides
    REFUSE_COLLISION = "refuse-collision"  # Cease / Connection Collision Resolution


@dataclass(frozen=True, slots=True)
class Resolution:
    """The outcome of §6.8 between the two links: ``loser`` (if any) is to get ``CollisionDump``;
    ``promoted``: the secondary is now the session's connection."""

    loser: Link | None
    promoted: bool


class Links:
    """The session's connection and, during a collision, the colliding one."""

    __slots__ = ("primary", "secondary")

    def __init__(self, primary: Link) -> None:
        self.primary = primary
        self.secondary: Link | None = None

    def all(self) -> list[Link]:
        return [link for link in (self.secondary, self.primary) if link is not None]

    def of(self, conn: Connection) -> Link | None:
        for link in self.all():
            if link.conn is conn:
                return link
        return None

    @property
    def seeking(self) -> bool:
        """The session has no connection yet and is waiting for one (Connect/Active, or Idle)."""
        return self.primary.conn is None and self.primary.fsm.state in _WAITING_STATES

    def arrival(self, admin_down: bool) -> Arrival:
        """What a connection accepted from the peer becomes, given the session's state now."""
        fsm = self.primary.fsm
        if admin_down or (fsm.state is State.IDLE and not fsm.awaiting_restart):
            return Arrival.REFUSE
        if self.seeking:
            return Arrival.TAKE
        if fsm.state in _OPEN_STATES and self.secondary is None:
            return Arrival.COLLIDE
        return Arrival.REFUSE_COLLISION  # Established, or a third connection: the new one goes

    def resolve(self, local_id: int, local_as: int) -> Resolution | None:
        """RFC 4271 §6.8 between the two links, once it can be decided (None: nothing to do)."""
        second = self.secondary
        if second is None:
            return None
        if second.conn is None:  # the extra connection went away by itself
            self.secondary = None
            return None
        first = self.primary
        peer = first.fsm.peer_open or second.fsm.peer_open
        verdict = resolve_collision(
            first.fsm.state,
            first.origin,
            second.origin,
            local_id=local_id,
            local_as=local_as,
            remote_id=None if peer is None else peer.bgp_id,
            remote_as=None if peer is None else peer.asn,
        )
        if verdict is Verdict.UNDECIDED:
            return None
        self.secondary = None
        if verdict is Verdict.CLOSE_NEW:
            return Resolution(loser=second, promoted=False)
        # CLOSE_EXISTING, or NO_COLLISION (the first lost its connection): the second one stays.
        self.primary = second
        return Resolution(loser=first if verdict is Verdict.CLOSE_EXISTING else None, promoted=True)
