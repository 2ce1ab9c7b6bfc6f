"""encode∘decode is the identity for every non-UPDATE message, through the framer in random pieces."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.wire import Message, decode_message, encode_message
from bgpd.wire.capabilities import UnknownCapability
from bgpd.wire.constants import MAX_EXTENDED_MESSAGE_LEN
from bgpd.wire.context import CodecContext
from bgpd.wire.errors import NotificationError
from bgpd.wire.framing import Framer, MessageTooLongError
from bgpd.wire.keepalive import Keepalive
from bgpd.wire.notification import Notification
from bgpd.wire.open import Open
from tests.wire import _message_strategies as strat

CONTEXTS = st.builds(CodecContext, four_octet_as=st.booleans(), extended_message=st.booleans())


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(strat.messages, min_size=1, max_size=8), st.lists(st.integers(0, 20_000), max_size=20), CONTEXTS
)
def test_stream_round_trip(messages: list[Message], cuts: list[int], ctx: CodecContext) -> None:
    stream = b"".join(encode_message(m, ctx) for m in messages)
    framer = Framer(ctx.max_message_len)
    decoded = [
        decode_message(msg_type, body, ctx)
        for piece in split(stream, cuts)
        for msg_type, body in framer.feed(piece)
    ]
    assert decoded == messages
    assert framer.buffered == 0


@settings(max_examples=100, deadline=None)
@given(strat.messages, CONTEXTS)
def test_decode_then_encode_reproduces_our_bytes(message: Message, ctx: CodecContext) -> None:
    wire = encode_message(message, ctx)
    ((msg_type, body),) = Framer(ctx.max_message_len).feed(wire)
    assert encode_message(decode_message(msg_type, body, ctx), ctx) == wire


def test_notification_may_use_extended_length_only_when_negotiated() -> None:
    message = Notification(3, 1, bytes(5000))
    with pytest.raises(MessageTooLongError):
        encode_message(message, CodecContext())
    ctx = CodecContext(extended_message=True)
    wire = encode_message(message, ctx)
    ((msg_type, body),) = Framer(MAX_EXTENDED_MESSAGE_LEN).feed(wire)
    assert decode_message(msg_type, body, ctx) == message


def test_open_and_keepalive_ignore_extended_length() -> None:
    ctx = CodecContext(extended_message=True)
    big_open = Open(1, 90, 1, tuple(UnknownCapability(200, bytes(255)) for _ in range(17)))
    with pytest.raises(MessageTooLongError):
        encode_message(big_open, ctx)
    assert len(encode_message(Keepalive(), ctx)) == 19


@pytest.mark.parametrize("msg_type", [0, 6, 255])
def test_decode_message_rejects_unknown_types(msg_type: int) -> None:
    with pytest.raises(NotificationError) as info:
        decode_message(msg_type, b"", CodecContext())
    assert (info.value.code, info.value.subcode, info.value.data) == (1, 3, bytes((msg_type,)))
