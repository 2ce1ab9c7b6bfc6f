"""Connection collision (RFC 4271 §6.8, RFC 6286 §2.3): the pure decision, and two pairs of
sessions colliding for real, with both speakers closing the same connection."""

from __future__ import annotations

import pytest

from bgpd.fsm import (
    CollisionDump,
    FsmConfig,
    ManualStart,
    Origin,
    PeerNotification,
    Reason,
    Session,
    State,
    Verdict,
    preferred_origin,
    resolve_collision,
)

from ._helpers import CFG_A, CFG_B, ID_A, ID_B, Pair, notifications


def test_higher_identifier_keeps_its_own_connection() -> None:
    assert preferred_origin(ID_B, ID_A, 65002, 65001) is Origin.LOCAL
    assert preferred_origin(ID_A, ID_B, 65001, 65002) is Origin.REMOTE


def test_identifiers_compare_unsigned() -> None:
    assert preferred_origin(0xFF000000, 0x7F000000, 1, 2) is Origin.LOCAL


def test_equal_identifiers_fall_back_to_the_larger_as() -> None:
    assert preferred_origin(ID_A, ID_A, 65010, 65001) is Origin.LOCAL
    assert preferred_origin(ID_A, ID_A, 65001, 65010) is Origin.REMOTE


@pytest.mark.parametrize(
    ("state", "local_id", "remote_id", "expected"),
    [
        (State.ESTABLISHED, ID_A, ID_B, Verdict.CLOSE_NEW),  # the pre-Established rule
        (State.ESTABLISHED, ID_B, ID_A, Verdict.CLOSE_NEW),
        (State.CONNECT, ID_A, ID_B, Verdict.NO_COLLISION),
        (State.ACTIVE, ID_A, ID_B, Verdict.NO_COLLISION),
        (State.IDLE, ID_A, ID_B, Verdict.NO_COLLISION),
        (State.OPEN_SENT, ID_A, None, Verdict.UNDECIDED),
        # existing outgoing, new incoming: the lower local id gives way to the remote's connection
        (State.OPEN_CONFIRM, ID_A, ID_B, Verdict.CLOSE_EXISTING),
        (State.OPEN_CONFIRM, ID_B, ID_A, Verdict.CLOSE_NEW),
        (State.OPEN_SENT, ID_B, ID_A, Verdict.CLOSE_NEW),
    ],
)
def test_resolution(state: State, local_id: int, remote_id: int | None, expected: Verdict) -> None:
    verdict = resolve_collision(
        state,
        Origin.LOCAL,
        Origin.REMOTE,
        local_id=local_id,
        local_as=65001,
        remote_id=remote_id,
        remote_as=None if remote_id is None else 65002,
    )
    assert verdict is expected


def test_same_origin_twice_closes_the_new_one() -> None:
    verdict = resolve_collision(
        State.OPEN_CONFIRM,
        Origin.REMOTE,
        Origin.REMOTE,
        local_id=ID_A,
        local_as=1,
        remote_id=ID_B,
        remote_as=2,
    )
    assert verdict is Verdict.CLOSE_NEW


def test_both_speakers_close_the_same_connection() -> None:
    """A and B connect to each other at once: connection 1 opened by A, connection 2 by B. With
    all four sessions in OpenConfirm each speaker decides from its own view; B has the higher
    identifier, so both close connection 1 and connection 2 comes up."""
    one = _to_open_confirm(CFG_A, CFG_B)  # "a" is A's session on connection 1
    two = _to_open_confirm(CFG_B, CFG_A)  # "a" is B's session on connection 2
    a_view = _decide(one.a, CFG_A)  # A: existing = connection 1 (its own), new = connection 2
    b_view = _decide(two.a, CFG_B)  # B: existing = connection 2 (its own), new = connection 1
    assert a_view is Verdict.CLOSE_EXISTING  # A closes connection 1 ...
    assert b_view is Verdict.CLOSE_NEW  # ... and so does B
    actions = one.feed("a", CollisionDump())
    assert [(n.code, n.subcode) for n in notifications(actions)] == [(6, 7)]
    assert one.a.state is State.IDLE and one.a.reason is Reason.CONNECTION_COLLISION
    one.run()
    assert one.b.state is State.IDLE
    got = [a.message for a in one.log["b"] if isinstance(a, PeerNotification)]
    assert [n.name for n in got] == ["Cease / Connection Collision Resolution"]
    two.run()
    assert (two.a.state, two.b.state) == (State.ESTABLISHED, State.ESTABLISHED)


def _to_open_confirm(first: FsmConfig, second: FsmConfig) -> Pair:
    """A pair whose final KEEPALIVEs are still in flight (both sides in OpenConfirm)."""
    pair = Pair(Session(first), Session(second))
    pair.feed("a", ManualStart())
    pair.feed("b", ManualStart(passive=True))
    pair.connect()  # both sent their OPEN
    pair.step()  # each receives the other's OPEN and queues a KEEPALIVE
    assert (pair.a.state, pair.b.state) == (State.OPEN_CONFIRM, State.OPEN_CONFIRM)
    return pair


def _decide(existing: Session, config: FsmConfig) -> Verdict:
    """One speaker's decision: ``existing`` is its own (outgoing) connection, the new one incoming."""
    assert existing.negotiated is not None
    return resolve_collision(
        existing.state,
        Origin.LOCAL,
        Origin.REMOTE,
        local_id=config.bgp_id,
        local_as=config.local_as,
        remote_id=existing.peer_id,
        remote_as=existing.negotiated.peer_as,
    )
