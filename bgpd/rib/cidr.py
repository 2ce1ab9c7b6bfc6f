"""Pod-CIDR blocks as plain integers: parse once, compute with ints, format once.

The allocator and the ledger both reason about blocks as ``(version, first address, prefix length)``
so that containment, overlap and "the lowest free block" are integer arithmetic — an IPv6 range of
2**64 per-node blocks costs nothing until a block is actually handed out. Parsing uses the standard
library's ``ipaddress`` (strict: no host bits, an explicit ``/len``); text is always produced in the
canonical compressed form so that the same block is always the same string.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Final

from bgpd.wire.nlri import ipv4_prefix_from_text

ADDRESS_BITS: Final = {4: 32, 6: 128}


@dataclass(frozen=True, slots=True, order=True)
class Block:
    """One CIDR block; ``first`` is the network address as an int. Orders by family, address, length."""

    version: int
    first: int
    prefixlen: int

    @property
    def size(self) -> int:
        """Number of addresses in the block."""
        return 1 << (ADDRESS_BITS[self.version] - self.prefixlen)

    @property
    def end(self) -> int:
        """One past the last address: blocks are half-open ``[first, end)`` intervals."""
        return self.first + self.size

    def overlaps(self, other: Block) -> bool:
        return self.version == other.version and self.first < other.end and other.first < self.end

    def __str__(self) -> str:
        return format_block(self.version, self.first, self.prefixlen)


@functools.lru_cache(maxsize=1 << 16)
def parse_block(text: str, *, strict: bool = True) -> Block:
    """Parse ``"a.b.c.d/len"`` or ``"x:y::/len"``; raise ``ValueError`` with a readable reason.

    ``strict`` rejects set host bits (``10.0.0.1/24``); without it they are masked off, the way
    Kubernetes reads a ClusterCIDR range. A missing ``/len`` is always an error: a bare address
    silently becoming a /32 is never what a pod range means. The address itself is read by
    ``ipaddress`` (no leading zeros, no netmask forms), bypassing its slower network objects because
    a restart parses every block of a large ledger. The last 65,536 results are remembered: a plan
    reads each block several times (ledger, allocation, routes), and every reload again.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a CIDR string, got {type(text).__name__}")
    quick = ipv4_prefix_from_text(text)  # the common case, ten times faster than ``ipaddress``
    if quick is not None:
        return Block(4, quick[0], quick[1])
    address_text, slash, length = text.partition("/")
    if not slash or not length.isdigit() or not length.isascii() or len(length) > 3:
        raise ValueError(f"{text!r} is not a CIDR (expected address/prefix-length)")
    try:
        if "%" in address_text:  # an IPv6 scope ("fe80::1%eth0") is not part of a prefix
            raise ValueError(address_text)
        address: ipaddress.IPv4Address | ipaddress.IPv6Address
        if ":" in address_text:
            address = ipaddress.IPv6Address(address_text)
        else:
            address = ipaddress.IPv4Address(address_text)
    except ValueError:
        raise ValueError(f"{text!r} is not a CIDR: {address_text!r} is not an IP address") from None
    bits = ADDRESS_BITS[address.version]
    prefixlen = int(length)
    if prefixlen > bits:
        raise ValueError(f"{text!r} is not a CIDR: prefix length {prefixlen} exceeds {bits}")
    first = int(address)
    network = first & ~((1 << (bits - prefixlen)) - 1)
    if strict and network != first:
        raise ValueError(
            f"{text!r} has host bits set (the network is {format_block(address.version, network, prefixlen)})"
        )
    return Block(address.version, network, prefixlen)


def format_block(version: int, first: int, prefixlen: int) -> str:
    """Canonical text of a block (dotted quad; ``ipaddress`` compressed form for IPv6)."""
    if version == 4:
        return f"{first >> 24}.{(first >> 16) & 255}.{(first >> 8) & 255}.{first & 255}/{prefixlen}"
    return f"{ipaddress.IPv6Address(first)}/{prefixlen}"
