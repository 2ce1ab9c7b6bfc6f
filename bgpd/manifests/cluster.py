"""The validated cluster as plain frozen data: what the plan reads, with no pydantic or YAML left.

Everything here has passed the per-kind models and the cross-document rules, so consumers can rely
on it: addresses are normalised text, ranges are networks of the right family, peers are only those
``FlatIPMode.spec.peerSelector`` selects, and ``sessions`` is already capped.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every node carries this label with its pool's name, as on a real cluster (vendor label).
POOL_LABEL = "baremetal.cluster.gke.io/node-pool"
# bgpd's per-node label, so a ClusterCIDRConfig can select one node (docs/manifests.md).
NODE_LABEL = "bgpd.io/node"

Labels = tuple[tuple[str, str], ...]  # sorted (key, value) pairs


@dataclass(frozen=True, slots=True)
class Node:
    name: str  # the node's ``address`` field: its identity in the vendor file
    address: str  # data address: ``k8sIP`` when set, else ``address``
    ipv6_address: str | None
    pool: str
    labels: Labels


@dataclass(frozen=True, slots=True)
class PodRange:
    cidr: str
    per_node_mask: int


@dataclass(frozen=True, slots=True)
class CidrConfig:
    name: str
    selector: Labels  # () matches every node
    ipv4: PodRange | None
    ipv6: PodRange | None


@dataclass(frozen=True, slots=True)
class Peer:
    name: str
    peer_ip: str
    local_asn: int
    peer_asn: int
    sessions: int  # already capped at the number of floating IPs of the peer's family


@dataclass(frozen=True, slots=True)
class NodePodCidrs:
    """A node's pod CIDRs as its Node document gives them: the allocation every gateway announces."""

    node: str  # the node's name in bgpd (its ``address``)
    object_name: str  # the Node document's ``metadata.name`` (Kubernetes' name for the node)
    ipv4: str | None
    ipv6: str | None


@dataclass(frozen=True, slots=True)
class Manifests:
    cluster: str
    namespace: str
    nodes: tuple[Node, ...]  # sorted by name
    cidr_configs: tuple[CidrConfig, ...]  # in file order
    floating_ips: tuple[str, ...]  # in file order: a session's name carries its position
    peers: tuple[Peer, ...]  # the selected BGPPeers, in file order
    enable_ipv4: bool
    enable_ipv6: bool
    service_cidrs: tuple[str, ...]
    # The Node documents' pod CIDRs, sorted by node; None when the file has no Node document (then
    # this gateway's ledger allocates).
    node_cidrs: tuple[NodePodCidrs, ...] | None = None
