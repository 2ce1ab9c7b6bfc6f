"""Addresses in the manifests are checked and written as ``ipaddress`` writes them, whichever way
``_ip`` takes (an IPv4 address already written that way is kept without parsing)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgpd.manifests.models import _canonical_ipv4, _ip


def _reference(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def _ours(text: str) -> str | None:
    try:
        return _ip(text)
    except ValueError:
        return None


@given(st.text(alphabet="0123456789.: \t\n\u0663\u00b2abf", max_size=20))
def test_every_text_gives_what_ipaddress_gives(text: str) -> None:
    assert _ours(text) == _reference(text)


@given(st.lists(st.integers(0, 999).map(str), min_size=3, max_size=5).map(".".join))
def test_dotted_numbers_give_what_ipaddress_gives(text: str) -> None:
    assert _ours(text) == _reference(text)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("10.0.12.34", True),
        ("0.0.0.0", True),
        ("255.255.255.255", True),
        ("10.0.012.34", False),  # leading zero: ipaddress refuses it
        ("10.0.256.1", False),
        ("10.0.1", False),
        ("10.0.\u0663.1", False),  # a non-ASCII digit
        ("::1", False),
    ],
)
def test_only_addresses_written_as_ipaddress_writes_them_are_kept(text: str, canonical: bool) -> None:
    assert _canonical_ipv4(text) is canonical


def test_other_addresses_are_parsed_and_written_as_ipaddress_writes_them() -> None:
    assert _ip(" 2001:DB8::0:1 ") == "2001:db8::1"
    with pytest.raises(ValueError, match="is not an IP address"):
        _ip("10.0.012.34")
