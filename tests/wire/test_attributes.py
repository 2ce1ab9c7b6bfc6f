"""Path attributes: RFC 6793 AS4 merge/split, extended length, unknown attributes, the table's flags."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest

from bgpd.wire.attributes import (
    ATTRIBUTES,
    Aggregator,
    AsSegment,
    Attributes,
    UnknownAttribute,
    community_from_text,
    community_to_text,
    decode_attribute_field,
    encode_attributes,
    path_length,
)
from bgpd.wire.constants import AS_TRANS, AsPathSegmentType, AttrType, ErrorAction, Origin
from bgpd.wire.context import CodecContext
from tests.wire._caches import forget_decoded_sets

SEQ, SET = AsPathSegmentType.AS_SEQUENCE, AsPathSegmentType.AS_SET
CSEQ = AsPathSegmentType.AS_CONFED_SEQUENCE
AS2 = CodecContext(four_octet_as=False)
AS4 = CodecContext(four_octet_as=True)


def seq(*asns: int) -> AsSegment:
    return AsSegment(SEQ, asns)


def test_path_length_counts_sets_once_and_confeds_not_at_all() -> None:
    assert path_length((AsSegment(CSEQ, (1, 2)), seq(10, 20), AsSegment(SET, (30, 40, 50)))) == 3


def test_rfc6793_merge_takes_leading_ases_from_as_path() -> None:
    # RFC 6793 §4.2.3: AS_PATH has 4 ASes, AS4_PATH 2 -> the first 2 of AS_PATH, then AS4_PATH.
    attrs = Attributes(
        as_path=(seq(65001, AS_TRANS, 65003, AS_TRANS),), as4_path=(seq(4200000001, 4200000002),)
    )
    assert attrs.effective_as_path() == (seq(65001, AS_TRANS, 4200000001, 4200000002),)


def test_rfc6793_merge_keeps_sets_and_confeds_whole() -> None:
    attrs = Attributes(
        as_path=(AsSegment(CSEQ, (64512,)), seq(65001), AsSegment(SET, (1, 2)), seq(AS_TRANS)),
        as4_path=(seq(4200000000),),
    )
    assert attrs.effective_as_path() == (
        AsSegment(CSEQ, (64512,)),
        seq(65001),
        AsSegment(SET, (1, 2)),
        seq(4200000000),
    )


def test_rfc6793_merge_ignores_a_longer_as4_path_and_an_old_aggregator() -> None:
    longer = Attributes(as_path=(seq(AS_TRANS),), as4_path=(seq(4200000000, 4200000001),))
    assert longer.effective_as_path() == (seq(AS_TRANS),)
    old_agg = Attributes(
        as_path=(seq(AS_TRANS),), as4_path=(seq(4200000000),), aggregator=Aggregator(65010, 1)
    )
    assert old_agg.effective_as_path() == (seq(AS_TRANS),)
    new_agg = Attributes(aggregator=Aggregator(AS_TRANS, 7), as4_aggregator=Aggregator(4200000000, 7))
    assert new_agg.effective_aggregator() == Aggregator(4200000000, 7)
    assert Attributes(aggregator=Aggregator(65010, 1)).effective_aggregator() == Aggregator(65010, 1)


def test_two_octet_form_round_trips_to_the_same_effective_path() -> None:
    attrs = Attributes(
        origin=Origin.IGP,
        as_path=(AsSegment(CSEQ, (64512,)), seq(65001, 4200000000, 65002)),
        aggregator=Aggregator(4200000009, 0x0A000001),
    )
    old = attrs.for_two_octet_peer()
    assert old.as_path == (AsSegment(CSEQ, (64512,)), seq(65001, AS_TRANS, 65002))
    assert old.as4_path == (seq(65001, 4200000000, 65002),)  # RFC 6793 §4.2.2: no confed segments
    assert old.aggregator == Aggregator(AS_TRANS, 0x0A000001)
    raw = encode_attributes(old, AS2)
    back = decode_attribute_field(raw, 0, len(raw), AS2)
    assert back.problems == ()
    assert back.attributes.effective_as_path() == attrs.as_path
    assert back.attributes.effective_aggregator() == attrs.aggregator


def test_two_octet_form_without_wide_asns_adds_nothing() -> None:
    attrs = Attributes(as_path=(seq(65001, 65002),), aggregator=Aggregator(65001, 1))
    assert attrs.for_two_octet_peer() == attrs


def test_wide_asn_cannot_be_sent_as_two_octets() -> None:
    with pytest.raises(ValueError):
        encode_attributes(Attributes(as_path=(seq(4200000000),)), AS2)


def test_as4_attributes_from_a_four_octet_peer_are_dropped_and_never_sent() -> None:
    # RFC 6793 §4.1: AS4_PATH between NEW speakers is discarded (no error).
    raw = bytes.fromhex("40020602010000fde9c0110602010000fdea")
    parsed = decode_attribute_field(raw, 0, len(raw), AS4)
    assert parsed.problems == ()
    assert parsed.attributes == Attributes(as_path=(seq(65001),))
    assert encode_attributes(Attributes(as4_path=(seq(65002),)), AS4) == b""


def test_extended_length_both_ways() -> None:
    many = tuple(range(1, 101))  # 400 octets of communities
    raw = encode_attributes(Attributes(communities=many), AS4)
    assert raw[:4] == bytes((0xD0, AttrType.COMMUNITIES)) + (400).to_bytes(2, "big")
    assert decode_attribute_field(raw, 0, len(raw), AS4).attributes.communities == many
    # A short value sent with Extended Length by someone else decodes the same.
    short = bytes.fromhex("5001000100")
    assert decode_attribute_field(short, 0, len(short), AS4).attributes.origin is Origin.IGP
    assert encode_attributes(Attributes(origin=Origin.IGP), AS4) == bytes.fromhex("40010100")


def test_unknown_attributes_transitive_kept_with_partial_non_transitive_dropped() -> None:
    raw = bytes.fromhex("c06302010280640105")  # optional transitive 99, optional non-transitive 100
    parsed = decode_attribute_field(raw, 0, len(raw), AS4)
    assert parsed.problems == ()
    assert parsed.attributes.unknown == (UnknownAttribute(99, 0xC0, b"\x01\x02"),)
    assert encode_attributes(parsed.attributes, AS4) == bytes.fromhex("e063020102")  # Partial set


def test_attributes_encode_in_ascending_type_code_order() -> None:
    attrs = Attributes(
        origin=Origin.EGP,
        as_path=(),
        next_hop=0xC0000201,
        large_communities=((1, 2, 3),),
        unknown=(UnknownAttribute(25, 0xE0, b"x"),),
    )
    raw = encode_attributes(attrs, AS4)
    codes = []
    pos = 0
    while pos < len(raw):
        codes.append(raw[pos + 1])
        pos += 3 + raw[pos + 2]
    assert codes == [1, 2, 3, 25, 32]
    assert raw[3:7] == bytes.fromhex("01400200")  # ORIGIN EGP, then an empty AS_PATH is still sent


def test_with_next_hop_is_an_ordinary_frozen_set() -> None:
    attrs = Attributes(origin=Origin.IGP, as_path=(seq(65001),), next_hop=1, med=0, communities=(5,))
    other = attrs.with_next_hop(0x0A000002)
    assert type(other) is Attributes
    assert other == replace(attrs, next_hop=0x0A000002)
    assert hash(other) == hash(replace(attrs, next_hop=0x0A000002))
    assert attrs.next_hop == 1  # the template is untouched
    with pytest.raises(FrozenInstanceError):
        other.med = 1  # type: ignore[misc]


def test_interned_sets_are_shared() -> None:
    forget_decoded_sets()  # else a flat-mode template (same field, other NEXT_HOP) might serve it
    raw = bytes.fromhex("4001010040020602010000fde9400304c0000201")
    first = decode_attribute_field(raw, 0, len(raw), AS4).attributes
    second = decode_attribute_field(bytes(raw), 0, len(raw), AS4).attributes
    assert first is second
    # The 2-octet reading of other bytes is a different set, never confused with the 4-octet one.
    raw2 = bytes.fromhex("4001010040020402010001")
    assert decode_attribute_field(raw2, 0, len(raw2), AS2).attributes.as_path == (seq(1),)


def test_table_flags_and_actions_follow_the_rfcs() -> None:
    well_known = {
        AttrType.ORIGIN,
        AttrType.AS_PATH,
        AttrType.NEXT_HOP,
        AttrType.LOCAL_PREF,
        AttrType.ATOMIC_AGGREGATE,
    }
    for code, spec in ATTRIBUTES.items():
        assert bool(spec.flags & 0x80) == (code not in well_known), code
    assert ATTRIBUTES[AttrType.MP_REACH_NLRI].on_error is ErrorAction.SESSION_RESET
    assert ATTRIBUTES[AttrType.AGGREGATOR].on_error is ErrorAction.ATTRIBUTE_DISCARD
    assert ATTRIBUTES[AttrType.ORIGIN].on_error is ErrorAction.TREAT_AS_WITHDRAW


def test_community_text() -> None:
    assert community_to_text(community_from_text("65000:1")) == "65000:1"
    assert community_from_text("65000:1") == 65000 << 16 | 1
