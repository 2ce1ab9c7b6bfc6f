"""Node documents: each node's ``spec.podCIDRs`` as Kubernetes stores them, checked against the file.

When the file carries ``kind: Node`` documents (``apiVersion: v1``, on their own or in a
``kind: List`` as ``kubectl get nodes -o yaml`` prints them), their pod CIDRs are the allocation:
every gateway reading the same file announces the same prefix with the same next hop for every
node, whatever its own ledger's history (docs/allocation.md). So they are checked as strictly as the
ClusterCIDRConfigs they must fit:

- a Node document describes one node of the NodePools: by ``metadata.name`` (bgpd names a node by
  its ``address``) or by an ``InternalIP`` in ``status.addresses``; every InternalIP must be one of
  that node's addresses (``address``, ``k8sIP``, ``ipv6Address``), and no node is described twice;
- ``spec.podCIDRs`` holds at most one IPv4 and one IPv6 CIDR (``spec.podCIDR``, which Kubernetes
  keeps as a copy of the first, must agree with it); each lies inside a ClusterCIDRConfig range of
  its family and has that config's ``perNodeMaskSize``; no two nodes' CIDRs overlap.

Every finding names the document, the field and the reason, like the other rules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from bgpd.manifests import models
from bgpd.manifests.cluster import NodePodCidrs
from bgpd.manifests.diagnostics import Diagnostic, Severity
from bgpd.manifests.documents import Parsed

__all__ = ["NodeIdentity", "check_node_documents"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """A node of the NodePools, as a Node document may refer to it."""

    name: str  # its ``address``: bgpd's name for it
    addresses: tuple[str, ...]  # address, k8sIP, ipv6Address (normalised text)


@dataclass(frozen=True, slots=True)
class _Range:
    network: Network
    per_node_mask: int
    owner: Parsed[models.ClusterCIDRConfig]


class _Checker:
    def __init__(self, nodes: Sequence[NodeIdentity], configs: Sequence[Parsed[models.ClusterCIDRConfig]]):
        self.by_name = {node.name: node for node in nodes}
        self.by_address = {address: node for node in nodes for address in node.addresses}
        self.ranges = [
            _Range(ipaddress.ip_network(pod_range.cidr), pod_range.per_node_mask_size, item)
            for item in configs
            for pod_range in (item.model.spec.ipv4, item.model.spec.ipv6)
            if pod_range is not None
        ]
        self.out: list[Diagnostic] = []

    def error(self, item: Parsed[models.Node], path: tuple[str | int, ...], message: str) -> None:
        self.out.append(item.diagnostic(Severity.ERROR, path, message))

    def identify(self, item: Parsed[models.Node]) -> NodeIdentity | None:
        """The node this document describes, or None after reporting why there is none."""
        name = item.model.metadata.name
        named = self.by_name.get(name)
        internal = self._internal_ips(item)
        if named is None:
            owners = {self.by_address[ip].name for _, ip in internal if ip in self.by_address}
            if len(owners) > 1:
                self.error(
                    item,
                    ("status", "addresses"),
                    f"its InternalIPs belong to different nodes: {', '.join(sorted(owners))}",
                )
                return None
            if not owners:
                self.error(
                    item,
                    ("metadata", "name"),
                    f"{name!r} is no node of the NodePools (bgpd names a node by its address) and no "
                    "InternalIP in status.addresses is a node's address",
                )
                return None
            named = self.by_name[owners.pop()]
        for index, ip in internal:
            if ip not in named.addresses:
                self.error(
                    item,
                    ("status", "addresses", index, "address"),
                    f"InternalIP {ip} is not an address of node {named.name} "
                    f"(its addresses: {', '.join(named.addresses)})",
                )
        return named

    def _internal_ips(self, item: Parsed[models.Node]) -> list[tuple[int, str]]:
        status = item.model.status
        found: list[tuple[int, str]] = []
        for index, entry in enumerate(status.addresses if status is not None else ()):
            if entry.type != "InternalIP":
                continue
            try:
                found.append((index, str(ipaddress.ip_address(entry.address.strip()))))
            except ValueError:
                self.error(
                    item, ("status", "addresses", index, "address"), f"{entry.address!r} is not an IP address"
                )
        return found

    def pod_cidrs(self, item: Parsed[models.Node]) -> dict[int, tuple[Network, int]]:
        """The document's CIDRs by IP version, each with its index in ``spec.podCIDRs``."""
        spec = item.model.spec
        if spec is None:
            return {}
        listed = spec.pod_cidrs or ([spec.pod_cidr] if spec.pod_cidr is not None else [])
        field = _cidr_field(item)
        if spec.pod_cidrs and spec.pod_cidr is not None and spec.pod_cidr != spec.pod_cidrs[0]:
            self.error(
                item,
                ("spec", "podCIDR"),
                f"{spec.pod_cidr} differs from spec.podCIDRs[0] {spec.pod_cidrs[0]}",
            )
        found: dict[int, tuple[Network, int]] = {}
        for index, text in enumerate(listed):
            path: tuple[str | int, ...] = ("spec", field, index) if field == "podCIDRs" else ("spec", field)
            network = ipaddress.ip_network(text)
            if network.version in found:
                self.error(
                    item, path, f"a second IPv{network.version} CIDR: a node has at most one per family"
                )
                continue
            if self._fits(item, path, network):
                found[network.version] = (network, index)
        return found

    def _fits(self, item: Parsed[models.Node], path: tuple[str | int, ...], network: Network) -> bool:
        family = [r for r in self.ranges if r.network.version == network.version]
        inside = [r for r in family if network.subnet_of(r.network)]  # type: ignore[arg-type]
        if not inside:
            ranges = ", ".join(f"{r.network} ({r.owner.ref.kind}/{r.owner.ref.name})" for r in family)
            self.error(
                item,
                path,
                f"{network} is in no ClusterCIDRConfig range"
                + (
                    f" (IPv{network.version} ranges: {ranges})"
                    if ranges
                    else f" (no IPv{network.version} range)"
                ),
            )
            return False
        if not any(r.per_node_mask == network.prefixlen for r in inside):
            home = inside[0]
            self.error(
                item,
                path,
                f"{network} is a /{network.prefixlen}, but ClusterCIDRConfig/{home.owner.ref.name} "
                f"gives each node a /{home.per_node_mask}",
            )
            return False
        return True


def _cidr_field(item: Parsed[models.Node]) -> str:
    """Where the CIDRs were read: ``podCIDRs``, or the single ``podCIDR`` of older objects."""
    return "podCIDRs" if item.model.spec is not None and item.model.spec.pod_cidrs else "podCIDR"


def check_node_documents(
    documents: Sequence[Parsed[models.Node]],
    nodes: Sequence[NodeIdentity],
    configs: Sequence[Parsed[models.ClusterCIDRConfig]],
) -> tuple[tuple[NodePodCidrs, ...], list[Diagnostic]]:
    """Every node's pod CIDRs from its Node document (sorted by node), and every finding."""
    checker = _Checker(nodes, configs)
    described: dict[str, Parsed[models.Node]] = {}
    taken: list[tuple[Network, str, Parsed[models.Node], tuple[str | int, ...]]] = []
    result: list[NodePodCidrs] = []
    for item in documents:
        node = checker.identify(item)
        cidrs = checker.pod_cidrs(item)
        if node is None:
            continue
        if node.name in described:
            checker.error(
                item,
                ("metadata", "name"),
                f"node {node.name} is already described by {described[node.name].ref}",
            )
            continue
        described[node.name] = item
        field = _cidr_field(item)
        for network, index in cidrs.values():
            path: tuple[str | int, ...] = ("spec", field, index) if field == "podCIDRs" else ("spec", field)
            taken.append((network, node.name, item, path))
        v4, v6 = cidrs.get(4), cidrs.get(6)
        result.append(
            NodePodCidrs(
                node=node.name,
                object_name=item.model.metadata.name,
                ipv4=str(v4[0]) if v4 is not None else None,
                ipv6=str(v6[0]) if v6 is not None else None,
            )
        )
    _report_overlaps(checker, taken)
    return tuple(sorted(result, key=lambda r: r.node)), checker.out


def _report_overlaps(
    checker: _Checker, taken: list[tuple[Network, str, Parsed[models.Node], tuple[str | int, ...]]]
) -> None:
    """Each CIDR that overlaps an earlier one (by address): compared with the widest reach so far,
    so a big block covering several others is reported against each of them."""
    taken.sort(key=lambda t: (t[0].version, int(t[0].network_address), t[0].prefixlen))
    reach: tuple[Network, str, Parsed[models.Node]] | None = None
    for network, node, item, path in taken:
        if reach is not None and reach[0].version == network.version and reach[0].overlaps(network):
            checker.error(item, path, f"{network} overlaps {reach[0]} of node {reach[1]} ({reach[2].ref})")
        if (
            reach is None
            or reach[0].version != network.version
            or int(network.broadcast_address) > int(reach[0].broadcast_address)
        ):
            reach = (network, node, item)
