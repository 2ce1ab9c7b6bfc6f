"""The plan: the whole answer to "what does this host run and announce", as one pure function.

``build_plan(manifests, settings, ledger, local addresses, now=…)`` → ``Plan``: the pod-CIDR allocations,
every session of the cluster with its full configuration (``SessionConfig``: addresses, ASNs,
router ID and every per-session setting), and for each session this host runs, the routes it
exports and, for every route left out, the reason. Nothing that decides what goes on the wire is
left to the daemon: it diffs two plans (``bgpd.plan.diff``) and carries out the difference. Pure
(no I/O, no clock: ``now`` is given), so ``bgpd plan`` shows exactly what ``bgpd run`` does with the
same inputs.

- Allocations come from the Node documents when the file has them, else from the allocator
  (upstream ClusterCIDR semantics, stable through the ledger, missing nodes' blocks reserved from
  ``now`` for ``allocation.reservationTime``): ``bgpd.plan.allocation`` is the one call into it.
- Sessions: each selected BGPPeer gets ``sessions`` sessions, each from a different floating IP of
  the peer's address family. Peer *i* (peers ordered by peer IP) starts at floating IP *i mod n* and
  takes the next ones in turn, so peers do not all lean on the same first floating IP. A session is
  named ``<peer IP>-node-<NN>``, NN being the 1-based position of its floating IP in the
  NetworkGatewayGroup (the product's ``10.0.1.254-node-01``): a name always means the same
  (peer, floating IP) pair, which makes the name the key a diff goes by.
- A session runs here when this host holds its floating IP; the address's prefix is the session's
  segment, and ``bgpd.plan.segments`` decides its routes from it.
- Maintenance (``bgpd.plan.maintenance``): a disabled session is still planned (the daemon holds
  it down); a drained one announces its routes with the GRACEFUL_SHUTDOWN community (RFC 8326).
- Routes: per node and enabled family, its pod block with the node's own address of that family as
  next hop (third-party next hop, RFC 4271 §5.1.3), named ``route-via-<next hop, dots/colons as
  dashes>``. A session's routes are keyed by prefix (one next hop per prefix and session), and one
  route value is shared by every session announcing it, so all sessions announce a prefix with
  identical attributes (ECMP on the routers depends on it).

Built for diffs by key: sessions by name, routes by prefix, settings by field, so a later reload
can rebuild only what its change touches.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from bgpd.manifests import Manifests, Peer
from bgpd.plan.allocation import allocate_nodes
from bgpd.plan.maintenance import Maintenance
from bgpd.plan.segments import NOTHING, Announced, Exporter, Network, NodeRoute, Skipped, route_name
from bgpd.plan.session_config import SessionConfig
from bgpd.plan.settings import LocalAddress, Settings
from bgpd.rib.allocator import AllocationResult
from bgpd.rib.ledger import Ledger, NodeAllocation
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family

__all__ = ["Plan", "PlannedNode", "Problem", "Route", "Session", "build_plan", "router_id", "session_name"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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


@dataclass(frozen=True, slots=True)
class Session:
    """One session of the cluster: its configuration, whether it runs here, and what it exports.

    ``segment``, ``announced`` and ``skipped`` are filled only for a session this host runs
    (``local``): elsewhere another gateway runs it, from its own view of the segment."""

    peer: str  # the BGPPeer's name
    config: SessionConfig
    local: bool  # this host holds the floating IP now, so it runs this session
    segment: Network | None  # the floating IP's prefix here; None when unknown or not held
    announced: tuple[Announced, ...]  # by family, then prefix
    skipped: tuple[Skipped, ...]
    # the operator's maintenance state (``bgpd.plan.maintenance``): held down with this RFC 9003
    # text (None: not disabled); routes tagged GRACEFUL_SHUTDOWN (RFC 8326)
    disabled: str | None = None
    drained: bool = False

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def local_ip(self) -> str:
        return str(self.config.local_ip)

    @property
    def peer_ip(self) -> str:
        return str(self.config.peer_ip)

    @property
    def local_asn(self) -> int:
        return self.config.local_asn

    @property
    def peer_asn(self) -> int:
        return self.config.peer_asn

    @property
    def families(self) -> tuple[Family, ...]:
        return self.config.families

    def routes(self) -> dict[str, Announced]:
        """What the session announces, keyed by prefix."""
        return {a.prefix: a for a in self.announced}


@dataclass(frozen=True, slots=True, order=True)
class Route:
    """A node's pod block with the node's own address as next hop (what ``routes`` lists)."""

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

    def by_name(self) -> dict[str, Session]:
        return {s.name: s for s in self.sessions}

    def local_sessions(self) -> dict[str, Session]:
        """The sessions this host runs, keyed by name (what the daemon diffs)."""
        return {s.name: s for s in self.sessions if s.local}


def session_name(peer_ip: str, floating_index: int) -> str:
    return f"{peer_ip}-node-{floating_index + 1:02d}"


def build_plan(
    manifests: Manifests,
    settings: Settings,
    ledger: Ledger,
    local_addresses: Collection[LocalAddress],
    maintenance: Maintenance | None = None,
    *,
    now: int,
) -> Plan:
    """The plan for ``manifests`` and ``settings`` on a host holding ``local_addresses``, with the
    operator's disabled and drained sessions (``maintenance``; None: none), at ``now`` (POSIX
    seconds: a node missing from the file is reserved from then; reservations end by it)."""
    result = allocate_nodes(manifests, ledger, now=now, reservation_time=settings.allocation.reservation_time)
    nodes = _nodes(manifests, result)
    families = _families(manifests)
    node_routes = _node_routes(nodes, families)
    held = {a.address: a.prefix for a in local_addresses}
    return Plan(
        nodes=nodes,
        sessions=_sessions(
            manifests,
            settings,
            families,
            held,
            Exporter(node_routes),
            maintenance=maintenance or Maintenance(),
        ),
        routes=tuple(Route(route_name(r.next_hop), r.prefix, r.next_hop, r.family) for r in node_routes),
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


def _node_routes(nodes: tuple[PlannedNode, ...], families: tuple[Family, ...]) -> tuple[NodeRoute, ...]:
    routes: list[NodeRoute] = []
    for node in nodes:
        v4 = ipaddress.ip_address(node.address)
        v6 = ipaddress.ip_address(node.ipv6_address) if node.ipv6_address is not None else None
        if IPV4_UNICAST in families and node.ipv4 is not None:
            routes.append(NodeRoute(node.ipv4, IPV4_UNICAST, node.address, node.name, v4, v6))
        if IPV6_UNICAST in families and node.ipv6 is not None and node.ipv6_address is not None:
            routes.append(NodeRoute(node.ipv6, IPV6_UNICAST, node.ipv6_address, node.name, v4, v6))
    return tuple(sorted(routes, key=lambda r: (r.family, _network_key(r.prefix))))


@dataclass(frozen=True, slots=True)
class _Placement:
    """A session before its configuration: which peer, from which floating IP."""

    peer: Peer
    index: int  # the floating IP's position in the NetworkGatewayGroup
    local_ip: IPAddress


def _placements(manifests: Manifests) -> list[_Placement]:
    floating = [(i, ipaddress.ip_address(ip)) for i, ip in enumerate(manifests.floating_ips)]
    placements: list[_Placement] = []
    for version in (4, 6):
        usable = [(i, ip) for i, ip in floating if ip.version == version]
        peers = sorted(
            (p for p in manifests.peers if ipaddress.ip_address(p.peer_ip).version == version),
            key=lambda p: _address_key(p.peer_ip),
        )
        for rank, peer in enumerate(peers):
            if not usable:
                break
            count = min(peer.sessions, len(usable))
            chosen = sorted(usable[(rank + k) % len(usable)] for k in range(count))
            placements += [_Placement(peer, index, ip) for index, ip in chosen]
    return placements


def router_id(local_ip: IPAddress, floating: Collection[IPAddress]) -> ipaddress.IPv4Address:
    """Our BGP Identifier for a session from ``local_ip``: that address when IPv4, else the lowest
    IPv4 floating IP with sessions, else 32 bits derived from ``local_ip`` (RFC 6286: unique per AS
    is enough)."""
    if isinstance(local_ip, ipaddress.IPv4Address):
        return local_ip
    v4 = sorted(ip for ip in floating if isinstance(ip, ipaddress.IPv4Address))
    if v4:
        return v4[0]
    digest = int.from_bytes(hashlib.sha256(local_ip.packed).digest()[:4], "big")
    return ipaddress.IPv4Address(digest or 1)


def _sessions(
    manifests: Manifests,
    settings: Settings,
    families: tuple[Family, ...],
    held: Mapping[IPAddress, Network | None],
    exporter: Exporter,
    *,
    maintenance: Maintenance,
) -> tuple[Session, ...]:
    placements = _placements(manifests)
    floating = {p.local_ip for p in placements}
    sessions: list[Session] = []
    for placement in placements:
        peer = placement.peer
        config = SessionConfig(
            name=session_name(peer.peer_ip, placement.index),
            local_ip=placement.local_ip,
            peer_ip=ipaddress.ip_address(peer.peer_ip),
            local_asn=peer.local_asn,
            peer_asn=peer.peer_asn,
            router_id=router_id(placement.local_ip, floating),
            families=families,
            **settings.session_values(peer.peer_ip),
        )
        local = placement.local_ip in held
        segment = held.get(placement.local_ip)
        drained = maintenance.is_drained(config.name)
        export = exporter.export(config, segment, drained) if local else NOTHING
        disabled = maintenance.shutdown_message(config.name)
        sessions.append(
            Session(peer.name, config, local, segment, export.announced, export.skipped, disabled, drained)
        )
    return tuple(sessions)
