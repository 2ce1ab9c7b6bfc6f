"""Which routes a session carries, with which next hop, and why: the per-segment next-hop rule.

A third-party next hop is only usable by a directly connected peer when it lies on the peer's
subnet (RFC 4271 §5.1.3). The session's floating IP sits on that subnet, so the floating IP's
interface prefix (``10.0.1.100/24``) is the session's *segment*. A node whose address of the
session's family lies inside the segment is on the peer's link: all of its routes are announced
with its own addresses as next hops (its IPv6 address is on the same link as its IPv4 one). For
every other node the peer's ``offSegmentNextHop`` policy decides:

- ``skip``: leave it out; the session on the node's own segment carries it;
- ``self``: next hop = the floating IP (only for routes of the floating IP's family: an IPv6 route
  cannot carry an IPv4 next hop, and an IPv4 route with an IPv6 one needs RFC 8950);
- ``node``: announce the node's own address anyway (multihop fabrics that resolve it).

A session whose segment is unknown (the floating IP is on no interface bgpd can see) treats every
node as off-segment, so the policy — never a guess — decides. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from bgpd.plan import Plan, PlannedNode, Route, Session, route_name
from bgpd.plan.settings import NextHopPolicy

__all__ = ["Announced", "Network", "SessionExport", "Skipped", "export_routes"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True, order=True)
class Announced:
    """A route as this session announces it: ``next_hop`` may differ from the plan's (``self``)."""

    name: str
    prefix: str
    next_hop: str
    family: str
    node: str
    reason: str


@dataclass(frozen=True, slots=True, order=True)
class Skipped:
    prefix: str
    family: str
    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class SessionExport:
    """What one session carries (``announced``) and what it leaves out (``skipped``), with reasons."""

    segment: Network | None
    policy: NextHopPolicy
    announced: tuple[Announced, ...]
    skipped: tuple[Skipped, ...]


def _node_address(node: PlannedNode, version: int) -> str | None:
    return node.address if version == 4 else node.ipv6_address


def _on_segment(node: PlannedNode, segment: Network | None) -> bool:
    if segment is None:
        return False
    address = _node_address(node, segment.version)
    return address is not None and ipaddress.ip_address(address) in segment


def _route_family_version(route: Route) -> int:
    return ipaddress.ip_network(route.prefix).version


def export_routes(
    plan: Plan, session: Session, segment: Network | None, policy: NextHopPolicy
) -> SessionExport:
    """The routes ``session`` announces given its floating IP's ``segment`` and the peer's ``policy``."""
    owner = {cidr: node for node in plan.nodes for cidr in node.pod_cidrs}
    where = "unknown segment" if segment is None else f"segment {segment}"
    announced: list[Announced] = []
    skipped: list[Skipped] = []
    for route in plan.routes_for(session):
        node = owner[route.prefix]
        family = str(route.family)
        if _on_segment(node, segment):
            reason = f"node {node.name} is on {where}"
            announced.append(Announced(route.name, route.prefix, route.next_hop, family, node.name, reason))
        elif policy is NextHopPolicy.NODE:
            reason = f"node {node.name} is off {where}; offSegmentNextHop: node"
            announced.append(Announced(route.name, route.prefix, route.next_hop, family, node.name, reason))
        elif policy is NextHopPolicy.SELF and _route_family_version(route) == _version(session.local_ip):
            reason = f"node {node.name} is off {where}; offSegmentNextHop: self"
            hop = session.local_ip
            announced.append(Announced(route_name(hop), route.prefix, hop, family, node.name, reason))
        elif policy is NextHopPolicy.SELF:
            reason = (
                f"node {node.name} is off {where}; offSegmentNextHop: self has no {family} "
                f"next hop on an IPv{_version(session.local_ip)} session"
            )
            skipped.append(Skipped(route.prefix, family, node.name, reason))
        else:
            reason = f"node {node.name} is off {where} (RFC 4271 §5.1.3); offSegmentNextHop: skip"
            skipped.append(Skipped(route.prefix, family, node.name, reason))
    return SessionExport(segment, policy, tuple(announced), tuple(skipped))


def _version(address: str) -> int:
    return ipaddress.ip_address(address).version
