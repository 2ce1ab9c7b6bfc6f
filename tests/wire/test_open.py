"""OPEN (RFC 4271 §4.2, §6.2; RFC 5492; RFC 9072): golden messages from GoBGP and BIRD, the
extended optional parameters both ways, and every structural error the codec answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from bgpd.wire import decode_message, encode_message
from bgpd.wire.capabilities import (
    AddPath,
    AddPathFamily,
    EnhancedRouteRefresh,
    ExtendedMessage,
    ExtendedNextHop,
    ExtendedNextHopEntry,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    RouteRefreshCapability,
    UnknownCapability,
)
from bgpd.wire.constants import AS_TRANS, MARKER, AddPathMode, MessageType
from bgpd.wire.context import DEFAULT_CONTEXT
from bgpd.wire.errors import NotificationError
from bgpd.wire.framing import Framer
from bgpd.wire.open import Open, check_open
from tests.wire import _message_strategies as strat

VECTORS = Path(__file__).parent / "vectors"


def load_hex(name: str) -> bytes:
    lines = (line.split("#", 1)[0] for line in (VECTORS / name).read_text().splitlines())
    return bytes.fromhex("".join("".join(lines).split()))


GOBGP_OPEN = Open(
    my_as=65001,
    hold_time=90,
    bgp_id=0xC0000201,  # 192.0.2.1
    capabilities=(
        RouteRefreshCapability(),
        Fqdn("vm", ""),
        Multiprotocol(1, 1),
        Multiprotocol(2, 1),
        FourOctetAs(65001),
        ExtendedNextHop((ExtendedNextHopEntry(1, 1, 2),)),
    ),
)
BIRD_OPEN = Open(
    my_as=AS_TRANS,
    hold_time=240,
    bgp_id=0xC0000202,  # 192.0.2.2
    capabilities=(
        Multiprotocol(1, 1),
        Multiprotocol(2, 1),
        RouteRefreshCapability(),
        ExtendedMessage(),
        GracefulRestart(
            False, False, 120, (GracefulRestartFamily(1, 1, False), GracefulRestartFamily(2, 1, False))
        ),
        FourOctetAs(4200000001),
        AddPath((AddPathFamily(1, 1, AddPathMode.BOTH),)),
        EnhancedRouteRefresh(),
        UnknownCapability(71, b""),  # long-lived graceful restart, RFC 9494: not interpreted by bgpd
    ),
)


@pytest.mark.parametrize(
    ("name", "expected"), [("open-gobgp-3.10.0.hex", GOBGP_OPEN), ("open-bird-2.0.12.hex", BIRD_OPEN)]
)
def test_golden_open(name: str, expected: Open) -> None:
    wire = load_hex(name)
    ((msg_type, body),) = Framer().feed(wire)
    assert msg_type is MessageType.OPEN
    assert decode_message(msg_type, body, DEFAULT_CONTEXT) == expected
    # Both put every capability in one parameter, as we do, so our encoding is byte-identical.
    assert encode_message(expected, DEFAULT_CONTEXT) == wire


def test_real_asn_comes_from_the_four_octet_capability() -> None:
    assert BIRD_OPEN.asn == 4200000001
    assert Open(65001, 90, 1).asn == 65001


def test_open_without_capabilities() -> None:
    body = bytes.fromhex("04 fde9 00b4 0a000001 00".replace(" ", ""))
    assert Open(65001, 180, 0x0A000001).encode(DEFAULT_CONTEXT) == body
    assert Open.decode(body, DEFAULT_CONTEXT) == Open(65001, 180, 0x0A000001)


def test_capabilities_from_several_parameters_are_all_collected() -> None:
    body = bytes.fromhex(
        "04 fde9 005a 0a000001 14  02 06 0104 00010001  02 02 0200  02 06 4104 0000fde9".replace(" ", "")
    )
    assert Open.decode(body, DEFAULT_CONTEXT).capabilities == (
        Multiprotocol(1, 1),
        RouteRefreshCapability(),
        FourOctetAs(65001),
    )


def test_empty_capabilities_parameter_is_accepted() -> None:
    body = bytes.fromhex("04 fde9 005a 0a000001 02 0200".replace(" ", ""))
    assert Open.decode(body, DEFAULT_CONTEXT).capabilities == ()


def test_decode_keeps_values_the_fsm_judges() -> None:
    # Version 3, AS 0, hold time 1, identifier 0: all structurally fine; §6.2 semantics are the FSM's.
    body = bytes.fromhex("03 0000 0001 00000000 00".replace(" ", ""))
    assert Open.decode(body, DEFAULT_CONTEXT) == Open(0, 1, 0, (), 3)


# RFC 9072: capabilities beyond 255 octets switch to the extended form, which decodes back.
BIG_CAPS = tuple(UnknownCapability(200 + i, bytes([i]) * 100) for i in range(3))


def test_extended_parameters_encode_only_when_needed() -> None:
    small = Open(65001, 90, 1, BIG_CAPS[:2]).encode(DEFAULT_CONTEXT)
    assert small[9] == 2 + 2 * 102  # Non-Ext OP Len: one parameter, 1-octet lengths
    assert small[10:12] == bytes((2, 204))
    big = Open(65001, 90, 1, BIG_CAPS).encode(DEFAULT_CONTEXT)
    assert big[9:11] == b"\xff\xff"  # Non-Ext OP Len = 255, Non-Ext OP Type = 255
    assert big[11:13] == (3 + 306).to_bytes(2, "big")  # Extended Opt. Parm. Length
    assert big[13:16] == b"\x02" + (306).to_bytes(2, "big")  # type 2, 2-octet parameter length
    assert Open.decode(big, DEFAULT_CONTEXT) == Open(65001, 90, 1, BIG_CAPS)


def test_boundary_between_forms() -> None:
    # 253 octets of capabilities make a 255-octet parameter section: still the RFC 4271 form.
    fits = Open(1, 90, 1, (UnknownCapability(200, bytes(251)),))
    assert fits.encode(DEFAULT_CONTEXT)[9:12] == bytes((255, 2, 253))
    over = Open(1, 90, 1, (UnknownCapability(200, bytes(252)),))
    assert over.encode(DEFAULT_CONTEXT)[9:11] == b"\xff\xff"
    for message in (fits, over):
        assert Open.decode(message.encode(DEFAULT_CONTEXT), DEFAULT_CONTEXT) == message


def test_extended_form_with_small_parameters_is_accepted() -> None:
    # RFC 9072 §2 recommends the old form for short parameters; the extended one must still decode.
    body = bytes.fromhex("04 fde9 005a 0a000001 ff ff 0007 02 0004 4102 fde9".replace(" ", ""))
    with pytest.raises(NotificationError):  # 4-octet AS with 2 octets: proves the capability is parsed
        Open.decode(body, DEFAULT_CONTEXT)
    body = bytes.fromhex("04 fde9 005a 0a000001 ff ff 0009 02 0006 4104 0000fde9".replace(" ", ""))
    assert Open.decode(body, DEFAULT_CONTEXT).capabilities == (FourOctetAs(65001),)


@settings(max_examples=200, deadline=None)
@given(strat.opens)
def test_round_trip(message: Open) -> None:
    wire = encode_message(message, DEFAULT_CONTEXT)
    ((msg_type, body),) = Framer().feed(wire)
    assert decode_message(msg_type, body, DEFAULT_CONTEXT) == message


def test_encode_refuses_an_open_over_4096_octets() -> None:
    caps = tuple(UnknownCapability(200, bytes(255)) for _ in range(17))
    with pytest.raises(ValueError, match="4096"):
        encode_message(Open(1, 90, 1, caps), DEFAULT_CONTEXT)


def _body(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.replace(" ", ""))


FIXED = "04 fde9 005a 0a000001 "
# Structural errors of §6.2 (and §6.1 for a body too short to be an OPEN): exact code/subcode/data.
MALFORMED = [
    ("body shorter than 10 octets", "04 fde9 005a 0a0000", (1, 2, b"\x00\x1b")),
    ("opt len beyond the message", FIXED + "08 0206 0104 0001", (2, 0, b"")),
    ("opt len shorter than the parameters", FIXED + "02 0206 0104 00010001", (2, 0, b"")),
    ("opt len zero with trailing octets", FIXED + "00 0200", (2, 0, b"")),
    ("parameter header cut", FIXED + "01 02", (2, 0, b"")),
    ("parameter length beyond opt len", FIXED + "04 0203 0200", (2, 0, b"")),
    ("capability beyond its parameter", FIXED + "05 0203 0104 00", (2, 0, b"")),
    ("capability with wrong length for its code", FIXED + "05 0203 4101 00", (2, 0, b"")),
    ("authentication parameter (type 1)", FIXED + "04 0102 abcd", (2, 4, _body("0102abcd"))),
    ("unknown parameter type 3 after capabilities", FIXED + "07 0202 0200 0301 09", (2, 4, _body("030109"))),
    ("extended length field cut", FIXED + "ff ff 00", (2, 0, b"")),
    ("extended length beyond message", FIXED + "ff ff 0010 02 0002 0200", (2, 0, b"")),
    ("extended parameter length cut", FIXED + "ff ff 0002 02 00", (2, 0, b"")),
    ("extended unknown parameter", FIXED + "ff ff 0004 07 0001 aa", (2, 4, _body("070001aa"))),
]


@pytest.mark.parametrize(("name", "hex_body", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed(name: str, hex_body: str, expected: tuple[int, int, bytes]) -> None:
    body = _body(hex_body)
    with pytest.raises(NotificationError) as info:
        decode_message(MessageType.OPEN, body, DEFAULT_CONTEXT)
    assert (info.value.code, info.value.subcode, info.value.data) == expected
    if len(body) >= 10:  # the same answer when the bytes arrive through the framer
        wire = MARKER + (19 + len(body)).to_bytes(2, "big") + b"\x01" + body
        ((msg_type, framed),) = Framer().feed(wire)
        with pytest.raises(NotificationError) as again:
            decode_message(msg_type, framed, DEFAULT_CONTEXT)
        assert (again.value.code, again.value.subcode, again.value.data) == expected


@pytest.mark.parametrize(
    ("message", "peer_as", "expected"),
    [
        (Open(65001, 90, 1, version=3), None, (2, 1, b"\x00\x04")),
        (Open(65001, 90, 1, version=5), 65001, (2, 1, b"\x00\x04")),
        (Open(0, 90, 1), None, (2, 2, b"")),
        (Open(AS_TRANS, 90, 1, (FourOctetAs(0),)), None, (2, 2, b"")),
        (Open(65002, 90, 1), 65001, (2, 2, b"")),
        (Open(AS_TRANS, 90, 1, (FourOctetAs(4200000000),)), 4200000001, (2, 2, b"")),
        (Open(65001, 90, 0), 65001, (2, 3, b"")),
        (Open(65001, 1, 1), 65001, (2, 6, b"")),
        (Open(65001, 2, 1), 65001, (2, 6, b"")),
    ],
)
def test_check_open_rejects(message: Open, peer_as: int | None, expected: tuple[int, int, bytes]) -> None:
    with pytest.raises(NotificationError) as info:
        check_open(message, peer_as)
    assert (info.value.code, info.value.subcode, info.value.data) == expected


@pytest.mark.parametrize(
    ("message", "peer_as"),
    [
        (Open(65001, 0, 1), 65001),
        (Open(65001, 3, 0xFFFFFFFF), 65001),
        (BIRD_OPEN, 4200000001),
        (GOBGP_OPEN, None),
    ],
)
def test_check_open_accepts(message: Open, peer_as: int | None) -> None:
    check_open(message, peer_as)
