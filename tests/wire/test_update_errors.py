"""Malformed UPDATEs: one row per error rule of RFC 4271 §6.3 and RFC 7606 (§3, §4, §5.3, §7), with
the exact NOTIFICATION code/subcode/data and the RFC 7606 action."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bgpd.wire.attributes import Aggregator, AsSegment, Attributes
from bgpd.wire.constants import IPV4_UNICAST, AsPathSegmentType, ErrorAction, Origin
from bgpd.wire.context import CodecContext
from bgpd.wire.errors import NotificationError, UpdateError
from bgpd.wire.nlri import prefix_from_text
from bgpd.wire.update import Update

RESET, WITHDRAW, DISCARD = (
    ErrorAction.SESSION_RESET,
    ErrorAction.TREAT_AS_WITHDRAW,
    ErrorAction.ATTRIBUTE_DISCARD,
)
AS4 = CodecContext()
AS2 = CodecContext(four_octet_as=False)

ORIGIN = "40010100"
AS_PATH = "40020602010000fde9"  # [65001], 4-octet
NEXT_HOP = "400304c0000201"  # 192.0.2.1
NLRI = "180a0000"  # 10.0.0.0/24
MP_V6 = "800e1c0002011020010db8000000000000000000000001003020010db80001"  # 2001:db8:1::/48


def body(attrs: str, nlri: str = NLRI, withdrawn: str = "") -> bytes:
    a, w = bytes.fromhex(attrs), bytes.fromhex(withdrawn)
    return len(w).to_bytes(2, "big") + w + len(a).to_bytes(2, "big") + a + bytes.fromhex(nlri)


def good(*extra: str) -> str:
    return ORIGIN + AS_PATH + NEXT_HOP + "".join(extra)


@dataclass(frozen=True)
class Case:
    rule: str
    raw: bytes
    subcode: int
    data: str
    action: ErrorAction
    ctx: CodecContext = AS4


CASES = [
    # --- RFC 4271 §6.3 message structure: session reset (RFC 7606 §3 (j)).
    Case("withdrawn length too large", bytes.fromhex("00ff0000"), 1, "", RESET),
    Case("attribute length too large", bytes.fromhex("000000ff40010100"), 1, "", RESET),
    Case("NLRI prefix length 33 (§6.3, RFC 7606 §5.3)", body(good(), "210a00000000"), 10, "", RESET),
    Case("NLRI prefix overruns the field", body(good(), "180a00"), 10, "", RESET),
    Case("withdrawn prefix invalid (RFC 7606 §3 (i))", body("", "", "200a00"), 10, "", RESET),
    Case(
        "ADD-PATH NLRI overrun",
        body(good(), "00000001"),
        10,
        "",
        RESET,
        CodecContext(add_path=frozenset({IPV4_UNICAST})),
    ),
    # --- RFC 7606 §4: attribute field inconsistent with the attributes in it -> treat-as-withdraw.
    Case("attribute overruns the field", body(good("c0080800000001")), 1, "", WITHDRAW),
    Case("fewer than 3 octets left", body(good("c008")), 1, "", WITHDRAW),
    Case("extended length header cut", body(good("d00800")), 1, "", WITHDRAW),
    Case("MP_REACH overruns: NLRI unknown (§3 (j))", body("800e20" + "0002", ""), 1, "", RESET),
    # --- RFC 4271 §6.3 per-attribute rules with the RFC 7606 §7 actions.
    Case("unrecognized well-known", body(good("40630101")), 2, "40630101", RESET),
    Case("missing ORIGIN (RFC 7606 §3 (d))", body(AS_PATH + NEXT_HOP), 3, "01", WITHDRAW),
    Case("missing AS_PATH", body(ORIGIN + NEXT_HOP), 3, "02", WITHDRAW),
    Case("missing NEXT_HOP", body(ORIGIN + AS_PATH), 3, "03", WITHDRAW),
    Case("MP_REACH needs ORIGIN too (RFC 4760 §3)", body(MP_V6 + AS_PATH, ""), 3, "01", WITHDRAW),
    Case(
        "ORIGIN flags: optional bit (RFC 7606 §3 (c))",
        body(good().replace(ORIGIN, "c0010100")),
        4,
        "c0010100",
        WITHDRAW,
    ),
    Case(
        "AS_PATH flags: partial on well-known",
        body(good().replace("400206", "600206")),
        4,
        "60020602010000fde9",
        WITHDRAW,
    ),
    Case("MED flags: transitive", body(good("c0040400000001")), 4, "c0040400000001", WITHDRAW),
    Case("ATOMIC_AGGREGATE flags (§7.6)", body(good("c00600")), 4, "c00600", DISCARD),
    Case(
        "AGGREGATOR flags (§7.7)", body(good("40070800000001c0000201")), 4, "40070800000001c0000201", DISCARD
    ),
    Case(
        "MP_REACH flags (§7.11)",
        body(MP_V6.replace("800e", "c00e", 1) + ORIGIN + AS_PATH, ""),
        4,
        MP_V6.replace("800e", "c00e", 1),
        RESET,
    ),
    Case("ORIGIN length (§7.1)", body(good().replace(ORIGIN, "4001020000")), 5, "4001020000", WITHDRAW),
    Case("ORIGIN value 3 (§7.1)", body(good().replace(ORIGIN, "40010103")), 6, "40010103", WITHDRAW),
    Case(
        "AS_PATH bad segment type (§7.2)",
        body(good().replace(AS_PATH, "40020605010000fde9")),
        11,
        "",
        WITHDRAW,
    ),
    Case("AS_PATH segment overrun", body(good().replace(AS_PATH, "40020602020000fde9")), 11, "", WITHDRAW),
    Case("AS_PATH empty segment", body(good().replace(AS_PATH, "4002020200")), 11, "", WITHDRAW),
    Case(
        "AS_PATH with AS 0 (RFC 7607)", body(good().replace(AS_PATH, "400206020100000000")), 11, "", WITHDRAW
    ),
    Case("AS_PATH 2-octet odd length", body(ORIGIN + "4002050201fde900" + NEXT_HOP), 11, "", WITHDRAW, AS2),
    Case(
        "NEXT_HOP length (§7.3)",
        body(good().replace(NEXT_HOP, "400305c000020100")),
        5,
        "400305c000020100",
        WITHDRAW,
    ),
    Case("NEXT_HOP 0.0.0.0", body(good().replace(NEXT_HOP, "40030400000000")), 8, "40030400000000", WITHDRAW),
    Case(
        "NEXT_HOP multicast", body(good().replace(NEXT_HOP, "400304e0000001")), 8, "400304e0000001", WITHDRAW
    ),
    Case(
        "NEXT_HOP broadcast", body(good().replace(NEXT_HOP, "400304ffffffff")), 8, "400304ffffffff", WITHDRAW
    ),
    Case("MED length (§7.4)", body(good("800403000001")), 5, "800403000001", WITHDRAW),
    Case("LOCAL_PREF length (§7.5)", body(good("40050500000000ff")), 5, "40050500000000ff", WITHDRAW),
    Case("ATOMIC_AGGREGATE length (§7.6)", body(good("40060101")), 5, "40060101", DISCARD),
    Case(
        "AGGREGATOR 4-octet length (§7.7)", body(good("c00706fde9c0000201")), 5, "c00706fde9c0000201", DISCARD
    ),
    Case(
        "AGGREGATOR 2-octet length",
        body(ORIGIN + "40020402010001" + NEXT_HOP + "c0070800000001c0000201"),
        5,
        "c0070800000001c0000201",
        DISCARD,
        AS2,
    ),
    Case("COMMUNITIES length 3 (§7.8)", body(good("c00803000001")), 5, "c00803000001", WITHDRAW),
    Case("COMMUNITIES empty (§7.8)", body(good("c00800")), 5, "c00800", WITHDRAW),
    Case("ORIGINATOR_ID length (§7.9)", body(good("800903000001")), 5, "800903000001", WITHDRAW),
    Case("CLUSTER_LIST empty (§7.10)", body(good("800a00")), 5, "800a00", WITHDRAW),
    Case("MP_REACH too short (§7.11)", body("800e0400020110", ""), 5, "800e0400020110", RESET),
    Case(
        "MP_REACH IPv6 next hop length 5",
        body("800e0a00020105" + "00" * 5 + "00" + ORIGIN + AS_PATH, ""),
        9,
        "800e0a00020105" + "00" * 5 + "00",
        RESET,
    ),
    Case(
        "MP_REACH IPv4 next hop 16 without RFC 8950",
        body("800e1700010110" + "00" * 16 + "00" + "080a" + ORIGIN + AS_PATH, ""),
        9,
        "800e1700010110" + "00" * 16 + "00080a",
        RESET,
    ),
    Case(
        "MP_REACH NLRI /129 (RFC 7606 §5.3)",
        body("800e16000201" + "10" + "00" * 16 + "00" + "81" + ORIGIN + AS_PATH, ""),
        10,
        "",
        RESET,
    ),
    Case("MP_UNREACH too short (§7.12)", body("800f020002", ""), 5, "800f020002", RESET),
    Case("MP_UNREACH bad prefix", body("800f04000201" + "81", ""), 10, "", RESET),
    Case(
        "EXTENDED_COMMUNITIES length 7 (§7.14)",
        body(good("c0100700000000000000")),
        5,
        "c0100700000000000000",
        WITHDRAW,
    ),
    Case(
        "LARGE_COMMUNITY length 11 (RFC 8092 §6)",
        body(good("c0200b" + "00" * 11)),
        5,
        "c0200b" + "00" * 11,
        WITHDRAW,
    ),
    Case(
        "AS4_PATH confed segment (RFC 6793 §6)",
        body(ORIGIN + "40020402015ba0" + NEXT_HOP + "c011060301fa56ea00"),
        9,
        "c011060301fa56ea00",
        DISCARD,
        AS2,
    ),
    Case(
        "AS4_AGGREGATOR length (RFC 6793 §6)",
        body(ORIGIN + "40020402010001" + NEXT_HOP + "c01206fde9c0000201"),
        5,
        "c01206fde9c0000201",
        DISCARD,
        AS2,
    ),
    # --- RFC 7606 §3 (g): repeated attributes.
    Case("MP_REACH twice", body(MP_V6 + MP_V6 + ORIGIN + AS_PATH, ""), 1, "", RESET),
    Case("MP_UNREACH twice", body("800f03000201800f03000201", ""), 1, "", RESET),
    Case("ORIGIN twice: later ones discarded", body(good(ORIGIN)), 1, "", DISCARD),
    # --- RFC 7606 §3 (h): the strongest action wins; the first error of that action is reported.
    Case(
        "discard + withdraw -> withdraw", body(good("40060101", "800403000001")), 5, "800403000001", WITHDRAW
    ),
    Case("withdraw + reset -> reset", body(good("800403000001", "40630101")), 2, "40630101", RESET),
]


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_malformed(case: Case) -> None:
    with pytest.raises(UpdateError) as info:
        Update.decode(case.raw, case.ctx)
    err = info.value
    assert (err.code, err.subcode, err.data.hex(), err.action) == (3, case.subcode, case.data, case.action)


def test_shorter_than_an_update_is_bad_message_length() -> None:
    with pytest.raises(NotificationError) as info:
        Update.decode(b"\x00\x00\x00", AS4)
    assert (info.value.code, info.value.subcode, info.value.data) == (1, 2, (22).to_bytes(2, "big"))
    assert not isinstance(info.value, UpdateError)


def test_attribute_discard_delivers_the_rest_of_the_message() -> None:
    with pytest.raises(UpdateError) as info:
        Update.decode(body(good("c00706fde9c0000201", "c00804fde90064")), AS4)
    update = info.value.update
    assert info.value.action is DISCARD
    assert update is not None
    assert update.attributes.aggregator is None
    assert update.attributes.communities == (65001 << 16 | 100,)
    assert update.nlri == (prefix_from_text("10.0.0.0/24"),)


def test_duplicate_keeps_the_first_occurrence() -> None:
    with pytest.raises(UpdateError) as info:
        Update.decode(body(good("40010102")), AS4)  # a second ORIGIN, INCOMPLETE
    assert info.value.update is not None
    assert info.value.update.attributes.origin is Origin.IGP


def test_treat_as_withdraw_names_the_prefixes() -> None:
    raw = body(good("800403000001"), NLRI + "200a000001")
    with pytest.raises(UpdateError) as info:
        Update.decode(raw, AS4)
    assert info.value.action is WITHDRAW
    assert info.value.update is not None
    (withdrawal,) = info.value.update.as_withdrawals()
    assert withdrawal.withdrawn == (prefix_from_text("10.0.0.0/24"), prefix_from_text("10.0.0.1/32"))
    assert withdrawal.attributes == Attributes() and withdrawal.nlri == ()


def test_missing_next_hop_is_fine_without_ipv4_nlri() -> None:
    update = Update.decode(body(MP_V6 + ORIGIN + AS_PATH, ""), AS4)
    assert update.mp_reach is not None
    assert update.mp_reach.nlri == (prefix_from_text("2001:db8:1::/48"),)


def test_withdraw_only_update_needs_no_attributes() -> None:
    update = Update.decode(body("", "", "180a0000"), AS4)
    assert update.withdrawn == (prefix_from_text("10.0.0.0/24"),)


def test_ipv4_nlri_with_ipv6_next_hop_when_negotiated() -> None:
    ctx = CodecContext(extended_next_hop=frozenset({IPV4_UNICAST}))
    raw = body("800e1700010110" + "20010db8" + "00" * 11 + "01" + "00" + "080a" + ORIGIN + AS_PATH, "")
    update = Update.decode(raw, ctx)  # RFC 8950
    assert update.mp_reach is not None
    assert [str(a) for a in update.mp_reach.next_hops] == ["2001:db8::1"]
    assert update.mp_reach.nlri == (prefix_from_text("10.0.0.0/8"),)


def test_unknown_family_is_kept_raw() -> None:
    raw = body("800e0b0019460401020304" + "00" + "aabb" + ORIGIN + AS_PATH, "")  # AFI 25 SAFI 70
    update = Update.decode(raw, AS4)
    assert update.mp_reach is not None
    assert (update.mp_reach.afi, update.mp_reach.next_hop, update.mp_reach.unparsed) == (
        25,
        b"\x01\x02\x03\x04",
        b"\xaa\xbb",
    )
    assert Update.decode(update.encode(AS4), AS4) == update


def test_two_octet_aggregator_and_path() -> None:
    update = Update.decode(body(ORIGIN + "40020402010001" + NEXT_HOP + "c00706fde9c0000201"), AS2)
    assert update.attributes.as_path == (AsSegment(AsPathSegmentType.AS_SEQUENCE, (1,)),)
    assert update.attributes.aggregator == Aggregator(65001, 0xC0000201)
