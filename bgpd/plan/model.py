"""The plan's values: what a plan says, frozen and comparable, so two plans diff by value.

``Plan`` holds the pod-CIDR allocations (``PlannedNode``), every session of the cluster with its
full configuration and, for the sessions this host runs, the routes each exports and leaves out
(``bgpd.plan.segments``), the routes of the nodes (``Route``), the nodes that could not be served
(``Problem``) and the ledger to commit. ``bgpd.plan.build`` makes them.

Sessions: each selected BGPPeer gets ``sessions`` sessions, each from a different floating IP of
the peer's address family. Peer *i* (peers ordered by peer IP) starts at floating IP *i mod n* and
takes the next ones in turn, so peers do not all lean on the same first floating IP (``placements``).
A session is named ``<peer IP>-node-<NN>``, NN being the 1-based position of its floating IP in the
NetworkGatewayGroup (the product's ``10.0.1.254-node-01``): a name always means the same (peer,
floating IP) pair, which makes the name the key a diff goes by.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Collection
from dataclasses import dataclass

from bgpd.manifests import Manifests, Peer
from bgpd.plan.segments import Announced, Network, Skipped
from bgpd.plan.session_config import SessionConfig
from bgpd.rib.ledger import Ledger
from bgpd.wire.constants import Family

__all__ = [
    "Placement",
    "Plan",
    "PlannedNode",
    "Problem",
    "Route",
    "Session",
    "placements",
    "router_id",
    "session_name",
]

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


@dataclass(frozen=True, slots=True)
class Placement:
    """A session before its configuration: which peer, from which floating IP."""

    peer: Peer
    index: int  # the floating IP's position in the NetworkGatewayGroup
    local_ip: IPAddress


def placements(manifests: Manifests) -> list[Placement]:
    floating = [(i, ipaddress.ip_address(ip)) for i, ip in enumerate(manifests.floating_ips)]
    out: list[Placement] = []
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
            out += [Placement(peer, index, ip) for index, ip in chosen]
    return out


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


def _address_key(text: str) -> tuple[int, int]:
    address = ipaddress.ip_address(text)
    return address.version, int(address)
