"""Capabilities (RFC 5492 and the RFCs of each code): exact encodings, round trips, length errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from bgpd.wire.buffer import Reader
from bgpd.wire.capabilities import (
    AddPath,
    AddPathFamily,
    Capability,
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
    capability_code,
    decode_capabilities,
    encode_capability,
)
from bgpd.wire.constants import IPV6_UNICAST, AddPathMode
from bgpd.wire.errors import NotificationError
from tests.wire import _message_strategies as strat


def decode_all(data: bytes) -> list[Capability]:
    return decode_capabilities(Reader(data, 2, 0))


# Hand-assembled from the RFC figures: (capability, its code+length+value octets).
EXACT = [
    (Multiprotocol(2, 1), "0104 0002 00 01"),  # RFC 4760 §8
    (RouteRefreshCapability(), "0200"),  # RFC 2918 §2
    (
        ExtendedNextHop((ExtendedNextHopEntry(1, 1, 2), ExtendedNextHopEntry(1, 128, 2))),
        "050c 000100010002 000100800002",
    ),  # RFC 8950 §3
    (ExtendedMessage(), "0600"),  # RFC 8654 §3
    (
        GracefulRestart(
            True, True, 300, (GracefulRestartFamily(1, 1, True), GracefulRestartFamily(2, 1, False))
        ),
        "400a c12c 0001 01 80 0002 01 00",  # R and N bits + 300 s (RFC 4724 §3, RFC 8538 §2)
    ),
    (FourOctetAs(4200000000), "4104 fa56ea00"),  # RFC 6793 §3
    (AddPath((AddPathFamily(1, 1, AddPathMode.SEND),)), "4504 0001 01 02"),  # RFC 7911 §4
    (EnhancedRouteRefresh(), "4600"),  # RFC 7313 §3.1
    (Fqdn("leaf1", "example.net"), "4912 05 6c65616631 0b 6578616d706c652e6e6574"),
    (UnknownCapability(71, b""), "4700"),
    (UnknownCapability(128, b"\x01\x02"), "8002 0102"),
]


@pytest.mark.parametrize(("capability", "hex_value"), EXACT, ids=[type(c).__name__ for c, _ in EXACT])
def test_exact_encoding(capability: Capability, hex_value: str) -> None:
    wire = bytes.fromhex(hex_value.replace(" ", ""))
    assert encode_capability(capability) == wire
    assert decode_all(wire) == [capability]


def test_one_capability_of_each_kind_in_one_parameter() -> None:
    wire = b"".join(bytes.fromhex(h.replace(" ", "")) for _, h in EXACT)
    assert decode_all(wire) == [c for c, _ in EXACT]


@settings(max_examples=300, deadline=None)
@given(strat.capabilities)
def test_round_trip(capability: Capability) -> None:
    assert decode_all(encode_capability(capability)) == [capability]


def test_multiprotocol_family_and_reserved_octet() -> None:
    (cap,) = decode_all(bytes.fromhex("0104 0002 ff 01".replace(" ", "")))  # reserved ignored
    assert cap == Multiprotocol(2, 1)
    assert isinstance(cap, Multiprotocol) and cap.family == IPV6_UNICAST
    assert Multiprotocol(25, 70).family is None


def test_graceful_restart_ignores_reserved_bits() -> None:
    (cap,) = decode_all(bytes.fromhex("4006 3078 0001 01 7f".replace(" ", "")))
    assert cap == GracefulRestart(False, False, 0x078, (GracefulRestartFamily(1, 1, False),))


def test_add_path_with_undefined_mode_is_kept_raw() -> None:
    assert decode_all(bytes.fromhex("4504 0001 01 07".replace(" ", ""))) == [
        UnknownCapability(69, b"\x00\x01\x01\x07")
    ]


def test_fqdn_bytes_that_are_not_utf8_are_replaced() -> None:
    (cap,) = decode_all(bytes.fromhex("4904 02 ff41 00".replace(" ", "")))
    assert cap == Fqdn("\ufffdA", "")


def test_capability_code() -> None:
    assert capability_code(FourOctetAs(1)) == 65
    assert capability_code(UnknownCapability(200, b"")) == 200


def test_encode_refuses_values_over_255_octets() -> None:
    with pytest.raises(ValueError):
        encode_capability(UnknownCapability(200, bytes(256)))
    with pytest.raises(ValueError):
        encode_capability(GracefulRestart(False, False, 4096, ()))


# Wrong value length for the code (or a capability running past its parameter): 2/0, no data.
MALFORMED = [
    ("multiprotocol 3 octets", "0103 000100"),
    ("multiprotocol 5 octets", "0105 0001000100"),
    ("route refresh with a value", "0201 00"),
    ("extended next hop not a multiple of 6", "0505 0001000100"),
    ("extended message with a value", "0601 00"),
    ("graceful restart empty", "4000"),
    ("graceful restart 1 octet", "4001 00"),
    ("graceful restart partial family", "4005 0078 000101"),
    ("four-octet AS 2 octets", "4102 fde9"),
    ("four-octet AS 5 octets", "4105 00fde90000"),
    ("add-path partial entry", "4503 000101"),
    ("enhanced route refresh with a value", "4601 00"),
    ("fqdn empty", "4900"),
    ("fqdn hostname past value", "4903 05 6161"),
    ("fqdn domain length missing", "4903 02 6161"),
    ("fqdn domain past value", "4905 01 61 03 6161"),
    ("fqdn trailing octet", "4905 01 61 01 61 00"),
    ("capability length past parameter", "0104 0001"),
    ("capability header cut", "01"),
]


@pytest.mark.parametrize(("name", "hex_value"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed(name: str, hex_value: str) -> None:
    with pytest.raises(NotificationError) as info:
        decode_all(bytes.fromhex(hex_value.replace(" ", "")))
    assert (info.value.code, info.value.subcode, info.value.data) == (2, 0, b"")
