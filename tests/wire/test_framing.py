"""Framing (RFC 4271 §4.1, §6.1): stream cutting in any piece size and the exact header errors."""

from __future__ import annotations

import time

import pytest

from bgpd.wire.constants import MARKER, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, MessageType
from bgpd.wire.errors import NotificationError
from bgpd.wire.framing import Framer, MessageTooLongError, encode_header

KEEPALIVE = MARKER + b"\x00\x13\x04"


def raw(length: int, msg_type: int, body: bytes = b"", marker: bytes = MARKER) -> bytes:
    return marker + length.to_bytes(2, "big") + bytes((msg_type,)) + body


def frames(framer: Framer, data: bytes) -> list[tuple[MessageType, bytes]]:
    return list(framer.feed(data))


def test_encode_header_layout() -> None:
    assert encode_header(MessageType.UPDATE, b"\x00\x00\x00\x00") == raw(23, 2, b"\x00" * 4)


def test_encode_header_refuses_too_long() -> None:
    with pytest.raises(MessageTooLongError):
        encode_header(MessageType.UPDATE, bytes(MAX_MESSAGE_LEN - 19 + 1), MAX_MESSAGE_LEN)
    assert len(encode_header(MessageType.UPDATE, bytes(MAX_MESSAGE_LEN - 19), MAX_MESSAGE_LEN)) == 4096


def test_several_messages_in_one_piece() -> None:
    update = raw(23, 2, b"\x00\x00\x00\x00")
    notification = raw(21, 3, b"\x06\x02")
    assert frames(Framer(), KEEPALIVE + update + notification) == [
        (MessageType.KEEPALIVE, b""),
        (MessageType.UPDATE, b"\x00\x00\x00\x00"),
        (MessageType.NOTIFICATION, b"\x06\x02"),
    ]


def test_one_byte_at_a_time() -> None:
    stream = KEEPALIVE + raw(23, 2, b"\x00\x00\x00\x00") + raw(23, 5, b"\x00\x01\x00\x01") + KEEPALIVE
    framer = Framer()
    out: list[tuple[MessageType, bytes]] = []
    for i in range(len(stream)):
        out += framer.feed(stream[i : i + 1])
    assert [t for t, _ in out] == [
        MessageType.KEEPALIVE,
        MessageType.UPDATE,
        MessageType.ROUTE_REFRESH,
        MessageType.KEEPALIVE,
    ]
    assert out[2][1] == b"\x00\x01\x00\x01"
    assert framer.buffered == 0


def test_partial_message_stays_buffered() -> None:
    framer = Framer()
    assert frames(framer, KEEPALIVE[:10]) == []
    assert framer.buffered == 10
    assert frames(framer, KEEPALIVE[10:] + KEEPALIVE[:3]) == [(MessageType.KEEPALIVE, b"")]
    assert framer.buffered == 3


def test_messages_before_an_error_come_out_first() -> None:
    framer = Framer()
    iterator = framer.feed(KEEPALIVE + raw(19, 9))
    assert next(iterator) == (MessageType.KEEPALIVE, b"")
    with pytest.raises(NotificationError) as info:
        next(iterator)
    assert (info.value.code, info.value.subcode, info.value.data) == (1, 3, b"\x09")


def test_framer_stays_failed() -> None:
    framer = Framer()
    with pytest.raises(NotificationError):
        frames(framer, raw(19, 4, marker=b"\x00" * 16))
    with pytest.raises(NotificationError) as info:
        frames(framer, KEEPALIVE)
    assert (info.value.code, info.value.subcode) == (1, 1)


def test_unread_messages_come_out_of_the_next_feed() -> None:
    framer = Framer()
    iterator = framer.feed(KEEPALIVE * 3)
    assert next(iterator) == (MessageType.KEEPALIVE, b"")
    assert frames(framer, b"") == [(MessageType.KEEPALIVE, b"")] * 2


def test_max_len_can_be_raised_after_rfc8654() -> None:
    big = raw(5000, 2, bytes(5000 - 19))
    framer = Framer()
    with pytest.raises(NotificationError) as info:
        frames(framer, big)
    assert (info.value.code, info.value.subcode, info.value.data) == (1, 2, (5000).to_bytes(2, "big"))
    framer = Framer()
    framer.max_len = MAX_EXTENDED_MESSAGE_LEN
    assert frames(framer, big) == [(MessageType.UPDATE, bytes(5000 - 19))]
    assert Framer(MAX_EXTENDED_MESSAGE_LEN).max_len == MAX_EXTENDED_MESSAGE_LEN


def test_max_len_rejects_values_outside_the_rfc_range() -> None:
    with pytest.raises(ValueError):
        Framer(4095)
    with pytest.raises(ValueError):
        Framer().max_len = 65536


def test_open_stays_within_4096_after_extended_message() -> None:
    framer = Framer(MAX_EXTENDED_MESSAGE_LEN)
    with pytest.raises(NotificationError) as info:
        frames(framer, raw(4097, 1, bytes(4097 - 19)))
    assert (info.value.code, info.value.subcode, info.value.data) == (1, 2, b"\x10\x01")


# RFC 4271 §6.1: every header rule, with the exact (code, subcode, data) of the NOTIFICATION.
HEADER_ERRORS = [
    ("marker not all ones", raw(19, 4, marker=b"\xff" * 15 + b"\xfe"), (1, 1, b"")),
    ("marker all zeros", raw(19, 4, marker=bytes(16)), (1, 1, b"")),
    ("length below 19", raw(18, 4), (1, 2, b"\x00\x12")),
    ("length zero", raw(0, 4), (1, 2, b"\x00\x00")),
    ("length above 4096", raw(4097, 2), (1, 2, b"\x10\x01")),
    ("length 65535 without extended message", raw(0xFFFF, 2), (1, 2, b"\xff\xff")),
    ("OPEN shorter than 29", raw(28, 1, bytes(9)), (1, 2, b"\x00\x1c")),
    ("UPDATE shorter than 23", raw(22, 2, bytes(3)), (1, 2, b"\x00\x16")),
    ("NOTIFICATION shorter than 21", raw(20, 3, b"\x06"), (1, 2, b"\x00\x14")),
    ("KEEPALIVE longer than 19", raw(20, 4, b"\x00"), (1, 2, b"\x00\x14")),
    ("type 0", raw(19, 0), (1, 3, b"\x00")),
    ("type 6", raw(19, 6), (1, 3, b"\x06")),
    ("type 255", raw(23, 255, bytes(4)), (1, 3, b"\xff")),
]


@pytest.mark.parametrize(("name", "data", "expected"), HEADER_ERRORS, ids=[c[0] for c in HEADER_ERRORS])
def test_header_errors(name: str, data: bytes, expected: tuple[int, int, bytes]) -> None:
    framer = Framer()
    with pytest.raises(NotificationError) as info:
        for i in range(len(data)):  # also byte by byte: the error must not depend on the pieces
            frames(framer, data[i : i + 1])
    assert (info.value.code, info.value.subcode, info.value.data) == expected


def test_header_error_raised_as_soon_as_the_header_is_complete() -> None:
    framer = Framer()
    assert frames(framer, raw(4097, 2)[:18]) == []
    with pytest.raises(NotificationError):
        frames(framer, b"\x02")  # the 19th octet: body not needed to judge the header


def test_route_refresh_length_is_left_to_its_decoder() -> None:
    # RFC 7313 §5 answers a bad ROUTE-REFRESH length with 7/1, which needs the whole message.
    assert frames(Framer(), raw(24, 5, bytes(5))) == [(MessageType.ROUTE_REFRESH, bytes(5))]


def test_large_stream_is_linear() -> None:
    """40 MB of full-size UPDATEs in 1400-octet segments: quadratic copying would take minutes."""
    message = raw(4096, 2, bytes(4096 - 19))
    count = 10_000
    stream = message * count
    framer = Framer()
    seen = 0
    start = time.perf_counter()
    for offset in range(0, len(stream), 1400):
        for msg_type, body in framer.feed(stream[offset : offset + 1400]):
            seen += msg_type is MessageType.UPDATE and len(body) == 4077
    elapsed = time.perf_counter() - start
    assert seen == count
    assert elapsed < 10, f"framing 40 MB took {elapsed:.1f}s"


def test_large_single_feed() -> None:
    framer = Framer()
    stream = KEEPALIVE * 200_000
    assert sum(1 for _ in framer.feed(stream)) == 200_000
    assert framer.buffered == 0


def test_largest_message_one_byte_at_a_time() -> None:
    """A 65535-octet message arriving octet by octet: each piece costs O(1), not a rescan."""
    message = raw(0xFFFF, 2, bytes(range(256)) * 255 + bytes(0xFFFF - 19 - 256 * 255))
    framer = Framer(MAX_EXTENDED_MESSAGE_LEN)
    out: list[tuple[MessageType, bytes]] = []
    for i in range(len(message)):
        out += framer.feed(message[i : i + 1])
    assert out == [(MessageType.UPDATE, message[19:])]
