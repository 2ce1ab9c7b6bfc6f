"""NLRI prefix fields (RFC 4271 §4.3, RFC 7911 §3): the tuple representation, masking, and errors."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.wire.constants import Afi
from bgpd.wire.nlri import (
    NlriError,
    encode_prefixes,
    ipv4_address_from_text,
    ipv4_prefix_from_text,
    key_prefix,
    prefix_field,
    prefix_from_text,
    prefix_key,
    prefix_to_text,
)


def decode(data: bytes, afi: int = Afi.IPV4, add_path: bool = False) -> list[tuple[int, ...]]:
    return list(prefix_field(data, 0, len(data), afi, add_path))


def test_text_helpers_round_trip_both_families() -> None:
    assert prefix_from_text("10.0.0.0/24") == (0x0A000000, 24)
    assert prefix_from_text("2001:db8::/64") == (0x20010DB8 << 96, 64)
    assert prefix_from_text("10.0.0.0/24", path_id=7) == (0x0A000000, 24, 7)
    assert prefix_to_text((0x0A000000, 24)) == "10.0.0.0/24"
    assert prefix_to_text((0x20010DB8 << 96, 64), Afi.IPV6) == "2001:db8::/64"
    with pytest.raises(ValueError):
        prefix_from_text("10.0.0.1/24")  # host bits set: not a prefix


def test_wire_layout_uses_only_significant_octets() -> None:
    assert encode_prefixes([(0x0A000000, 24), (0, 0), (0xC0000201, 32)], Afi.IPV4, False) == bytes.fromhex(
        "180a00000020c0000201"
    )
    assert encode_prefixes([(0x0A000000, 8, 5)], Afi.IPV4, True) == bytes.fromhex("00000005080a")


def test_host_bits_beyond_the_length_are_masked() -> None:
    # RFC 4271 §4.3: trailing bits are irrelevant, so 10.0.0.255/24 on the wire is 10.0.0.0/24.
    assert decode(bytes.fromhex("140a00ff")) == [(0x0A00F000, 20)]  # 10.0.255.0/20 -> 10.0.240.0/20
    assert decode(bytes.fromhex("170a0001")) == [(0x0A000000, 23)]
    assert decode(bytes.fromhex("41" + "20010db8000000ff" + "ff"), Afi.IPV6) == [
        (0x20010DB8000000FF << 64 | 1 << 63, 65)
    ]


@pytest.mark.parametrize(
    ("hex_data", "afi", "add_path", "offset"),
    [
        ("21" + "0a000000" + "00", Afi.IPV4, False, 0),  # /33
        ("180a0000" + "180a00", Afi.IPV4, False, 4),  # second prefix overruns
        ("81" + "00" * 17, Afi.IPV6, False, 0),  # /129
        ("00000001", Afi.IPV4, True, 0),  # path identifier without a length octet
        ("00000001" + "18" + "0a00", Afi.IPV4, True, 0),  # prefix overruns after the path id
        ("00000001" + "21" + "0a000000" + "00", Afi.IPV4, True, 0),  # /33 with a path id
    ],
)
def test_syntactically_incorrect_fields(hex_data: str, afi: int, add_path: bool, offset: int) -> None:
    with pytest.raises(NlriError) as info:
        decode(bytes.fromhex(hex_data), afi, add_path)
    assert info.value.offset == offset


def test_keys_refuse_what_the_family_cannot_carry() -> None:
    for bad in [(0x0A000000, 33), (1 << 32, 8), (-1, 8), (0, -1), (0, 8, 1, 2)]:
        with pytest.raises(ValueError):
            prefix_key(bad, Afi.IPV4)
    assert prefix_key((1 << 127, 1), Afi.IPV6) == 0x180


def test_encode_refuses_what_the_family_cannot_carry() -> None:
    with pytest.raises(ValueError):
        encode_prefixes([(0x0A000000, 33)], Afi.IPV4, False)
    with pytest.raises(ValueError):
        encode_prefixes([(1 << 32, 8)], Afi.IPV4, False)
    with pytest.raises(ValueError):
        encode_prefixes([(0x0A000000, 8, 1)], Afi.IPV4, False)  # a path id needs ADD-PATH


def _prefix(width: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.integers(0, width).flatmap(
        lambda n: st.integers(0, (1 << width) - 1).map(lambda a: (a >> (width - n) << (width - n), n))
    )


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([(Afi.IPV4, 32), (Afi.IPV6, 128)]).flatmap(
        lambda fw: st.tuples(
            st.just(fw[0]), st.lists(st.tuples(_prefix(fw[1]), st.integers(0, 2**32 - 1)), max_size=20)
        )
    ),
    st.booleans(),
)
def test_round_trip(case: tuple[int, list[tuple[tuple[int, int], int]]], add_path: bool) -> None:
    afi, items = case
    prefixes = [(*p, path_id) if add_path else p for p, path_id in items]
    wire = encode_prefixes(prefixes, afi, add_path)
    assert decode(wire, afi, add_path) == prefixes
    # The compact keys a decoded field holds are the keys of its prefixes, and lead back to them.
    field = prefix_field(wire, 0, len(wire), afi, add_path)
    assert field.keys == [prefix_key(p, afi) for p in prefixes]
    assert [key_prefix(k, afi) for k in field.keys] == prefixes
    assert field == tuple(prefixes) and hash(field) == hash(tuple(prefixes)) and len(field) == len(prefixes)


_path_ids = st.none() | st.integers(0, 9)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([(Afi.IPV4, 32), (Afi.IPV6, 128)]).flatmap(
        lambda fw: st.tuples(
            st.just(fw[0]),
            st.lists(
                st.tuples(
                    st.integers(0, fw[1]), st.integers(0, (1 << fw[1]) - 1), st.none() | st.integers(0, 9)
                ),
                min_size=2,
                max_size=2,
            ),
        )
    )
)
def test_keys_differ_exactly_when_prefixes_do(case: tuple[int, list[tuple[int, int, int | None]]]) -> None:
    # Host bits do not count (RFC 4271 §4.3: they are irrelevant), the length and path id do.
    afi, raw = case
    width = 32 if afi == Afi.IPV4 else 128
    prefixes = [(a >> (width - n) << (width - n), n, *(() if pid is None else (pid,))) for n, a, pid in raw]
    with_host_bits = [(a, n, *(() if pid is None else (pid,))) for n, a, pid in raw]
    keys = [prefix_key(p, afi) for p in prefixes]
    assert [prefix_key(p, afi) for p in with_host_bits] == keys
    assert (keys[0] == keys[1]) == (prefixes[0] == prefixes[1])
    assert [key_prefix(k, afi) for k in keys] == prefixes


def _by_ipaddress(text: str) -> tuple[int, int] | None:
    try:
        network = ipaddress.ip_network(text)
    except ValueError:
        return None
    return (int(network.network_address), network.prefixlen) if network.version == 4 else None


_octet_text = st.one_of(
    st.integers(0, 300).map(str), st.sampled_from(["", "01", "00", "1a", "٣", " 1", "+1"])
)
_near_prefixes = st.builds(
    lambda octets, sep, length: ".".join(octets) + sep + length,
    st.lists(_octet_text, min_size=3, max_size=5),
    st.sampled_from(["/", "", "//", " /"]),
    st.one_of(st.integers(0, 40).map(str), st.sampled_from(["", "024", "x", "3 2", "²"])),
)


@settings(max_examples=500)
@given(_near_prefixes)
def test_fast_ipv4_parsing_agrees_with_ipaddress(text: str) -> None:
    # The fast path must never accept what ipaddress refuses, nor read anything differently; where
    # it declines, prefix_from_text asks ipaddress (same answer, same errors).
    fast = ipv4_prefix_from_text(text)
    assert fast is None or fast == _by_ipaddress(text)
    address = text.partition("/")[0]
    by_ipaddress = _by_ipaddress(address + "/32")
    assert ipv4_address_from_text(address) in (None, by_ipaddress[0] if by_ipaddress else None)


def test_fast_ipv4_parsing_takes_the_usual_forms() -> None:
    assert ipv4_prefix_from_text("100.64.3.0/24") == (0x64400300, 24)
    assert ipv4_address_from_text("10.0.1.5") == 0x0A000105
    assert ipv4_prefix_from_text("10.0.0.1/24") is None  # host bits: ipaddress words the error
    assert ipv4_prefix_from_text("2001:db8::/64") is None
