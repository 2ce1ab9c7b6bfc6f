"""NOTIFICATION (RFC 4271 §4.5), names of codes/subcodes, RFC 9003 shutdown communication, KEEPALIVE."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.wire import constants as c
from bgpd.wire import decode_message, encode_message
from bgpd.wire.constants import MARKER, CeaseSub, ErrorCode, MessageType
from bgpd.wire.context import DEFAULT_CONTEXT
from bgpd.wire.errors import NotificationError
from bgpd.wire.keepalive import Keepalive
from bgpd.wire.names import error_code_name, error_name, error_subcode_name
from bgpd.wire.notification import Notification


def test_exact_encoding() -> None:
    message = Notification(2, 2, b"\xfd\xe9")  # Bad Peer AS with the AS as data
    assert encode_message(message, DEFAULT_CONTEXT) == MARKER + b"\x00\x17\x03\x02\x02\xfd\xe9"
    assert decode_message(MessageType.NOTIFICATION, b"\x02\x02\xfd\xe9", DEFAULT_CONTEXT) == message


def test_unknown_codes_are_kept() -> None:
    assert Notification.decode(b"\x63\x09\x01", DEFAULT_CONTEXT) == Notification(99, 9, b"\x01")


@pytest.mark.parametrize("body", [b"", b"\x06"])
def test_short_body_is_bad_message_length(body: bytes) -> None:
    with pytest.raises(NotificationError) as info:
        Notification.decode(body, DEFAULT_CONTEXT)
    assert (info.value.code, info.value.subcode, info.value.data) == (
        1,
        2,
        (19 + len(body)).to_bytes(2, "big"),
    )


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=300))
def test_round_trip(code: int, subcode: int, data: bytes) -> None:
    message = Notification(code, subcode, data)
    wire = encode_message(message, DEFAULT_CONTEXT)
    assert decode_message(MessageType.NOTIFICATION, wire[19:], DEFAULT_CONTEXT) == message


def test_from_error() -> None:
    error = NotificationError(1, 2, b"\x00\x12", "short")
    assert Notification.from_error(error) == Notification(1, 2, b"\x00\x12")


def test_from_error_cuts_data_to_fit_the_message() -> None:
    error = NotificationError(7, 1, bytes(range(256)) * 40, "long ROUTE-REFRESH")
    message = Notification.from_error(error)
    assert len(encode_message(message, DEFAULT_CONTEXT)) == 4096
    assert message.data == error.data[: 4096 - 21]
    extended = Notification.from_error(error, 65535)
    assert extended.data == error.data


@pytest.mark.parametrize(
    ("code", "subcode", "name"),
    [
        (6, 2, "Cease / Administrative Shutdown"),
        (6, 4, "Cease / Administrative Reset"),
        (6, 9, "Cease / Hard Reset"),
        (6, 0, "Cease / Unspecific"),
        (1, 1, "Message Header Error / Connection Not Synchronized"),
        (2, 7, "OPEN Message Error / Unsupported Capability"),
        (3, 11, "UPDATE Message Error / Malformed AS_PATH"),
        (4, 0, "Hold Timer Expired"),
        (5, 1, "Finite State Machine Error / Receive Unexpected Message in OpenSent State"),
        (7, 1, "ROUTE-REFRESH Message Error / Invalid Message Length"),
        (6, 77, "Cease / Unknown Subcode 77"),
        (42, 1, "Unknown Error Code 42 / Unknown Subcode 1"),
    ],
)
def test_names(code: int, subcode: int, name: str) -> None:
    assert error_name(code, subcode) == name
    assert Notification(code, subcode).name == name


def test_every_enum_member_has_a_name() -> None:
    for code, subcodes in [
        (ErrorCode.MESSAGE_HEADER, c.HeaderSub),
        (ErrorCode.OPEN_MESSAGE, c.OpenSub),
        (ErrorCode.UPDATE_MESSAGE, c.UpdateSub),
        (ErrorCode.FSM, c.FsmSub),
        (ErrorCode.CEASE, c.CeaseSub),
        (ErrorCode.ROUTE_REFRESH, c.RouteRefreshSub),
    ]:
        assert not error_code_name(code).startswith("Unknown")
        for sub in subcodes:
            assert not error_subcode_name(code, sub).startswith("Unknown"), (code, sub)


def test_shutdown_communication_round_trip() -> None:
    text = "maintenance: replacing line card — back at 14:00 UTC"
    message = Notification.shutdown(text)
    assert message.code == 6 and message.subcode == 2
    assert message.data[0] == len(text.encode())
    decoded = decode_message(MessageType.NOTIFICATION, message.encode(DEFAULT_CONTEXT), DEFAULT_CONTEXT)
    assert isinstance(decoded, Notification) and decoded.shutdown_message == text
    assert Notification.shutdown("bye", CeaseSub.ADMINISTRATIVE_RESET).shutdown_message == "bye"


def test_shutdown_communication_is_cut_at_255_octets_on_a_character_boundary() -> None:
    message = Notification.shutdown("é" * 200)  # 400 octets of UTF-8
    assert message.data[0] == 254 and len(message.data) == 255
    assert message.shutdown_message == "é" * 127


def test_shutdown_only_for_subcodes_2_and_4() -> None:
    with pytest.raises(ValueError):
        Notification.shutdown("x", CeaseSub.PEER_DECONFIGURED)


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (Notification(6, 2, b"\x05hello"), "hello"),
        (Notification(6, 4, b"\x02hi\x00\x01"), "hi"),  # trailing octets allowed, ignored
        (Notification(6, 2, b"\x06hello"), None),  # length past the data: not interpreted (RFC 9003 §4)
        (Notification(6, 2, b"\x02\xc3\x28"), None),  # invalid UTF-8
        (Notification(6, 2, b"\x00"), None),  # zero length: no communication
        (Notification(6, 2, b""), None),
        (Notification(6, 3, b"\x05hello"), None),  # Peer De-configured carries none
        (Notification(2, 2, b"\x05hello"), None),
    ],
)
def test_shutdown_message_property(message: Notification, text: str | None) -> None:
    assert message.shutdown_message == text
    if text is None and message.data:
        assert Notification.decode(message.encode(DEFAULT_CONTEXT), DEFAULT_CONTEXT).data == message.data


def test_hard_reset_stands_for_a_cease() -> None:
    """RFC 8538 §3: the data of a Hard Reset is the subcode of the Cease it stands for, then that
    Cease's data; an RFC 9003 communication inside it stays readable."""
    inner = Notification.shutdown("decommissioned", CeaseSub.ADMINISTRATIVE_SHUTDOWN)
    hard = Notification.hard_reset(inner)
    assert (hard.code, hard.subcode) == (ErrorCode.CEASE, CeaseSub.HARD_RESET) and hard.is_hard_reset
    assert hard.data == b"\x02\x0edecommissioned"
    assert encode_message(hard, DEFAULT_CONTEXT)[19:] == b"\x06\x09\x02\x0edecommissioned"
    assert hard.inner == inner and hard.shutdown_message == "decommissioned"
    assert hard.name == "Cease / Hard Reset (Administrative Shutdown)"
    assert not inner.is_hard_reset and inner.inner is None
    bare = Notification(ErrorCode.CEASE, CeaseSub.HARD_RESET)  # a peer may send no data
    assert bare.inner is None and bare.name == "Cease / Hard Reset" and bare.shutdown_message is None


@pytest.mark.parametrize("wrong", [Notification(4, 0), Notification(6, CeaseSub.HARD_RESET, b"\x02")])
def test_hard_reset_only_of_another_cease(wrong: Notification) -> None:
    with pytest.raises(ValueError, match="Hard Reset stands for another Cease"):
        Notification.hard_reset(wrong)


def test_keepalive() -> None:
    assert encode_message(Keepalive(), DEFAULT_CONTEXT) == MARKER + b"\x00\x13\x04"
    assert decode_message(MessageType.KEEPALIVE, b"", DEFAULT_CONTEXT) == Keepalive()
    with pytest.raises(NotificationError) as info:
        decode_message(MessageType.KEEPALIVE, b"\x00\x00", DEFAULT_CONTEXT)
    assert (info.value.code, info.value.subcode, info.value.data) == (1, 2, b"\x00\x15")
