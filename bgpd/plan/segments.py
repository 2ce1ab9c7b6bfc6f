"""Which routes a session carries, with which next hop, and why: the segment rule.

A third-party next hop is only usable by a directly connected peer when it lies on the peer's
subnet (RFC 4271 §5.1.3). The session's floating IP sits on a subnet, and the floating IP's
interface prefix (``10.0.1.100/24``) is the session's *segment*. A node's routes go out with the
node's own addresses as next hops only where **both** the node (its address of the segment's
family) and the peer are on that segment: then the node is on the peer's link. Every other case —
the node off the segment, the peer off it (a session from a floating IP on another subnet), both,
or a segment bgpd does not know — is the peer's ``offSegmentNextHop`` policy's to decide:

- ``skip``: leave it out; the session on the node's own segment carries it;
- ``self``: next hop = the floating IP (only for routes of the floating IP's family: an IPv6 route
  cannot carry an IPv4 next hop, and an IPv4 route with an IPv6 one needs RFC 8950);
- ``node``: announce the node's own address anyway (multihop fabrics that resolve it).

Every route gets a reason that says which side was off. An unknown segment is never guessed. A
drained session (``bgpd.plan.maintenance``) announces the same routes, each with the
GRACEFUL_SHUTDOWN community (RFC 8326), so the routers prefer other paths before it goes down.

What one session exports depends only on its segment, whether its peer is on it, its policy, its
families and (for ``self``) its floating IP: that is an ``ExportRule``, and sessions alike share one
rule, one computation and one tuple of routes (the plan keys exports by ``ExportRule.key``). A rule
decides route by route (``decide``), so a plan that changed a few nodes decides only their routes
again (``bgpd.plan.build``). Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from bgpd.plan.session_config import NextHopPolicy, SessionConfig
from bgpd.rib.routes import Route as RibRoute
from bgpd.rib.routes import RouteError
from bgpd.wire.attributes import community_to_text
from bgpd.wire.constants import GRACEFUL_SHUTDOWN, Afi, Family

__all__ = [
    "NOTHING",
    "Announced",
    "ExportKey",
    "ExportRule",
    "Network",
    "NodeRoute",
    "RibRoutes",
    "SessionExport",
    "Skipped",
    "route_name",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def route_name(next_hop: str) -> str:
    return "route-via-" + next_hop.replace(".", "-").replace(":", "-")


@dataclass(frozen=True, slots=True)
class NodeRoute:
    """A node's pod block of one family, with the node's addresses (the candidates for next hop)."""

    prefix: str
    family: Family
    next_hop: str  # the node's own address of the route's family
    node: str
    ipv4: IPAddress
    ipv6: IPAddress | None
    order: tuple[int, int, int, int]  # AFI, SAFI, network, length: the plan's route order

    def address(self, version: int) -> IPAddress | None:
        return self.ipv4 if version == 4 else self.ipv6


@dataclass(frozen=True, slots=True)
class Announced:
    """A route as one session announces it; ``route`` is what the speaker sends."""

    name: str
    prefix: str
    next_hop: str
    family: Family
    node: str
    reason: str
    route: RibRoute

    @property
    def communities(self) -> tuple[str, ...]:
        """The communities it is announced with, as text (``65535:0`` while drained)."""
        return tuple(community_to_text(c) for c in self.route.path.communities)


@dataclass(frozen=True, slots=True)
class Skipped:
    prefix: str
    family: Family
    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class SessionExport:
    """What one session carries (``announced``) and leaves out (``skipped``), in route order."""

    announced: tuple[Announced, ...]
    skipped: tuple[Skipped, ...]


NOTHING = SessionExport((), ())
_AFI = {4: Afi.IPV4, 6: Afi.IPV6}  # the family a floating IP can be next hop for (RFC 8950 aside)
ExportKey = tuple[object, ...]
RibRoutes = Callable[[str, str, IPAddress, Family, tuple[int, ...]], RibRoute | RouteError]
"""(prefix, next hop text, next hop, family, communities) → the route value, shared by every
session announcing it: sessions alike announce identical attributes (a memo)."""


class ExportRule:
    """The segment rule for the sessions that share ``key``: their segment, whether their peer is
    on it, their policy, families, (for ``self``) floating IP, and whether they are drained (their
    routes carry the GRACEFUL_SHUTDOWN community, RFC 8326)."""

    __slots__ = (
        "_mask",
        "_network",
        "communities",
        "families",
        "key",
        "local_ip",
        "peer_on",
        "policy",
        "segment",
    )

    def __init__(self, config: SessionConfig, segment: Network | None, drained: bool = False) -> None:
        self.segment = segment
        self.peer_on = segment is not None and config.peer_ip in segment
        self.policy = config.off_segment_next_hop
        self.families = config.families
        self.local_ip = config.local_ip if self.policy is NextHopPolicy.SELF else None
        self.communities: tuple[int, ...] = (GRACEFUL_SHUTDOWN,) if drained else ()
        self.key: ExportKey = (
            segment,
            self.peer_on,
            self.policy,
            self.families,
            self.local_ip,
            self.communities,
        )
        self._network = int(segment.network_address) if segment is not None else 0
        self._mask = int(segment.netmask) if segment is not None else 0

    def _side(self, route: NodeRoute) -> str | None:
        """None when node and peer are both on the segment; else which side is off, in words."""
        segment = self.segment
        if segment is None:
            return "the session's segment is unknown"
        address = route.address(segment.version)
        node_on = address is not None and int(address) & self._mask == self._network
        if node_on and self.peer_on:
            return None
        if self.peer_on:
            return f"node {route.node} is off segment {segment}"
        if node_on:
            return f"the peer is off segment {segment}"
        return f"node {route.node} and the peer are both off segment {segment}"

    def decide(self, route: NodeRoute, rib_routes: RibRoutes) -> Announced | Skipped | None:
        """How these sessions carry ``route``: announced (with which next hop and why), skipped
        (why), or None when its family is not theirs."""
        if route.family not in self.families:
            return None
        side = self._side(route)
        policy = self.policy
        hop_address: IPAddress | None = route.address(4 if route.family.afi is Afi.IPV4 else 6)
        if side is None:
            reason = f"node {route.node} and the peer are on segment {self.segment}"
            hop = route.next_hop
        elif policy is NextHopPolicy.NODE:
            reason, hop = f"{side}; offSegmentNextHop: node", route.next_hop
        elif policy is NextHopPolicy.SELF and self.local_ip is not None:
            local_ip = self.local_ip
            if route.family.afi is not _AFI[local_ip.version]:
                reason = (
                    f"{side}; offSegmentNextHop: self has no {route.family} next hop "
                    f"on an IPv{local_ip.version} session"
                )
                return Skipped(route.prefix, route.family, route.node, reason)
            reason, hop, hop_address = f"{side}; offSegmentNextHop: self", str(local_ip), local_ip
        else:
            reason = f"{side} (RFC 4271 §5.1.3); offSegmentNextHop: skip"
            return Skipped(route.prefix, route.family, route.node, reason)
        assert hop_address is not None  # a route's family always has its node's address
        rib = rib_routes(route.prefix, hop, hop_address, route.family, self.communities)
        if isinstance(rib, RouteError):
            return Skipped(route.prefix, route.family, route.node, f"{reason}, but {rib}")
        return Announced(route_name(hop), route.prefix, hop, route.family, route.node, reason, rib)
