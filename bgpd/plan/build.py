"""The plan: validated manifests + allocation ledger + the addresses this host holds → what to run.

Pure (no I/O, no clock), so ``bgpd plan`` can show exactly what the daemon would do, and the daemon
can diff two plans: sessions and routes are frozen, hashable, ordered values.

- Allocations come from the Node documents when the file has them, else from the allocator
  (upstream ClusterCIDR semantics, stable through the ledger): ``bgpd.plan.allocation``.
- Sessions: each selected BGPPeer gets ``sessions`` sessions, each from a different floating IP of
  the peer's address family. Peer *i* (peers ordered by peer IP) starts at floating IP *i mod n* and
  takes the next ones in turn, so peers do not all lean on the same first floating IP. A session is
  named ``<peer IP>-node-<NN>``, NN being the 1-based position of its floating IP in the
  NetworkGatewayGroup (the product's ``10.0.1.254-node-01``): a name always means the same
  (peer, floating IP) pair.
- Routes: per node and enabled family, its pod block with the node's own address of that family as
  next hop (third-party next hop, RFC 4271 §5.1.3), named ``route-via-<next hop, dots/colons as
  dashes>``. A route is one value shared by every session carrying its family, so all sessions
  announce a prefix with identical attributes (ECMP on the routers depends on it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from dataclasses import dataclass

from bgpd.manifests import Manifests, Peer
from bgpd.plan.allocation import WHAT_IF, AllocationPolicy, allocate_nodes
from bgpd.rib.allocator import AllocationResult
from bgpd.rib.ledger import Ledger, NodeAllocation
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family

__all__ = ["Plan", "PlannedNode", "Problem", "Route", "Session", "build_plan", "route_name", "session_name"]


@dataclass(frozen=True, slots=True)
class PlannedNode:
    name: str
    address: str
    ipv6_address: str | None
    pool: str
    config: str | None  # the ClusterCIDRConfig serving it; None when it got no block
    ipv4: str | None
    ipv6: str | None

    @property
    def pod_cidrs(self) -> tuple[str, ...]:
        return tuple(c for c in (self.ipv4, self.ipv6) if c is not None)


@dataclass(frozen=True, slots=True, order=True)
class Session:
    name: str
    peer: str  # the BGPPeer's name
    local_ip: str  # the floating IP the session is bound to
    peer_ip: str
    local_asn: int
    peer_asn: int
    families: tuple[Family, ...]
    local: bool  # this host holds ``local_ip`` now, so it runs this session


@dataclass(frozen=True, slots=True, order=True)
class Route:
    name: str
    prefix: str
    next_hop: str
    family: Family


@dataclass(frozen=True, slots=True)
class Problem:
    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    nodes: tuple[PlannedNode, ...]  # sorted by name
    sessions: tuple[Session, ...]  # by peer IP, then floating IP position
    routes: tuple[Route, ...]  # by family, then prefix
    problems: tuple[Problem, ...]
    ledger: Ledger  # the ledger after this allocation (commit it to keep the blocks stable)

    def routes_for(self, session: Session) -> tuple[Route, ...]:
        """What ``session`` announces: every route of the families it carries."""
        return tuple(r for r in self.routes if r.family in session.families)


def session_name(peer_ip: str, floating_index: int) -> str:
    return f"{peer_ip}-node-{floating_index + 1:02d}"


def route_name(next_hop: str) -> str:
    return "route-via-" + next_hop.replace(".", "-").replace(":", "-")


def build_plan(
    manifests: Manifests,
    ledger: Ledger,
    local_addresses: Collection[str],
    allocation: AllocationPolicy = WHAT_IF,
) -> Plan:
    """The plan; ``allocation`` gives the time and reservation setting (the daemon and ``bgpd plan
    --state-dir`` pass them; the default suits a plan that is never committed)."""
    result = allocate_nodes(manifests, ledger, allocation)
    nodes = _nodes(manifests, result)
    families = _families(manifests)
    return Plan(
        nodes=nodes,
        sessions=_sessions(manifests, families, local_addresses),
        routes=_routes(nodes, families),
        problems=tuple(Problem(p.node, p.reason) for p in result.problems),
        ledger=result.ledger,
    )


def _nodes(manifests: Manifests, result: AllocationResult) -> tuple[PlannedNode, ...]:
    by_node: dict[str, NodeAllocation] = {a.node: a for a in result.allocations}
    planned = []
    for node in manifests.nodes:
        allocation = by_node.get(node.name)
        planned.append(
            PlannedNode(
                name=node.name,
                address=node.address,
                ipv6_address=node.ipv6_address,
                pool=node.pool,
                config=allocation.config if allocation is not None else None,
                ipv4=allocation.ipv4 if allocation is not None else None,
                ipv6=allocation.ipv6 if allocation is not None else None,
            )
        )
    return tuple(planned)


def _families(manifests: Manifests) -> tuple[Family, ...]:
    enabled = ((manifests.enable_ipv4, IPV4_UNICAST), (manifests.enable_ipv6, IPV6_UNICAST))
    return tuple(family for on, family in enabled if on)


def _address_key(text: str) -> tuple[int, int]:
    address = ipaddress.ip_address(text)
    return address.version, int(address)


def _network_key(text: str) -> tuple[int, int, int]:
    network = ipaddress.ip_network(text)
    return network.version, int(network.network_address), network.prefixlen


def _sessions(
    manifests: Manifests, families: tuple[Family, ...], local_addresses: Collection[str]
) -> tuple[Session, ...]:
    local = {ipaddress.ip_address(a) for a in local_addresses}
    floating = [(i, ipaddress.ip_address(ip)) for i, ip in enumerate(manifests.floating_ips)]
    sessions: list[Session] = []
    for version in (4, 6):
        usable = [(i, ip) for i, ip in floating if ip.version == version]
        peers = sorted(
            (p for p in manifests.peers if ipaddress.ip_address(p.peer_ip).version == version),
            key=lambda p: _address_key(p.peer_ip),
        )
        for rank, peer in enumerate(peers):
            sessions += _peer_sessions(peer, rank, usable, families, local)
    return tuple(sessions)


def _peer_sessions(
    peer: Peer,
    rank: int,
    usable: list[tuple[int, ipaddress.IPv4Address | ipaddress.IPv6Address]],
    families: tuple[Family, ...],
    local: set[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> list[Session]:
    if not usable:
        return []
    count = min(peer.sessions, len(usable))
    chosen = sorted(usable[(rank + k) % len(usable)] for k in range(count))
    return [
        Session(
            name=session_name(peer.peer_ip, index),
            peer=peer.name,
            local_ip=str(ip),
            peer_ip=peer.peer_ip,
            local_asn=peer.local_asn,
            peer_asn=peer.peer_asn,
            families=families,
            local=ip in local,
        )
        for index, ip in chosen
    ]


def _routes(nodes: tuple[PlannedNode, ...], families: tuple[Family, ...]) -> tuple[Route, ...]:
    routes: list[Route] = []
    for node in nodes:
        if IPV4_UNICAST in families and node.ipv4 is not None:
            routes.append(Route(route_name(node.address), node.ipv4, node.address, IPV4_UNICAST))
        if IPV6_UNICAST in families and node.ipv6 is not None and node.ipv6_address is not None:
            routes.append(Route(route_name(node.ipv6_address), node.ipv6, node.ipv6_address, IPV6_UNICAST))
    return tuple(sorted(routes, key=lambda r: (r.family, _network_key(r.prefix))))
