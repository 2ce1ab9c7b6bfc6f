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
import struct
from dataclasses import dataclass
from typing import Final, TypeAlias

from bgpd.wire.attributes import (
    ATTRIBUTES,
    AsSegment,
    Attributes,
    encode_attribute,
    encode_attributes,
    split_attributes,
)
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, AsPathSegmentType, AttrType, Family, Origin
from bgpd.wire.context import DEFAULT_CONTEXT, CodecContext
from bgpd.wire.nlri import Prefix, ipv4_address_from_text, ipv4_prefix_from_text, prefix_to_text

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

IBGP_LOCAL_PREF: Final = 100  # the conventional default; RFC 4271 §5.1.5 requires the attribute on iBGP
# RFC 4271 §6.3: the receiver would answer these with Invalid NEXT_HOP: 0.0.0.0/8, and from
# 224.0.0.0/4 (multicast) up (240.0.0.0/4 reserved, with the broadcast address).
_MULTICAST_V4: Final = 0xE  # the top four bits of 224.0.0.0


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
        if self.communities and any(not 0 <= c <= 0xFFFFFFFF for c in self.communities):
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
        elif int(next_hop) >> 24 == 0 or int(next_hop) >> 28 >= _MULTICAST_V4:
            raise RouteError(f"{next_hop} is not a valid IPv4 next hop (RFC 4271 §6.3)")

    @classmethod
    def parse(
        cls, prefix: str, next_hop: str, med: int | None = None, communities: tuple[int, ...] = ()
    ) -> Route:
        """``Route.parse("10.1.0.0/24", "10.0.1.5")``; the family comes from the prefix."""
        key = ipv4_prefix_from_text(prefix.strip())  # the common case, without ``ipaddress``
        family = IPV4_UNICAST
        hop_int = ipv4_address_from_text(next_hop.strip())
        try:
            if key is None:
                network = ipaddress.ip_network(prefix.strip())
                key = (int(network.network_address), network.prefixlen)
                family = IPV4_UNICAST if network.version == 4 else IPV6_UNICAST
            hop = (
                ipaddress.ip_address(next_hop.strip()) if hop_int is None else ipaddress.IPv4Address(hop_int)
            )
        except ValueError as err:
            raise RouteError(str(err)) from None
        return cls(family, key, Path(hop, med, communities))

    @property
    def needs_extended_next_hop(self) -> bool:
        """An IPv4 route with an IPv6 next hop: sendable only with RFC 8950 negotiated."""
        return self.family == IPV4_UNICAST and self.path.next_hop.version == 6

    @property
    def text(self) -> str:
        return prefix_to_text(self.prefix, self.family.afi)


_NEXT_HOP: Final = int(AttrType.NEXT_HOP)
_MED: Final = int(AttrType.MULTI_EXIT_DISC)
_COMMUNITIES: Final = int(AttrType.COMMUNITIES)
_U32: Final = struct.Struct("!I")


def classic_next_hop(family: Family, path: Path) -> bool:
    """An IPv4 route with an IPv4 next hop: NEXT_HOP attribute and the UPDATE's own NLRI field (RFC
    4271 §4.3); every other route goes in MP_REACH_NLRI with its next hop there (RFC 4760 §3)."""
    return family == IPV4_UNICAST and path.next_hop.version == 4


@dataclass(frozen=True, slots=True)
class ExportPolicy:
    """What a session adds to every route: its kind (eBGP/iBGP) and local ASN."""

    local_asn: int
    ibgp: bool

    def common(self) -> Attributes:
        """The attributes every route of the session carries, whatever its path: ORIGIN IGP (the
        pod CIDRs are our own networks, RFC 4271 §5.1.1); AS_PATH with our ASN for eBGP and empty
        for iBGP (§5.1.2); LOCAL_PREF on iBGP only (§5.1.5). Per path come NEXT_HOP (only for IPv4
        routes with an IPv4 next hop, carried in the classic NLRI field, §5.1.3; other next hops
        go in MP_REACH_NLRI, which the packer adds), MED and COMMUNITIES: see ``ExportEncoder``."""
        as_path = () if self.ibgp else (AsSegment(AsPathSegmentType.AS_SEQUENCE, (self.local_asn,)),)
        return Attributes(
            origin=Origin.IGP, as_path=as_path, local_pref=IBGP_LOCAL_PREF if self.ibgp else None
        )

    def encoder(self, ctx: CodecContext) -> ExportEncoder:
        return ExportEncoder(self, ctx)


class ExportEncoder:
    """The attribute field of a route: ``policy.common()`` with the path's NEXT_HOP, MED and
    COMMUNITIES, as ``ctx`` encodes it (in the RFC 6793 §4.2.2 form for a peer without 4-octet AS
    support), without building an ``Attributes``.

    Why: in flat mode every route has its own next hop, so every route needs its own attribute
    field, and the generic encoder costs more than all the rest of sending a route. What does not
    depend on the path (ORIGIN, AS_PATH, LOCAL_PREF, AS4_PATH) is encoded once per session by the
    generic encoder; per path only NEXT_HOP, MED and COMMUNITIES are encoded, and spliced in at
    their places in ascending type-code order (RFC 4271 §5)."""

    __slots__ = ("_after_med", "_before_next_hop", "_last")

    def __init__(self, policy: ExportPolicy, ctx: CodecContext) -> None:
        common = policy.common()
        if not ctx.four_octet_as:
            common = common.for_two_octet_peer()
        parts = split_attributes(encode_attributes(common, ctx))
        self._before_next_hop = b"".join(raw for code, raw in parts if code < _NEXT_HOP)
        self._after_med = b"".join(raw for code, raw in parts if _MED < code < _COMMUNITIES)
        self._last = b"".join(raw for code, raw in parts if code > _COMMUNITIES)

    def encode(self, path: Path, classic: bool) -> bytes:
        """The field for ``path``; ``classic``: its next hop goes in NEXT_HOP (``classic_next_hop``)."""
        out = self._before_next_hop
        if classic:
            out += _NEXT_HOP_ATTR + path.next_hop.packed
        if path.med is not None:
            out += _MED_ATTR + _U32.pack(path.med)
        out += self._after_med
        if path.communities:
            spec = ATTRIBUTES[_COMMUNITIES]
            out += encode_attribute(_COMMUNITIES, spec.flags, spec.encode(path.communities, DEFAULT_CONTEXT))
        return out + self._last


_NEXT_HOP_ATTR: Final = bytes((ATTRIBUTES[_NEXT_HOP].flags, _NEXT_HOP, 4))
_MED_ATTR: Final = bytes((ATTRIBUTES[_MED].flags, _MED, 4))
