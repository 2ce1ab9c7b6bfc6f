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
families and (for ``self``) its floating IP, so sessions alike share one computation and one tuple
of routes (``Exporter``): a plan of 500 sessions costs about as many passes over the nodes as it
has distinct segments. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from bgpd.plan.session_config import NextHopPolicy, SessionConfig
from bgpd.rib.routes import Route as RibRoute
from bgpd.rib.routes import RouteError
from bgpd.wire.attributes import community_to_text
from bgpd.wire.constants import GRACEFUL_SHUTDOWN, Afi, Family

__all__ = ["Announced", "Exporter", "Network", "NodeRoute", "SessionExport", "Skipped", "route_name"]

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


def _side(route: NodeRoute, segment: Network | None, peer_on: bool) -> str | None:
    """None when node and peer are both on ``segment``; else which side is off, in words."""
    if segment is None:
        return "the session's segment is unknown"
    address = route.address(segment.version)
    node_on = address is not None and address in segment
    if node_on and peer_on:
        return None
    if peer_on:
        return f"node {route.node} is off segment {segment}"
    if node_on:
        return f"the peer is off segment {segment}"
    return f"node {route.node} and the peer are both off segment {segment}"


class Exporter:
    """The segment rule over one plan's routes, shared by the plan's sessions (see the module doc)."""

    def __init__(self, routes: Iterable[NodeRoute]) -> None:
        self._routes = tuple(routes)
        self._exports: dict[tuple[object, ...], SessionExport] = {}
        self._rib_routes: dict[tuple[str, str, tuple[int, ...]], RibRoute | RouteError] = {}

    def export(self, config: SessionConfig, segment: Network | None, drained: bool = False) -> SessionExport:
        """The routes ``config``'s session announces from a floating IP on ``segment``; a
        ``drained`` session's carry the GRACEFUL_SHUTDOWN community (RFC 8326)."""
        peer_on = segment is not None and config.peer_ip in segment
        policy = config.off_segment_next_hop
        local_ip = config.local_ip if policy is NextHopPolicy.SELF else None
        communities = (GRACEFUL_SHUTDOWN,) if drained else ()
        key = (segment, peer_on, policy, config.families, local_ip, communities)
        found = self._exports.get(key)
        if found is None:
            found = self._exports[key] = self._compute(
                segment, peer_on, policy, config.families, local_ip, communities=communities
            )
        return found

    def _compute(
        self,
        segment: Network | None,
        peer_on: bool,
        policy: NextHopPolicy,
        families: tuple[Family, ...],
        local_ip: IPAddress | None,
        *,
        communities: tuple[int, ...],
    ) -> SessionExport:
        announced: list[Announced] = []
        skipped: list[Skipped] = []
        for route in self._routes:
            if route.family not in families:
                continue
            side = _side(route, segment, peer_on)
            if side is None:
                reason = f"node {route.node} and the peer are on segment {segment}"
                hop = route.next_hop
            elif policy is NextHopPolicy.NODE:
                reason, hop = f"{side}; offSegmentNextHop: node", route.next_hop
            elif policy is NextHopPolicy.SELF and local_ip is not None:
                if route.family.afi is not _AFI[local_ip.version]:
                    reason = (
                        f"{side}; offSegmentNextHop: self has no {route.family} next hop "
                        f"on an IPv{local_ip.version} session"
                    )
                    skipped.append(Skipped(route.prefix, route.family, route.node, reason))
                    continue
                reason, hop = f"{side}; offSegmentNextHop: self", str(local_ip)
            else:
                reason = f"{side} (RFC 4271 §5.1.3); offSegmentNextHop: skip"
                skipped.append(Skipped(route.prefix, route.family, route.node, reason))
                continue
            rib = self._rib_route(route.prefix, hop, communities)
            if isinstance(rib, RouteError):
                skipped.append(Skipped(route.prefix, route.family, route.node, f"{reason}, but {rib}"))
                continue
            announced.append(
                Announced(route_name(hop), route.prefix, hop, route.family, route.node, reason, rib)
            )
        return SessionExport(tuple(announced), tuple(skipped))

    def _rib_route(self, prefix: str, next_hop: str, communities: tuple[int, ...]) -> RibRoute | RouteError:
        """One route value per (prefix, next hop, communities), shared by every session announcing
        it: sessions alike announce identical attributes."""
        key = (prefix, next_hop, communities)
        found = self._rib_routes.get(key)
        if found is None:
            try:
                found = RibRoute.parse(prefix, next_hop, communities=communities)
            except RouteError as err:
                found = err
            self._rib_routes[key] = found
        return found
