"""Cross-document rules: the file as a whole must describe one consistent flat-mode cluster.

Every rule reports through ``Parsed.diagnostic`` so each finding names the document, the field
and the reason, and no rule stops the others: an operator sees all problems of a file at once.
Documents that failed their own model are counted (so "missing FlatIPMode" is not reported when it
is merely broken) but their contents are not used.

Cost (a 10,000-node file is read again on every reload): what a rule finds about the nodes of one
NodePool alone (their ``Node`` values, their addresses, their own checks) is kept per pool
(``RulesMemo``) while the pool's document is the same; across pools the rules only ask whether
anything is wrong at all (sets and bisections), and go node by node, as they always did, only when
something is, so every message reads as it always did.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
import operator
import socket
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bgpd.manifests import models
from bgpd.manifests.cluster import (
    NODE_LABEL,
    POOL_LABEL,
    CidrConfig,
    Manifests,
    Node,
    NodePodCidrs,
    Peer,
    PodRange,
)
from bgpd.manifests.diagnostics import Diagnostic, Severity
from bgpd.manifests.documents import Parsed, format_path
from bgpd.manifests.node_docs import NodeIdentity, check_node_documents
from bgpd.manifests.yamldocs import PathPart

# Kinds outside any namespace: the Cluster names the namespace itself; Kubernetes Nodes have none.
_UNNAMESPACED = frozenset({"Cluster", "Node"})
_NAME = operator.attrgetter("name")
MAX_ASN = 4_294_967_295  # RFC 6793: four-octet AS numbers
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Path = tuple[PathPart, ...]


@dataclass(frozen=True, slots=True)
class _Where:
    """A field of a document, for messages that point at a second place."""

    owner: Parsed[Any]
    path: Path

    def __str__(self) -> str:
        return f"{self.owner.ref.kind}/{self.owner.ref.name} {format_path(self.path)}"


@dataclass(frozen=True, slots=True)
class _NodeSource:
    where: _Where
    entry: models.NodeEntry
    pool: str
    pool_labels: dict[str, str]


class _Rules:
    def __init__(
        self, parsed: dict[str, list[Parsed[Any]]], seen: Counter[str], memo: RulesMemo | None = None
    ) -> None:
        self.parsed = parsed
        self.seen = seen  # documents per kind, valid or not
        self.memo = memo if memo is not None else RulesMemo()
        self.out: list[Diagnostic] = []

    def error(self, where: _Where, message: str) -> None:
        self.out.append(where.owner.diagnostic(Severity.ERROR, where.path, message))

    def warn(self, where: _Where, message: str, severity: Severity = Severity.WARNING) -> None:
        self.out.append(where.owner.diagnostic(severity, where.path, message))

    def file_error(self, message: str) -> None:
        self.out.append(Diagnostic(Severity.ERROR, message))

    # --- the rules, in the order an operator would fix them ---

    def run(self) -> Manifests | None:
        # Without a usable Cluster the rules that need it are skipped; the others still run, so
        # the operator sees every other error of the file too.
        cluster = self._cluster()
        namespace = cluster.model.metadata.namespace if cluster is not None else None
        if cluster is not None:
            self._namespaces(namespace or "")
        self._unique_names()
        gateway = self._singleton("NetworkGatewayGroup", namespace)
        flat = self._singleton("FlatIPMode", namespace)
        network = self._network(cluster)
        pools = self._nodes(cluster, flat)
        quiet = _all_quiet(pools)
        if not quiet:  # something to say about some node: node by node, in file order
            ipv4 = flat is not None and flat.model.spec.enable_bgp_ipv4
            ipv6 = flat is not None and flat.model.spec.enable_bgp_ipv6
            self._node_addresses([source for pool in pools for source in pool.sources], ipv4, ipv6)
        configs = self._cidr_configs(cluster, flat, network)
        node_addresses = _pool_addresses(pools, quiet)
        floating = self._floating_ips(gateway, node_addresses)
        peers = self._peers(flat, floating, node_addresses)
        self._overlaps(
            configs, network, pools=pools, node_addresses=node_addresses, floating=floating, peers=peers
        )
        node_cidrs = self._node_documents(pools, configs)
        self.memo.keep(pools)
        if any(d.severity is Severity.ERROR for d in self.out) or not (cluster and gateway and flat):
            return None
        spec = flat.model.spec
        return Manifests(
            cluster=cluster.model.metadata.name,
            namespace=namespace or "",
            nodes=tuple(sorted(itertools.chain.from_iterable(pool.nodes for pool in pools), key=_NAME)),
            cidr_configs=tuple(_cidr_config(p.model) for p in configs),
            floating_ips=tuple(str(a) for a, _ in floating),
            peers=tuple(peers),
            enable_ipv4=spec.enable_bgp_ipv4,
            enable_ipv6=spec.enable_bgp_ipv6,
            service_cidrs=tuple(str(n) for n, _ in network),
            node_cidrs=node_cidrs,
        )

    def _cluster(self) -> Parsed[models.Cluster] | None:
        clusters: list[Parsed[models.Cluster]] = self.parsed.get("Cluster", [])
        if self.seen["Cluster"] == 0:
            self.file_error("no Cluster manifest (kind: Cluster, apiVersion baremetal.cluster.gke.io/v1)")
            return None
        for extra in clusters[1:]:
            self.error(
                _Where(extra, ("kind",)), f"a file describes one Cluster; the first is {clusters[0].ref}"
            )
        if not clusters:
            return None  # the one Cluster is broken; its own errors say why
        cluster = clusters[0]
        if not cluster.model.metadata.namespace:
            self.error(_Where(cluster, ("metadata", "namespace")), "required: the cluster namespace")
        return cluster

    def _namespaces(self, namespace: str) -> None:
        for kind, items in self.parsed.items():
            for item in items:
                if kind in _UNNAMESPACED or item.model.metadata.namespace == namespace:
                    continue
                got = item.model.metadata.namespace
                reason = f"is {got!r}" if got else "is missing"
                self.error(
                    _Where(item, ("metadata", "namespace")),
                    f"{reason}; must be the cluster namespace {namespace!r}",
                )

    def _unique_names(self) -> None:
        for kind, items in self.parsed.items():
            first: dict[str, Parsed[Any]] = {}
            for item in items:
                name = item.model.metadata.name
                if name in first:
                    self.error(
                        _Where(item, ("metadata", "name")),
                        f"duplicate {kind} name; first at {first[name].ref}",
                    )
                else:
                    first[name] = item

    def _singleton(self, kind: str, namespace: str | None) -> Any:
        items: list[Parsed[Any]] = self.parsed.get(kind, [])
        if self.seen[kind] == 0:
            self.file_error(
                f"no {kind} manifest: the file needs one named 'default' in "
                + (f"namespace {namespace!r}" if namespace else "the cluster namespace")
            )
            return None
        for extra in items[1:]:
            self.error(
                _Where(extra, ("metadata", "name")),
                f"only one {kind} is allowed; the first is {items[0].ref}",
            )
        if not items:
            return None
        if items[0].model.metadata.name != "default":
            self.error(_Where(items[0], ("metadata", "name")), f"a {kind} must be named 'default'")
        return items[0]

    def _network(self, cluster: Parsed[models.Cluster] | None) -> list[tuple[Network, _Where]]:
        """Checks clusterNetwork; returns the service ranges."""
        if cluster is None:
            return []
        net = cluster.model.spec.cluster_network
        base: Path = ("spec", "clusterNetwork")
        if net is None:
            self.error(_Where(cluster, base), "required: flat mode needs advancedNetworking: true")
            return []
        if not net.advanced_networking:
            self.error(_Where(cluster, (*base, "advancedNetworking")), "must be true for flat mode with BGP")
        if net.flat_ipv4 and net.pods is not None and net.pods.cidr_blocks:
            self.warn(
                _Where(cluster, (*base, "pods", "cidrBlocks")),
                "ignored because flatIPv4 is true: pod ranges come from the ClusterCIDRConfigs",
                Severity.NOTICE,
            )
        services = net.services.cidr_blocks if net.services is not None else []
        return [
            (ipaddress.ip_network(c), _Where(cluster, (*base, "services", "cidrBlocks", i)))
            for i, c in enumerate(services)
        ]

    def _nodes(
        self, cluster: Parsed[models.Cluster] | None, flat: Parsed[models.FlatIPMode] | None
    ) -> list[_PoolFacts]:
        name = cluster.model.metadata.name if cluster is not None else None
        pools: list[_PoolFacts] = []
        ipv4 = flat is not None and flat.model.spec.enable_bgp_ipv4
        ipv6 = flat is not None and flat.model.spec.enable_bgp_ipv6
        holders = (
            ()
            if cluster is None
            else (
                ("controlPlane", cluster.model.spec.control_plane, cluster.model.metadata.name),
                ("loadBalancer", cluster.model.spec.load_balancer, f"{cluster.model.metadata.name}-lb"),
            )
        )
        for field, holder, pool in holders:
            spec = holder.node_pool_spec if holder is not None else None
            if spec is not None and cluster is not None:
                pools.append(
                    self._pool(cluster, ("spec", field, "nodePoolSpec"), pool, spec, ipv4=ipv4, ipv6=ipv6)
                )
        implicit = {pool for _, _, pool in holders}
        for item in self.parsed.get("NodePool", []):
            pool = item.model.metadata.name
            if pool in implicit:
                self.error(
                    _Where(item, ("metadata", "name")),
                    f"clashes with the implicit node pool {pool!r} of the Cluster",
                )
            owner = item.model.spec.cluster_name
            if owner is not None and name is not None and owner != name:
                self.error(
                    _Where(item, ("spec", "clusterName")), f"is {owner!r}, but the Cluster is {name!r}"
                )
            pools.append(self._pool(item, ("spec",), pool, item.model.spec, ipv4=ipv4, ipv6=ipv6))
        return pools

    def _node_documents(
        self, pools: list[_PoolFacts], configs: list[Parsed[models.ClusterCIDRConfig]]
    ) -> tuple[NodePodCidrs, ...] | None:
        """The Node documents' pod CIDRs (checked), or None when the file has no Node document."""
        if self.seen["Node"] == 0:
            return None
        identities = [
            NodeIdentity(
                n.entry.address,
                tuple(a for a in (n.entry.address, n.entry.k8s_ip, n.entry.ipv6_address) if a is not None),
            )
            for pool in pools
            for n in pool.sources
        ]
        cidrs, findings = check_node_documents(self.parsed.get("Node", []), identities, configs)
        self.out += findings
        return cidrs

    def _pool(
        self, owner: Parsed[Any], base: Path, pool: str, spec: models.NodePoolSpec, *, ipv4: bool, ipv6: bool
    ) -> _PoolFacts:
        for key in (POOL_LABEL, NODE_LABEL):
            if key in spec.labels:
                self.error(
                    _Where(owner, (*base, "labels", key)), f"bgpd sets label {key} on every node itself"
                )
        return self.memo.pool(owner, base, pool, spec, ipv4=ipv4, ipv6=ipv6)

    def _node_addresses(self, sources: list[_NodeSource], ipv4: bool, ipv6: bool) -> None:
        addresses: dict[str, _Where] = {}  # every address of every node: none may be listed twice
        for source in sources:
            entry, at = source.entry, source.where
            self._first(addresses, entry.address, _Where(at.owner, (*at.path, "address")), "node address")
            data_field = "k8sIP" if entry.k8s_ip is not None else "address"
            data = entry.k8s_ip or entry.address
            data_at = _Where(at.owner, (*at.path, data_field))
            if entry.k8s_ip is not None and entry.k8s_ip != entry.address:
                self._first(addresses, entry.k8s_ip, data_at, "node address")
            if ipv4 and ":" in data:  # normalised text: only IPv6 has colons
                self.error(
                    data_at, "must be IPv4: it is the next hop of the node's IPv4 pod route (enableBGPIPv4)"
                )
            v6_at = _Where(at.owner, (*at.path, "ipv6Address"))
            if entry.ipv6_address is None:
                if ipv6:
                    self.error(
                        v6_at,
                        "required when FlatIPMode enableBGPIPv6 is true: the node's global IPv6 address, "
                        "next hop of its IPv6 pod route (bgpd extension, docs/manifests.md)",
                    )
                continue
            self._first(addresses, entry.ipv6_address, v6_at, "node address")
            problem = _not_global_ipv6(ipaddress.ip_address(entry.ipv6_address))
            if problem:
                self.error(
                    v6_at,
                    f"{entry.ipv6_address} {problem}: a pod route's next hop must be a global IPv6 address",
                )

    def _first(self, seen: dict[str, _Where], key: str, where: _Where, what: str) -> None:
        if key in seen:
            self.error(where, f"{what} {key} is already listed at {seen[key]}")
        else:
            seen[key] = where

    def _cidr_configs(
        self,
        cluster: Parsed[models.Cluster] | None,
        flat: Parsed[models.FlatIPMode] | None,
        network: list[tuple[Network, _Where]],
    ) -> list[Parsed[models.ClusterCIDRConfig]]:
        configs: list[Parsed[models.ClusterCIDRConfig]] = self.parsed.get("ClusterCIDRConfig", [])
        net = cluster.model.spec.cluster_network if cluster is not None else None
        flat_ipv4 = net is not None and net.flat_ipv4
        enable_v4 = flat is not None and flat.model.spec.enable_bgp_ipv4
        enable_v6 = flat is not None and flat.model.spec.enable_bgp_ipv6
        if flat is not None:
            spec_at: Path = ("spec",)
            if enable_v4 and net is not None and not flat_ipv4:
                self.error(
                    _Where(flat, (*spec_at, "enableBGPIPv4")),
                    "needs Cluster spec.clusterNetwork.flatIPv4: true (IPv4 pods are in island mode)",
                )
            if flat_ipv4 and not enable_v4:
                self.warn(
                    _Where(flat, (*spec_at, "enableBGPIPv4")),
                    "is false while Cluster flatIPv4 is true: bgpd announces no IPv4 pod routes",
                )
            if not enable_v4 and not enable_v6:
                self.warn(
                    _Where(flat, spec_at),
                    "neither enableBGPIPv4 nor enableBGPIPv6 is true: nothing to announce",
                )
            if enable_v6 and net is not None and not any(n.version == 6 for n, _ in network):
                self.warn(
                    _Where(flat, (*spec_at, "enableBGPIPv6")),
                    "is true but the Cluster has no IPv6 services block, so it is not dual-stack",
                )
        needs = {4: flat_ipv4 or enable_v4, 6: enable_v6}
        why = {
            4: "Cluster flatIPv4 is true" if flat_ipv4 else "FlatIPMode enableBGPIPv4 is true",
            6: "FlatIPMode enableBGPIPv6 is true",
        }
        if cluster is not None and self.seen["ClusterCIDRConfig"] == 0 and (needs[4] or needs[6]):
            self.error(
                _Where(cluster, ("spec", "clusterNetwork")), "flat mode needs at least one ClusterCIDRConfig"
            )
        for item in configs:
            spec = item.model.spec
            if spec.ipv4 is None and spec.ipv6 is None:
                self.error(_Where(item, ("spec",)), "needs an ipv4 or an ipv6 range")
            for version, field, pod_range in ((4, "ipv4", spec.ipv4), (6, "ipv6", spec.ipv6)):
                if pod_range is None:
                    if needs[version]:
                        self.error(_Where(item, ("spec", field)), f"required: {why[version]}")
                    continue
                self._pod_range(_Where(item, ("spec", field)), version, pod_range)
        return configs

    def _pod_range(self, where: _Where, version: int, pod_range: models.PodRange) -> None:
        network = ipaddress.ip_network(pod_range.cidr)
        if network.version != version:
            self.error(_Where(where.owner, (*where.path, "cidr")), f"{network} is not an IPv{version} range")
            return
        mask = pod_range.per_node_mask_size
        mask_at = _Where(where.owner, (*where.path, "perNodeMaskSize"))
        if mask > network.max_prefixlen:
            self.error(
                mask_at, f"{mask} is longer than an IPv{version} address ({network.max_prefixlen} bits)"
            )
        elif mask <= network.prefixlen:
            self.error(mask_at, f"{mask} must be longer than the range's prefix length /{network.prefixlen}")

    def _floating_ips(
        self, gateway: Parsed[models.NetworkGatewayGroup] | None, node_addresses: dict[str, _Where]
    ) -> list[tuple[Address, _Where]]:
        if gateway is None:
            return []
        ips = gateway.model.spec.floating_ips
        if not ips:
            self.error(
                _Where(gateway, ("spec", "floatingIPs")),
                "needs at least one floating IP: sessions start from them",
            )
        first: dict[str, _Where] = {}
        result: list[tuple[Address, _Where]] = []
        for i, ip in enumerate(ips):
            where = _Where(gateway, ("spec", "floatingIPs", i))
            if ip in first:
                self.error(where, f"duplicate floating IP {ip} (also {format_path(first[ip].path)})")
                continue
            first[ip] = where
            if ip in node_addresses:
                self.error(where, f"{ip} is a node address ({node_addresses[ip]}); a floating IP must not be")
            result.append((ipaddress.ip_address(ip), where))
        return result

    def _peers(
        self,
        flat: Parsed[models.FlatIPMode] | None,
        floating: list[tuple[Address, _Where]],
        node_addresses: dict[str, _Where],
    ) -> list[Peer]:
        all_peers: list[Parsed[models.BGPPeer]] = self.parsed.get("BGPPeer", [])
        for item in all_peers:
            spec = item.model.spec
            for field, asn in (("localASN", spec.local_asn), ("peerASN", spec.peer_asn)):
                if not 1 <= asn <= MAX_ASN:
                    self.error(_Where(item, ("spec", field)), f"{asn} is not an AS number (1..{MAX_ASN})")
            if spec.sessions < 1:
                self.error(
                    _Where(item, ("spec", "sessions")), f"{spec.sessions}: a peer needs at least 1 session"
                )
        if flat is None:
            return []
        selector = flat.model.spec.peer_selector
        selected = [p for p in all_peers if _matches(selector, p.model.metadata.labels)]
        if not selected and self.seen["BGPPeer"] == len(all_peers):
            names = ", ".join(p.model.metadata.name for p in all_peers) or "none"
            self.error(
                _Where(flat, ("spec", "peerSelector")),
                f"selects no BGPPeer (selector {selector}; BGPPeers in the file: {names})",
            )
        floating_set = {str(a) for a, _ in floating}
        peer_ips: dict[str, _Where] = {}
        peers: list[Peer] = []
        for item in selected:
            spec = item.model.spec
            where = _Where(item, ("spec", "peerIP"))
            if spec.peer_ip in peer_ips:
                self.error(
                    where,
                    f"{spec.peer_ip} is also {peer_ips[spec.peer_ip]}: session names would clash",
                )
                continue
            peer_ips[spec.peer_ip] = where
            if spec.peer_ip in floating_set or spec.peer_ip in node_addresses:
                self.error(where, f"{spec.peer_ip} is one of our own addresses (a floating IP or a node)")
            version = ipaddress.ip_address(spec.peer_ip).version
            usable = sum(1 for address, _ in floating if address.version == version)
            sessions = spec.sessions
            if floating and usable == 0:
                self.error(
                    where,
                    f"no IPv{version} floating IP in NetworkGatewayGroup/default to start sessions from",
                )
            elif sessions > usable > 0:
                self.warn(
                    _Where(item, ("spec", "sessions")),
                    f"{sessions} sessions but only {usable} IPv{version} floating IP(s): capped at {usable}",
                )
                sessions = usable
            peers.append(
                Peer(item.model.metadata.name, spec.peer_ip, spec.local_asn, spec.peer_asn, sessions)
            )
        return peers

    def _overlaps(
        self,
        configs: list[Parsed[models.ClusterCIDRConfig]],
        services: list[tuple[Network, _Where]],
        *,
        pools: list[_PoolFacts],
        node_addresses: dict[str, _Where],
        floating: list[tuple[Address, _Where]],
        peers: list[Peer],
    ) -> None:
        ranges: list[tuple[Network, _Where]] = []
        for item in configs:
            for field, pod_range in (("ipv4", item.model.spec.ipv4), ("ipv6", item.model.spec.ipv6)):
                if pod_range is not None:
                    ranges.append(
                        (ipaddress.ip_network(pod_range.cidr), _Where(item, ("spec", field, "cidr")))
                    )
        if not _any_inside(ranges, pools, floating, peers):  # the usual case: only ranges to compare
            for i, (network, where) in enumerate(ranges):
                for other, other_at in ranges[:i] + services:
                    if network.version == other.version and network.overlaps(other):
                        self.error(where, f"pod range {network} overlaps {other} ({other_at})")
            return
        # (version, address as int, text, where it is written), sorted: each range finds what it
        # contains by bisection, so 5,000 nodes cost no more than a few floating IPs.
        points: list[tuple[int, int, str, str]] = [
            (a.version, int(a), str(a), f"floating IP at {w}") for a, w in floating
        ]
        points += [(*_address_key(p.peer_ip), p.peer_ip, f"peerIP of BGPPeer/{p.name}") for p in peers]
        points += [(*_address_key(a), a, f"node address at {w}") for a, w in node_addresses.items()]
        points.sort(key=lambda point: point[:2])
        for i, (network, where) in enumerate(ranges):
            for other, other_at in ranges[:i] + services:
                if network.version == other.version and network.overlaps(other):
                    self.error(where, f"pod range {network} overlaps {other} ({other_at})")
            first: tuple[int, int] = (network.version, int(network.network_address))
            last: tuple[int, int] = (network.version, int(network.broadcast_address))
            low = bisect.bisect_left(points, first, key=lambda point: point[:2])
            high = bisect.bisect_right(points, last, key=lambda point: point[:2])
            if high > low:
                _, _, text, at = points[low]
                more = f" and {high - low - 1} more" if high - low > 1 else ""
                self.error(where, f"pod range {network} contains {text} ({at}){more}")


def _address_key(text: str) -> tuple[int, int]:
    """(version, value) of a normalised address, without building an ``ipaddress`` object."""
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    return (6 if family == socket.AF_INET6 else 4), int.from_bytes(socket.inet_pton(family, text), "big")


def _node(source: _NodeSource) -> Node:
    entry = source.entry
    labels = {**source.pool_labels, POOL_LABEL: source.pool, NODE_LABEL: entry.address}
    return Node(
        name=entry.address,
        address=entry.k8s_ip or entry.address,
        ipv6_address=entry.ipv6_address,
        pool=source.pool,
        labels=tuple(sorted(labels.items())),
    )


class _PoolFacts:
    """What the rules find about the nodes of one pool alone (see the module docstring)."""

    __slots__ = ("addresses", "nodes", "owner", "points", "quiet", "sources")

    def __init__(
        self, owner: Parsed[Any], base: Path, pool: str, spec: models.NodePoolSpec, *, ipv4: bool, ipv6: bool
    ) -> None:
        self.owner = owner  # kept: the memo is keyed by its id
        self.sources = [
            _NodeSource(_Where(owner, (*base, "nodes", i)), entry, pool, spec.labels)
            for i, entry in enumerate(spec.nodes)
        ]
        self.nodes = [_node(source) for source in self.sources]
        self.addresses = _node_addresses(self.sources)
        alone = _Rules({}, Counter())
        alone._node_addresses(self.sources, ipv4, ipv6)
        self.quiet = not alone.out  # nothing to say about these nodes by themselves
        self.points = sorted(_address_key(address) for address in self.addresses)


class RulesMemo:
    """Per-pool facts from one validation for the next (``ManifestReader`` keeps one). A pool is
    known by its document's ``Parsed`` (the reader keeps it while the document's text is the same),
    where the pool sits in it and the address families enabled."""

    def __init__(self) -> None:
        self._pools: dict[tuple[object, ...], _PoolFacts] = {}

    def pool(
        self, owner: Parsed[Any], base: Path, pool: str, spec: models.NodePoolSpec, *, ipv4: bool, ipv6: bool
    ) -> _PoolFacts:
        key = (id(owner), base, pool, ipv4, ipv6)
        found = self._pools.get(key)
        if found is None or found.owner is not owner:
            found = self._pools[key] = _PoolFacts(owner, base, pool, spec, ipv4=ipv4, ipv6=ipv6)
        return found

    def keep(self, pools: Iterable[_PoolFacts]) -> None:
        """Forget the pools of documents the file no longer has."""
        wanted = {id(pool) for pool in pools}
        self._pools = {key: pool for key, pool in self._pools.items() if id(pool) in wanted}


def _all_quiet(pools: list[_PoolFacts]) -> bool:
    """Nothing to say about any node: each pool is quiet alone and no address is in two pools."""
    if not all(pool.quiet for pool in pools):
        return False
    listed = sum(len(pool.addresses) for pool in pools)
    return len(set().union(*(pool.addresses for pool in pools))) == listed


def _pool_addresses(pools: list[_PoolFacts], quiet: bool) -> dict[str, _Where]:
    """Every node address → where it is written (the first place, in file order); ``quiet``: what
    ``_all_quiet`` says of ``pools``."""
    if not quiet:
        return _node_addresses(source for pool in pools for source in pool.sources)
    merged: dict[str, _Where] = {}
    for pool in pools:
        merged.update(pool.addresses)  # no address is in two pools: the same as the first place
    return merged


def _any_inside(
    ranges: list[tuple[Network, _Where]],
    pools: list[_PoolFacts],
    floating: list[tuple[Address, _Where]],
    peers: list[Peer],
) -> bool:
    """Whether any pod range holds a node address, a floating IP or a peer IP."""
    others = sorted([(a.version, int(a)) for a, _ in floating] + [_address_key(p.peer_ip) for p in peers])
    for network, _ in ranges:
        first = (network.version, int(network.network_address))
        last = (network.version, int(network.broadcast_address))
        for points in (others, *(pool.points for pool in pools)):
            if bisect.bisect_left(points, first) < bisect.bisect_right(points, last):
                return True
    return False


def _node_addresses(nodes: Iterable[_NodeSource]) -> dict[str, _Where]:
    """Every address a node answers on (name, data address, IPv6 address) → where it is written."""
    result: dict[str, _Where] = {}
    for source in nodes:
        at = source.where
        entry = source.entry
        for field, value in (
            ("address", entry.address),
            ("k8sIP", entry.k8s_ip),
            ("ipv6Address", entry.ipv6_address),
        ):
            if value is not None:
                result.setdefault(value, _Where(at.owner, (*at.path, field)))
    return result


def _not_global_ipv6(address: Address) -> str:
    if address.version != 6:
        return "is not an IPv6 address"
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped is not None:
        return "is IPv4-mapped"
    if address.is_unspecified or address.is_loopback or address.is_link_local or address.is_multicast:
        return "is not a unicast global or unique-local address"
    return ""


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _cidr_config(model: models.ClusterCIDRConfig) -> CidrConfig:
    spec = model.spec
    selector = spec.node_selector.match_labels if spec.node_selector is not None else {}
    return CidrConfig(
        name=model.metadata.name,
        selector=tuple(sorted(selector.items())),
        ipv4=PodRange(spec.ipv4.cidr, spec.ipv4.per_node_mask_size) if spec.ipv4 is not None else None,
        ipv6=PodRange(spec.ipv6.cidr, spec.ipv6.per_node_mask_size) if spec.ipv6 is not None else None,
    )


def validate(
    parsed: dict[str, list[Parsed[Any]]], seen: Counter[str], memo: RulesMemo | None = None
) -> tuple[Manifests | None, list[Diagnostic]]:
    """The validated cluster (None when any error was found) and every finding. ``memo``: facts
    kept from an earlier validation of mostly the same documents (``ManifestReader``)."""
    rules = _Rules(parsed, seen, memo)
    manifests = rules.run()
    return manifests, rules.out
