"""Block parsing and formatting (``bgpd.rib.cidr``) agree with the standard library on every block."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.rib.cidr import Block, format_block, parse_block


@st.composite
def networks(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    version = draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    prefixlen = draw(st.integers(0, bits))
    address = draw(st.integers(0, (1 << bits) - 1)) >> (bits - prefixlen) << (bits - prefixlen)
    return ipaddress.ip_network((address, prefixlen))


@settings(max_examples=300, deadline=None)
@given(networks())
def test_parse_and_format_match_ipaddress(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
    block = parse_block(str(network))
    assert block == Block(network.version, int(network.network_address), network.prefixlen)
    assert str(block) == format_block(block.version, block.first, block.prefixlen) == str(network)
    assert block.end == int(network.broadcast_address) + 1
    assert parse_block(network.exploded) == block  # non-canonical input, same block


def test_lenient_parse_masks_host_bits() -> None:
    assert parse_block("10.1.2.3/16", strict=False) == Block(4, 0x0A010000, 16)
    with pytest.raises(ValueError, match="host bits"):
        parse_block("10.1.2.3/16")


@pytest.mark.parametrize(
    ("left", "right", "overlap"),
    [
        ("10.0.0.0/24", "10.0.1.0/24", False),
        ("10.0.0.0/23", "10.0.1.0/24", True),
        ("10.0.0.0/24", "10.0.0.0/24", True),
        ("0.0.0.0/0", "255.255.255.255/32", True),
        ("::/96", "0.0.0.0/0", False),  # same integers, different families
    ],
)
def test_overlaps(left: str, right: str, overlap: bool) -> None:
    a, b = parse_block(left), parse_block(right)
    assert a.overlaps(b) is overlap and b.overlaps(a) is overlap


@pytest.mark.parametrize(
    "text", ["", "/", "10.0.0.0/", "10.0.0.0/1000", "10.0.0.0/２４", "::/129", "1.2.3.4/ 8"]
)
def test_malformed_text_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="CIDR"):
        parse_block(text)
