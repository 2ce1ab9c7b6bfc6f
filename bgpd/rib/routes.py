"""The routes bgpd announces, as values: a prefix, its family and the path it is announced with.

A ``Route`` is what the plan asks a session to announce. Its ``Path`` holds only what differs per
route (next hop, MED, communities); ORIGIN, AS_PATH and LOCAL_PREF follow from the session type and
are added by ``export_attributes``, so every session of one kind announces a prefix with identical
attributes (routers need that for ECMP, see docs/design).

Next hop rules, checked when a route is made, because a wrong next hop is a local bug that should
fail loudly, not a route the peer silently drops:

- an IPv6 route's next hop is a global IPv6 address (RFC 2545 §3): never ``::``, never link-local,
  never IPv4-mapped, never multicast;
- an IPv4 route's next hop is an IPv4 host address (RFC 4271 §5.1.3: the third-party next hop of a
  node on the peer's segment), or a global IPv6 address, which can only be sent where RFC 8950
  extended next hop was negotiated (``Route.needs_extended_next_hop``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final, TypeAlias

from bgpd.wire.attributes import AsSegment, Attributes
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, AsPathSegmentType, Family, Origin
from bgpd.wire.nlri import Prefix, prefix_from_text, prefix_to_text

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

IBGP_LOCAL_PREF: Final = 100  # the conventional default; RFC 4271 §5.1.5 requires the attribute on iBGP
_BAD_V4_NEXT_HOPS: Final = (
    ipaddress.IPv4Network("0.0.0.0/8"),
    ipaddress.IPv4Network("224.0.0.0/4"),
    ipaddress.IPv4Network("240.0.0.0/4"),
)  # RFC 4271 §6.3: the receiver would answer these with Invalid NEXT_HOP


class RouteError(ValueError):
    """A route that cannot be announced as given (bad prefix or next hop)."""


def _check_v6_next_hop(address: ipaddress.IPv6Address) -> None:
    if (
        address.is_unspecified
        or address.is_link_local
        or address.is_multicast
        or address.ipv4_mapped is not None
    ):
        raise RouteError(f"IPv6 next hop {address} is not a global unicast address (RFC 2545 §3)")


@dataclass(frozen=True, slots=True)
class Path:
    """The per-route part of the attributes. Routes with equal paths share one UPDATE."""

    next_hop: IPAddress
    med: int | None = None
    communities: tuple[int, ...] = ()  # RFC 1997 values, ``65000:1`` is ``65000 << 16 | 1``

    def __post_init__(self) -> None:
        if self.med is not None and not 0 <= self.med <= 0xFFFFFFFF:
            raise RouteError(f"MED {self.med} does not fit 32 bits")
        if any(not 0 <= c <= 0xFFFFFFFF for c in self.communities):
            raise RouteError(f"community out of range in {self.communities}")

    @property
    def next_hop_bytes(self) -> bytes:
        return self.next_hop.packed


@dataclass(frozen=True, slots=True)
class Route:
    """One announced prefix: ``prefix`` in the compact ``(network, length)`` form of ``wire.nlri``."""

    family: Family
    prefix: Prefix
    path: Path

    def __post_init__(self) -> None:
        if self.family not in (IPV4_UNICAST, IPV6_UNICAST):
            raise RouteError(f"family {self.family} is not announced by bgpd")
        width = 32 if self.family == IPV4_UNICAST else 128
        network, length = self.prefix[0], self.prefix[1]
        if len(self.prefix) != 2 or not 0 <= length <= width or network >> width:
            raise RouteError(f"{self.prefix!r} is not an {self.family} prefix")
        if network & ((1 << (width - length)) - 1):
            raise RouteError(f"{self.text} has host bits set")
        next_hop = self.path.next_hop
        if isinstance(next_hop, ipaddress.IPv6Address):
            _check_v6_next_hop(next_hop)
        elif self.family == IPV6_UNICAST:
            raise RouteError(f"IPv6 route {self.text} needs an IPv6 next hop, not {next_hop}")
        elif any(next_hop in bad for bad in _BAD_V4_NEXT_HOPS):
            raise RouteError(f"{next_hop} is not a valid IPv4 next hop (RFC 4271 §6.3)")

    @classmethod
    def parse(
        cls, prefix: str, next_hop: str, med: int | None = None, communities: tuple[int, ...] = ()
    ) -> Route:
        """``Route.parse("10.1.0.0/24", "10.0.1.5")``; the family comes from the prefix."""
        try:
            network = ipaddress.ip_network(prefix.strip())
            hop = ipaddress.ip_address(next_hop.strip())
        except ValueError as err:
            raise RouteError(str(err)) from None
        family = IPV4_UNICAST if network.version == 4 else IPV6_UNICAST
        return cls(family, prefix_from_text(str(network)), Path(hop, med, communities))

    @property
    def needs_extended_next_hop(self) -> bool:
        """An IPv4 route with an IPv6 next hop: sendable only with RFC 8950 negotiated."""
        return self.family == IPV4_UNICAST and self.path.next_hop.version == 6

    @property
    def text(self) -> str:
        return prefix_to_text(self.prefix, self.family.afi)


@dataclass(frozen=True, slots=True)
class ExportPolicy:
    """What a session adds to every route: its kind (eBGP/iBGP) and local ASN."""

    local_asn: int
    ibgp: bool

    def attributes(self, path: Path, family: Family) -> Attributes:
        """The attributes for ``path`` (without MP_REACH, which the packer adds).

        ORIGIN IGP (the pod CIDRs are our own networks, RFC 4271 §5.1.1); AS_PATH with our ASN
        for eBGP and empty for iBGP (§5.1.2); LOCAL_PREF on iBGP only (§5.1.5); NEXT_HOP only for
        IPv4 routes with an IPv4 next hop, carried in the classic NLRI field (§5.1.3)."""
        as_path = () if self.ibgp else (AsSegment(AsPathSegmentType.AS_SEQUENCE, (self.local_asn,)),)
        next_hop = path.next_hop
        classic = family == IPV4_UNICAST and isinstance(next_hop, ipaddress.IPv4Address)
        return Attributes(
            origin=Origin.IGP,
            as_path=as_path,
            next_hop=int(next_hop) if classic else None,
            med=path.med,
            local_pref=IBGP_LOCAL_PREF if self.ibgp else None,
            communities=path.communities,
        )
