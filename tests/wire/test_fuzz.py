"""Fuzzing: arbitrary and mutated bytes through ``Framer.feed`` and ``decode_message`` never raise
anything but ``NotificationError`` (``UpdateError`` is one), and the error is a sendable NOTIFICATION."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.wire import decode_message, encode_message
from bgpd.wire.constants import MARKER, MessageType
from bgpd.wire.context import CodecContext
from bgpd.wire.errors import NotificationError
from bgpd.wire.framing import Framer
from tests.wire import _message_strategies as strat

FUZZED_TYPES = list(MessageType)

CONTEXTS = st.builds(
    CodecContext,
    four_octet_as=st.booleans(),
    extended_message=st.booleans(),
    add_path=st.sampled_from([frozenset(), frozenset(strat.FAMILIES)]),
)


def _hex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def _frame(msg_type: int, body: bytes) -> bytes:
    return MARKER + (19 + len(body)).to_bytes(2, "big") + bytes((msg_type,)) + body


# Hand-assembled UPDATE bodies (RFC 4271 §4.3, RFC 4760 §3): seeds for mutation.
UPDATE_SEEDS = [
    _hex("0000 001b 40010100 4002060201 0000fde9 4003040a000001 800404 00000064 180a0000"),
    _hex(
        "0000 002e 40010100 4002060201 0000fde9"
        " 800e1e 0002 01 10 20010db8000000000000000000000001 00 40 20010db800000000"
    ),
    _hex("0004 180a0001 0000"),  # withdraw 10.0.1.0/24
    _hex("0000 0000"),  # IPv4 End-of-RIB
]
VECTORS = Path(__file__).parent / "vectors"
GOLDEN = [
    bytes.fromhex("".join("".join(line.split("#", 1)[0] for line in p.read_text().splitlines()).split()))
    for p in sorted(VECTORS.glob("open-*.hex"))
]


def consume(stream: bytes, ctx: CodecContext) -> int:
    """Frame and decode everything; return how many messages decoded cleanly."""
    framer = Framer(ctx.max_message_len)
    good = 0
    try:
        for msg_type, body in framer.feed(stream):
            if msg_type not in FUZZED_TYPES:
                continue
            try:
                decode_message(msg_type, body, ctx)
                good += 1
            except NotificationError as err:
                check_sendable(err)
    except NotificationError as err:
        check_sendable(err)
    return good


def check_sendable(err: NotificationError) -> None:
    assert 1 <= err.code <= 7, err
    assert 0 <= err.subcode <= 255, err
    assert isinstance(err.data, bytes)
    assert len(err.data) <= 4096 - 21 or err.code in (3, 7), err  # fits a NOTIFICATION


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(FUZZED_TYPES), st.binary(max_size=300), CONTEXTS)
def test_arbitrary_bodies(msg_type: MessageType, body: bytes, ctx: CodecContext) -> None:
    try:
        decode_message(msg_type, body, ctx)
    except NotificationError as err:
        check_sendable(err)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), CONTEXTS)
def test_arbitrary_stream(stream: bytes, ctx: CodecContext) -> None:
    consume(stream, ctx)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(FUZZED_TYPES), st.binary(max_size=120)), max_size=6), CONTEXTS)
def test_well_framed_random_bodies(parts: list[tuple[MessageType, bytes]], ctx: CodecContext) -> None:
    consume(b"".join(_frame(t, body) for t, body in parts), ctx)


Mutation = tuple[str, int, int]
MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
        st.integers(0, 5000),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=6,
)


def mutate(data: bytes, mutations: list[Mutation], fix_length: bool) -> bytes:
    out = bytearray(data)
    for op, where, value in mutations:
        if not out:
            break
        i = where % len(out)
        if op == "flip":
            out[i] ^= 1 << (value % 8)
        elif op == "set":
            out[i] = value
        elif op == "insert":
            out[i:i] = bytes((value,))
        elif op == "delete":
            del out[i]
        else:
            del out[i:]
    if fix_length and len(out) >= 19:  # let the damage reach the body decoder
        out[16:18] = min(len(out), 0xFFFF).to_bytes(2, "big")
    return bytes(out)


def _seed_messages() -> st.SearchStrategy[bytes]:
    ctx = CodecContext()
    generated = strat.messages.map(lambda m: encode_message(m, ctx))
    fixed = [*GOLDEN, *(_frame(MessageType.UPDATE, body) for body in UPDATE_SEEDS)]
    return st.one_of(generated, st.sampled_from(fixed))


@settings(max_examples=500, deadline=None)
@given(_seed_messages(), MUTATIONS, st.booleans(), CONTEXTS)
def test_mutated_valid_messages(
    seed: bytes, mutations: list[Mutation], fix_length: bool, ctx: CodecContext
) -> None:
    consume(mutate(seed, mutations, fix_length), ctx)


def test_seeds_decode_cleanly_before_mutation() -> None:
    """The mutation test only means something if its seeds are valid to begin with."""
    ctx = CodecContext()
    assert consume(b"".join(GOLDEN), ctx) == len(GOLDEN)


def test_update_bodies() -> None:
    ctx = CodecContext()
    assert consume(b"".join(_frame(MessageType.UPDATE, body) for body in UPDATE_SEEDS), ctx) == len(
        UPDATE_SEEDS
    )
