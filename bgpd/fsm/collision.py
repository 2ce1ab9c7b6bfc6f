"""Connection collision resolution (RFC 4271 §6.8, RFC 6286 §2.3), as a pure decision.

The speaker holds the two connections (and their sessions) of one configured peering and asks
``resolve_collision`` which one to close; it then feeds ``CollisionDump`` to the loser's session,
which sends Cease / Connection Collision Resolution (RFC 4486 subcode 7) and goes Idle.
"""

from __future__ import annotations

from enum import Enum

from bgpd.fsm.states import State


class Origin(Enum):
    """Who opened a connection (RFC 4271 §8.2.1: "outgoing" sent the first SYN)."""

    LOCAL = "local"  # outgoing: we connected
    REMOTE = "remote"  # incoming: the peer connected


class Verdict(Enum):
    """What to do with the connection that appeared second ("new") given the existing one."""

    NO_COLLISION = "no-collision"  # existing is Idle/Connect/Active: nothing collides (§6.8)
    UNDECIDED = "undecided"  # the peer's BGP Identifier is not known yet: keep both for now
    CLOSE_NEW = "close-new"
    CLOSE_EXISTING = "close-existing"


_UNDETECTABLE = frozenset({State.IDLE, State.CONNECT, State.ACTIVE})


def preferred_origin(local_id: int, remote_id: int, local_as: int, remote_as: int) -> Origin:
    """The connection to keep: the one opened by the speaker with the higher BGP Identifier
    (§6.8, identifiers compared as unsigned integers); with equal identifiers, the one opened by
    the speaker with the larger AS number (RFC 6286 §2.3)."""
    if local_id != remote_id:
        return Origin.LOCAL if local_id > remote_id else Origin.REMOTE
    return Origin.LOCAL if local_as > remote_as else Origin.REMOTE


def resolve_collision(
    existing_state: State,
    existing_origin: Origin,
    new_origin: Origin,
    *,
    local_id: int,
    local_as: int,
    remote_id: int | None,
    remote_as: int | None,
) -> Verdict:
    """Decide between an existing connection and a new one to the same peer.

    ``remote_id``/``remote_as`` come from the first OPEN received on either connection (None while
    neither has one). An Established connection always wins (§6.8, no CollisionDetectEstablishedState);
    in Idle, Connect or Active no collision can be detected; two connections of the same origin are
    not a collision pair, so the newer one goes.
    """
    if existing_state is State.ESTABLISHED:
        return Verdict.CLOSE_NEW
    if existing_state in _UNDETECTABLE:
        return Verdict.NO_COLLISION
    if existing_origin is new_origin:
        return Verdict.CLOSE_NEW
    if remote_id is None or remote_as is None:
        return Verdict.UNDECIDED
    keep = preferred_origin(local_id, remote_id, local_as, remote_as)
    return Verdict.CLOSE_NEW if keep is existing_origin else Verdict.CLOSE_EXISTING
