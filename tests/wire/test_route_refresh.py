"""ROUTE-REFRESH (RFC 2918 §3) and its RFC 7313 subtypes and length error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from bgpd.wire import decode_message, encode_message
from bgpd.wire.constants import MARKER, MAX_EXTENDED_MESSAGE_LEN, MessageType, RouteRefreshSubtype
from bgpd.wire.context import DEFAULT_CONTEXT
from bgpd.wire.errors import NotificationError
from bgpd.wire.framing import Framer
from bgpd.wire.route_refresh import RouteRefresh
from tests.wire import _message_strategies as strat


@pytest.mark.parametrize(
    ("message", "body_hex"),
    [
        (RouteRefresh(1, 1), "0001 00 01"),  # RFC 2918: AFI, reserved (0), SAFI
        (RouteRefresh(2, 1, RouteRefreshSubtype.BEGIN), "0002 01 01"),  # RFC 7313 BoRR
        (RouteRefresh(2, 1, RouteRefreshSubtype.END), "0002 02 01"),  # RFC 7313 EoRR
    ],
)
def test_exact_encoding(message: RouteRefresh, body_hex: str) -> None:
    body = bytes.fromhex(body_hex.replace(" ", ""))
    assert encode_message(message, DEFAULT_CONTEXT) == MARKER + b"\x00\x17\x05" + body
    decoded = decode_message(MessageType.ROUTE_REFRESH, body, DEFAULT_CONTEXT)
    assert decoded == message
    assert isinstance(decoded, RouteRefresh) and type(decoded.subtype) is RouteRefreshSubtype


def test_unknown_subtype_is_kept_for_the_receiver_to_ignore() -> None:
    decoded = RouteRefresh.decode(b"\x00\x01\x07\x01", DEFAULT_CONTEXT)
    assert decoded == RouteRefresh(1, 1, 7)
    assert decoded.subtype not in set(RouteRefreshSubtype)


@settings(max_examples=200, deadline=None)
@given(strat.route_refreshes)
def test_round_trip(message: RouteRefresh) -> None:
    ((msg_type, body),) = Framer().feed(encode_message(message, DEFAULT_CONTEXT))
    assert decode_message(msg_type, body, DEFAULT_CONTEXT) == message


@pytest.mark.parametrize("body", [b"", b"\x00\x01\x01", b"\x00\x01\x01\x01\x00", bytes(100)])
def test_bad_length_is_7_1_with_the_whole_message(body: bytes) -> None:
    """RFC 7313 §5: ROUTE-REFRESH Message Error / Invalid Message Length, data = complete message."""
    wire = MARKER + (19 + len(body)).to_bytes(2, "big") + b"\x05" + body
    framer = Framer(MAX_EXTENDED_MESSAGE_LEN)
    ((msg_type, framed),) = framer.feed(wire)
    with pytest.raises(NotificationError) as info:
        decode_message(msg_type, framed, DEFAULT_CONTEXT)
    assert (info.value.code, info.value.subcode, info.value.data) == (7, 1, wire)
