"""Any sequence of events, or any bytes, leaves the session in a consistent state without raising."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.fsm import BytesReceived, CloseConnection, Session, State, StateChanged, Timer
from bgpd.wire.constants import MARKER

from ._helpers import CFG_A, session_in
from .test_matrix import EVENTS

_NAMES = sorted(EVENTS)


def _check(session: Session) -> None:
    running = set(session.timers.snapshot())
    if session.state is State.IDLE:
        assert running <= {Timer.IDLE_HOLD}
        assert session.negotiated is None
    if session.state is State.ESTABLISHED:
        assert session.negotiated is not None and session.established_at is not None
        assert Timer.HOLD in running
    else:
        assert session.established_at is None
    if session.state in (State.OPEN_CONFIRM, State.ESTABLISHED):
        assert session.peer_id is not None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_NAMES), st.floats(0, 400)), max_size=40))
def test_random_event_sequences(steps: list[tuple[str, float]]) -> None:
    session = Session(CFG_A)
    now = 0.0
    for name, delay in steps:
        now += delay
        before = session.state
        actions = session.handle(EVENTS[name], now) + session.handle_timers(now)
        changes = [a for a in actions if isinstance(a, StateChanged)]
        if changes:
            assert changes[0].old is before and changes[-1].new is session.state
        if before is not State.IDLE and session.state is State.IDLE and changes:
            assert CloseConnection() in actions
        _check(session)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(State)), st.lists(st.binary(max_size=64), max_size=8))
def test_random_bytes_never_raise(state: State, chunks: list[bytes]) -> None:
    session = session_in(state)
    for chunk in chunks:
        session.handle(BytesReceived(chunk), 1.0)
        _check(session)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(list(State)),
    st.lists(st.tuples(st.integers(1, 5), st.binary(max_size=48)), min_size=1, max_size=6),
)
def test_random_framed_messages_never_raise(state: State, messages: list[tuple[int, bytes]]) -> None:
    """Well-framed messages with arbitrary bodies reach the decoders and the table."""
    session = session_in(state)
    raw = b"".join(MARKER + (19 + len(b)).to_bytes(2, "big") + bytes((t,)) + b for t, b in messages)
    session.handle(BytesReceived(raw), 1.0)
    _check(session)
