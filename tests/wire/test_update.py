"""UPDATE codec: round trips (all attribute kinds, both AS widths, ADD-PATH), End-of-RIB, golden
vectors checked by hand against RFC 4271 §4.3 / RFC 4760 layouts, treat-as-withdraw, and fuzzing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bgpd.wire.attributes import (
    Aggregator,
    AsSegment,
    Attributes,
    MpReach,
    MpUnreach,
    UnknownAttribute,
    interned_attributes,
)
from bgpd.wire.constants import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    Afi,
    AsPathSegmentType,
    ErrorAction,
    Family,
    Origin,
    Safi,
    UpdateSub,
)
from bgpd.wire.context import CodecContext
from bgpd.wire.errors import NotificationError, UpdateError
from bgpd.wire.nlri import prefix_from_text
from bgpd.wire.update import Update
from tests.wire._caches import forget_decoded_sets

ROOT = Path(__file__).resolve().parents[2]
SEQ = AsPathSegmentType.AS_SEQUENCE
AS4 = CodecContext()


def p(text: str) -> tuple[int, ...]:
    return prefix_from_text(text)


# --------------------------------------------------------------------------- strategies
def _prefixes(width: int, add_path: bool) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    one = st.integers(0, width).flatmap(
        lambda n: st.builds(
            lambda a, path_id: (a >> (width - n) << (width - n), n, path_id)[: 3 if add_path else 2],
            st.integers(0, (1 << width) - 1),
            st.integers(0, 2**32 - 1),
        )
    )
    return st.lists(one, max_size=8).map(tuple)


def _path(max_asn: int, confed: bool) -> st.SearchStrategy[tuple[AsSegment, ...]]:
    types = list(AsPathSegmentType) if confed else [AsPathSegmentType.AS_SEQUENCE, AsPathSegmentType.AS_SET]
    segment = st.builds(
        AsSegment,
        st.sampled_from(types),
        st.lists(st.integers(1, max_asn), min_size=1, max_size=6).map(tuple),
    )
    return st.lists(segment, max_size=4).map(tuple)


_host = st.integers(0x01000000, 0xDFFFFFFF)
_u32 = st.integers(0, 2**32 - 1)


@st.composite
def contexts(draw: st.DrawFn) -> CodecContext:
    families = st.sets(st.sampled_from([IPV4_UNICAST, IPV6_UNICAST])).map(frozenset)
    return CodecContext(
        four_octet_as=draw(st.booleans()), add_path=draw(families), extended_next_hop=draw(families)
    )


@st.composite
def attributes(draw: st.DrawFn, ctx: CodecContext) -> Attributes:
    max_asn = 2**32 - 1 if ctx.four_octet_as else 0xFFFF
    opt = st.none() | st.just(0)  # draw(opt) is None -> leave the attribute out
    unknown_codes = draw(st.sets(st.sampled_from([19, 20, 21, 33, 40, 128, 255]), max_size=2))
    return Attributes(
        origin=draw(st.none() | st.sampled_from(Origin)),
        as_path=draw(st.none() | _path(max_asn, confed=True)),
        next_hop=draw(st.none() | _host),
        med=draw(st.none() | _u32),
        local_pref=draw(st.none() | _u32),
        atomic_aggregate=draw(st.booleans()),
        aggregator=draw(st.none() | st.builds(Aggregator, st.integers(0, max_asn), _u32)),
        communities=draw(st.lists(_u32, max_size=80).map(tuple)),  # up to 320 octets: extended length
        originator_id=draw(st.none() | _u32),
        cluster_list=draw(st.lists(_u32, max_size=3).map(tuple)),
        extended_communities=draw(st.lists(st.integers(0, 2**64 - 1), max_size=3).map(tuple)),
        as4_path=None if ctx.four_octet_as or draw(opt) is None else draw(_path(2**32 - 1, confed=False)),
        as4_aggregator=None
        if ctx.four_octet_as or draw(opt) is None
        else draw(st.builds(Aggregator, st.integers(0, 2**32 - 1), _u32)),
        large_communities=draw(st.lists(st.tuples(_u32, _u32, _u32), max_size=3).map(tuple)),
        unknown=tuple(
            UnknownAttribute(code, 0xE0, draw(st.binary(max_size=300))) for code in sorted(unknown_codes)
        ),
    )


@st.composite
def mp_reach(draw: st.DrawFn, ctx: CodecContext) -> MpReach:
    kind = draw(st.sampled_from(["v4", "v6", "unknown"]))
    if kind == "unknown":
        return MpReach(25, 70, draw(st.binary(max_size=20)), (), draw(st.binary(max_size=20)))
    family = IPV4_UNICAST if kind == "v4" else IPV6_UNICAST
    lengths = [16, 32] if kind == "v6" else [4, 16, 32] if family in ctx.extended_next_hop else [4]
    next_hop = draw(st.sampled_from(lengths).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
    nlri = draw(_prefixes(32 if kind == "v4" else 128, family in ctx.add_path))
    return MpReach(family.afi, family.safi, next_hop, nlri)


@st.composite
def mp_unreach(draw: st.DrawFn, ctx: CodecContext) -> MpUnreach:
    family = draw(st.sampled_from([IPV4_UNICAST, IPV6_UNICAST]))
    width = 32 if family.afi == Afi.IPV4 else 128
    return MpUnreach(family.afi, family.safi, draw(_prefixes(width, family in ctx.add_path)))


@st.composite
def updates(draw: st.DrawFn) -> tuple[CodecContext, Update]:
    ctx = draw(contexts())
    v4_add_path = IPV4_UNICAST in ctx.add_path
    attrs = draw(attributes(ctx))
    reach = draw(st.none() | mp_reach(ctx))
    nlri = draw(_prefixes(32, v4_add_path))
    # An UPDATE with routes must carry the well-known mandatory attributes, else it is malformed.
    if nlri or (reach is not None and reach.nlri):
        attrs = Attributes(
            **{
                **{f: getattr(attrs, f) for f in Attributes.__dataclass_fields__},
                "origin": attrs.origin if attrs.origin is not None else Origin.IGP,
                "as_path": attrs.as_path if attrs.as_path is not None else (),
                "next_hop": attrs.next_hop if attrs.next_hop is not None or not nlri else 0x0A000001,
            }
        )
    return ctx, Update(
        draw(_prefixes(32, v4_add_path)), attrs, nlri, reach, draw(st.none() | mp_unreach(ctx))
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(updates())
def test_round_trip(case: tuple[CodecContext, Update]) -> None:
    ctx, update = case
    assert Update.decode(update.encode(ctx), ctx) == update


# --------------------------------------------------------------------------- End-of-RIB
@pytest.mark.parametrize("family", [IPV4_UNICAST, IPV6_UNICAST, Family(Afi.IPV4, Safi.MULTICAST)])
def test_end_of_rib_markers(family: Family) -> None:
    raw = Update.end_of_rib(family).encode(AS4)
    expected = "00000000" if family == IPV4_UNICAST else f"00000006800f0300{family.afi:02x}{family.safi:02x}"
    assert raw.hex() == expected  # RFC 4724 §2
    assert Update.decode(raw, AS4).end_of_rib_family == family


def test_ordinary_updates_are_not_end_of_rib() -> None:
    assert Update(withdrawn=(p("10.0.0.0/8"),)).end_of_rib_family is None
    assert Update(mp_unreach=MpUnreach(2, 1, (p("2001:db8::/32"),))).end_of_rib_family is None
    assert Update(attributes=Attributes(origin=Origin.IGP)).end_of_rib_family is None
    assert Update(mp_unreach=MpUnreach(99, 1)).end_of_rib_family is None  # unknown family


# --------------------------------------------------------------------------- golden vectors
# Hand-assembled and checked field by field against RFC 4271 §4.3, RFC 4760 §3 and RFC 6793.
GOLDEN = [
    (
        # eBGP IPv4: ORIGIN IGP, AS_PATH [65001] (4-octet), NEXT_HOP 192.0.2.1, MED 0,
        # COMMUNITIES 65001:100; NLRI 10.244.1.0/24 and 10.244.2.0/24. Attributes: 4+9+7+7+7 = 34.
        "0000 0022 40010100 40020602010000fde9 400304c0000201 80040400000000 c00804fde90064"
        " 180af401 180af402",
        AS4,
        Update(
            attributes=Attributes(
                origin=Origin.IGP,
                as_path=(AsSegment(SEQ, (65001,)),),
                next_hop=0xC0000201,
                med=0,
                communities=(65001 << 16 | 100,),
            ),
            nlri=(p("10.244.1.0/24"), p("10.244.2.0/24")),
        ),
    ),
    (
        # IPv6 via MP_REACH (first, RFC 7606 §5.1) with global + link-local next hop (RFC 2545 §3):
        # AFI 2, SAFI 1, NH length 32, Reserved, fd00::/64 and fd00:0:0:1::/64 -> value 4+32+1+18 = 55.
        # Sent with the Extended Length flag (0x90, as some speakers do); re-encoded with 0x80 (55 < 256).
        "0000 0048 900e0037 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001"
        " 00 40fd00000000000000 40fd00000000000001 40010100 40020602010000fde9",
        AS4,
        Update(
            attributes=Attributes(origin=Origin.IGP, as_path=(AsSegment(SEQ, (65001,)),)),
            mp_reach=MpReach(
                2,
                1,
                bytes.fromhex("20010db8000000000000000000000001fe800000000000000000000000000001"),
                (p("fd00::/64"), p("fd00:0:0:1::/64")),
            ),
        ),
    ),
    (
        # Withdrawals only: 10.244.3.0/24 with ADD-PATH path id 1 (RFC 7911 §3).
        "0008 00000001180af403 0000",
        CodecContext(add_path=frozenset({IPV4_UNICAST})),
        Update(withdrawn=(prefix_from_text("10.244.3.0/24", path_id=1),)),
    ),
    (
        # 2-octet session: AS_PATH [AS_TRANS 65002], NEXT_HOP 10.0.0.1, AS4_PATH [4200000000 65002]
        # (RFC 6793 §4.2.2); attributes 4+9+7+13 = 33; NLRI 10.0.0.0/16.
        "0000 0021 40010100 40020602025ba0fdea 4003040a000001 c0110a0202fa56ea000000fdea 100a00",
        CodecContext(four_octet_as=False),
        Update(
            attributes=Attributes(
                origin=Origin.IGP,
                as_path=(AsSegment(SEQ, (23456, 65002)),),
                next_hop=0x0A000001,
                as4_path=(AsSegment(SEQ, (4200000000, 65002)),),
            ),
            nlri=(p("10.0.0.0/16"),),
        ),
    ),
]


@pytest.mark.parametrize(("hex_body", "ctx", "expected"), GOLDEN)
def test_golden_vectors(hex_body: str, ctx: CodecContext, expected: Update) -> None:
    raw = bytes.fromhex(hex_body)
    assert Update.decode(raw, ctx) == expected
    sent = raw.replace(bytes.fromhex("900e0037"), bytes.fromhex("800e37"))
    sent = (
        sent[:2] + (int.from_bytes(sent[2:4], "big") - (len(raw) - len(sent))).to_bytes(2, "big") + sent[4:]
    )
    assert expected.encode(ctx) == sent


def test_golden_two_octet_effective_path() -> None:
    decoded = Update.decode(bytes.fromhex(GOLDEN[3][0]), GOLDEN[3][1])
    assert decoded.attributes.effective_as_path() == (AsSegment(SEQ, (4200000000, 65002)),)


# Captured 2026-11-26 on loopback: gobgpd 3.10.0 (AS 65001, `gobgp global rib add ...`) and BIRD
# 2.0.12 (AS 4200000001, static routes) peering with a listener that sent OPEN (AS 65002, IPv4+IPv6,
# 4-octet AS) and KEEPALIVEs. Whole messages, header included.
GOBGP = "gobgpd 3.10.0"
BIRD = "BIRD 2.0.12"
INCOMPLETE_65001 = Attributes(origin=Origin.INCOMPLETE, as_path=(AsSegment(SEQ, (65001,)),))
CAPTURED = [
    (
        GOBGP,  # IPv6 route; GoBGP puts MP_REACH after AS_PATH (bgpd sends it first, RFC 7606 §5.1)
        "ffffffffffffffffffffffffffffffff0045020000002e4001010240020602010000fde9800e1e0002011020010db800"
        "00000000000000000000100040fd00000100000000",
        Update(
            attributes=INCOMPLETE_65001,
            mp_reach=MpReach(2, 1, bytes.fromhex("20010db8000000000000000000000010"), (p("fd00:1::/64"),)),
        ),
    ),
    (
        GOBGP,  # `nexthop 192.0.2.10 med 10 community 65001:100`, two prefixes packed in one message
        "ffffffffffffffffffffffffffffffff004102000000224001010240020602010000fde9400304c000020a8004040000"
        "000ac00804fde90064180af401180af402",
        Update(
            attributes=Attributes(
                origin=Origin.INCOMPLETE,
                as_path=(AsSegment(SEQ, (65001,)),),
                next_hop=0xC000020A,
                med=10,
                communities=(65001 << 16 | 100,),
            ),
            nlri=(p("10.244.1.0/24"), p("10.244.2.0/24")),
        ),
    ),
    (
        GOBGP,  # `nexthop 192.0.2.11 large-community 65001:1:2`
        "ffffffffffffffffffffffffffffffff003e02000000234001010240020602010000fde9400304c000020bc0200c0000"
        "fde90000000100000002180af403",
        Update(
            attributes=Attributes(
                origin=Origin.INCOMPLETE,
                as_path=(AsSegment(SEQ, (65001,)),),
                next_hop=0xC000020B,
                large_communities=((65001, 1, 2),),
            ),
            nlri=(p("10.244.3.0/24"),),
        ),
    ),
    (
        BIRD,  # 4-octet AS 4200000001, next hop its own address (multihop), a /24 and a /25
        "ffffffffffffffffffffffffffffffff00340200000014400101004002060201fa56ea014003047f000002180af50119"
        "0af50200",
        Update(
            attributes=Attributes(
                origin=Origin.IGP, as_path=(AsSegment(SEQ, (4200000001,)),), next_hop=0x7F000002
            ),
            nlri=(p("10.245.1.0/24"), p("10.245.2.0/25")),
        ),
    ),
    (BIRD, "ffffffffffffffffffffffffffffffff00170200000000", Update.end_of_rib(IPV4_UNICAST)),
    (BIRD, "ffffffffffffffffffffffffffffffff001d0200000006800f03000201", Update.end_of_rib(IPV6_UNICAST)),
]


@pytest.mark.parametrize(("peer", "hex_message", "expected"), CAPTURED)
def test_captured_messages(peer: str, hex_message: str, expected: Update) -> None:
    raw = bytes.fromhex(hex_message)
    assert int.from_bytes(raw[16:18], "big") == len(raw) and raw[18] == 2, peer
    body = raw[19:]
    decoded = Update.decode(body, AS4)
    assert decoded == expected, peer
    if decoded.mp_reach is None:  # same attribute order as bgpd: byte-identical re-encoding
        assert decoded.encode(AS4) == body, peer
    else:
        assert Update.decode(decoded.encode(AS4), AS4) == expected, peer


# --------------------------------------------------------------------------- treat-as-withdraw
def test_as_withdrawals_covers_every_family() -> None:
    update = Update(
        withdrawn=(p("10.0.0.0/8"),),
        nlri=(p("10.1.0.0/16"),),
        mp_reach=MpReach(2, 1, bytes(16), (p("2001:db8::/32"),)),
        mp_unreach=MpUnreach(2, 1, (p("2001:db9::/32"),)),
    )
    assert update.as_withdrawals() == (
        Update(
            withdrawn=(p("10.0.0.0/8"), p("10.1.0.0/16")),
            mp_unreach=MpUnreach(2, 1, (p("2001:db9::/32"), p("2001:db8::/32"))),
        ),
    )
    mixed = Update(
        mp_reach=MpReach(2, 1, bytes(16), (p("2001:db8::/32"),)),
        mp_unreach=MpUnreach(1, 1, (p("10.0.0.0/8"),)),
    )
    assert mixed.as_withdrawals() == (
        Update(mp_unreach=MpUnreach(1, 1, (p("10.0.0.0/8"),))),
        Update(mp_unreach=MpUnreach(2, 1, (p("2001:db8::/32"),))),
    )


# --------------------------------------------------------------------------- fuzzing
_SEEDS = [bytes.fromhex(h) for h, _, _ in GOLDEN] + [bytes.fromhex(h)[19:] for _, h, _ in CAPTURED]
_FUZZ_CONTEXTS = [
    AS4,
    CodecContext(four_octet_as=False),
    CodecContext(
        add_path=frozenset({IPV4_UNICAST, IPV6_UNICAST}), extended_next_hop=frozenset({IPV4_UNICAST})
    ),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        index = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "cut", "insert"]))
        if action == "set":
            data[index] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[index:]
            if not data:
                break
        else:
            data[index:index] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200) | mutated(), st.sampled_from(_FUZZ_CONTEXTS))
def test_fuzz_raises_only_codec_errors(data: bytes, ctx: CodecContext) -> None:
    try:
        update = Update.decode(data, ctx)
    except UpdateError as err:
        assert err.code == 3
        assert isinstance(err.action, ErrorAction)
        assert err.update is None or isinstance(err.update, Update)
    except NotificationError as err:
        assert (err.code, err.subcode) == (1, 2)  # shorter than an UPDATE can be
    else:
        # Whatever decodes cleanly re-encodes to bytes that decode and re-encode to themselves (the
        # first pass may set Partial on unknown attributes, RFC 4271 §5).
        sent = update.encode(ctx)
        assert Update.decode(sent, ctx).encode(ctx) == sent


def _outcome(body: bytes, ctx: CodecContext) -> object:
    """What decoding ``body`` gives: the UPDATE, or what the error would put on the wire and do."""
    try:
        return Update.decode(body, ctx)
    except UpdateError as err:
        return (err.code, err.subcode, err.data, err.action, err.update)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(updates(), _u32)
def test_a_set_known_but_for_its_next_hop_decodes_like_a_fresh_one(
    case: tuple[CodecContext, Update], next_hop: int
) -> None:
    # Flat mode: the second UPDATE differs from the first only in the NEXT_HOP value (any value,
    # invalid ones too), and is served from the first one's set; a decoder that never saw the first
    # must give the same result.
    ctx, first = case
    second = replace(first, attributes=replace(first.attributes, next_hop=next_hop))
    body = second.encode(ctx)
    forget_decoded_sets()
    cold = _outcome(body, ctx)
    forget_decoded_sets()
    _outcome(first.encode(ctx), ctx)
    assert _outcome(body, ctx) == cold


def test_flat_mode_updates_reuse_the_set_of_the_first() -> None:
    # One prefix per UPDATE, each with its own NEXT_HOP: after the first, each set is the first
    # one's with the new NEXT_HOP (no full decode); an invalid NEXT_HOP still gets its error.
    forget_decoded_sets()
    attrs = Attributes(origin=Origin.IGP, as_path=(AsSegment(SEQ, (65001,)),), next_hop=0x0A000001, med=0)
    Update.decode(Update(attributes=attrs, nlri=(p("10.1.0.0/24"),)).encode(AS4), AS4)
    body = Update(attributes=replace(attrs, next_hop=0x0A000002), nlri=(p("10.1.1.0/24"),)).encode(AS4)
    field = body[4 : 4 + int.from_bytes(body[2:4], "big")]
    assert interned_attributes(field, 0, len(field), AS4) == replace(attrs, next_hop=0x0A000002)
    bad = Update(attributes=replace(attrs, next_hop=0xE0000001), nlri=(p("10.1.2.0/24"),)).encode(AS4)
    with pytest.raises(UpdateError) as caught:
        Update.decode(bad, AS4)
    assert (caught.value.subcode, caught.value.action) == (
        UpdateSub.INVALID_NEXT_HOP_ATTRIBUTE,
        ErrorAction.TREAT_AS_WITHDRAW,
    )


def test_memoryview_input_decodes_like_bytes() -> None:
    raw = bytes.fromhex(GOLDEN[0][0])
    assert Update.decode(memoryview(b"xx" + raw)[2:], AS4) == GOLDEN[0][2]
