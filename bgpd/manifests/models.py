"""pydantic models of the manifest kinds bgpd reads, one per kind, and the kind → apiVersion table.

Parts bgpd interprets are strict (``extra="forbid"``): a typo such as ``peerAsn`` is an error, not a
silently missing setting. The rest of a Cluster or NodePool — hundreds of fields bgpd never reads —
is tolerated (``extra="ignore"``). Addresses and CIDRs are checked and normalised here; rules that
relate fields (ranges, ASNs, overlaps) live in ``validate.py`` so their messages can say why.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _ip(text: str) -> str:
    stripped = text.strip()
    if _canonical_ipv4(stripped):  # nearly every node address: 10,000 of them are read at start-up
        return stripped
    try:
        return str(ipaddress.ip_address(stripped))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


def _canonical_ipv4(text: str) -> bool:
    """True when ``text`` is an IPv4 address written as ``ipaddress`` writes it (four decimal
    octets, no leading zeros), which ``_ip`` then keeps as it is: a third of the cost of parsing."""
    octets = text.split(".")
    return len(octets) == 4 and all(
        octet.isascii()
        and octet.isdigit()
        and len(octet) <= 3
        and (octet[0] != "0" or octet == "0")
        and int(octet) <= 255
        for octet in octets
    )


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text.strip(), strict=True))
    except ValueError:
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{text!r} is not a CIDR (expected e.g. 192.168.0.0/16)") from None
        raise ValueError(f"{text!r} has host bits set (the range is {network})") from None


IP = Annotated[str, AfterValidator(_ip)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Labels = dict[str, str]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ObjectMeta(Tolerant):
    name: str = Field(min_length=1)
    namespace: str | None = None
    labels: Labels = {}


# --- Cluster and NodePool (baremetal.cluster.gke.io/v1): only the node list is read strictly. ---


class NodeEntry(Strict):
    """``nodes[]``: ``address`` names the node; ``k8sIP`` (if set) is its data address.

    ``ipv6Address`` is bgpd's extension: the node's global IPv6 address, the next hop of its IPv6
    pod route (docs/manifests.md).
    """

    address: IP
    k8s_ip: IP | None = Field(None, alias="k8sIP")
    ipv6_address: IP | None = Field(None, alias="ipv6Address")


class NodePoolSpec(Tolerant):
    cluster_name: str | None = Field(None, alias="clusterName")
    nodes: list[NodeEntry] = []
    labels: Labels = {}


class PoolHolder(Tolerant):
    node_pool_spec: NodePoolSpec | None = Field(None, alias="nodePoolSpec")


class CidrBlocks(Strict):
    cidr_blocks: list[Cidr] = Field([], alias="cidrBlocks")


class ClusterNetwork(Tolerant):
    advanced_networking: bool = Field(False, alias="advancedNetworking")
    flat_ipv4: bool = Field(False, alias="flatIPv4")
    pods: CidrBlocks | None = None
    services: CidrBlocks | None = None


class ClusterSpec(Tolerant):
    cluster_network: ClusterNetwork | None = Field(None, alias="clusterNetwork")
    control_plane: PoolHolder | None = Field(None, alias="controlPlane")
    load_balancer: PoolHolder | None = Field(None, alias="loadBalancer")


class Cluster(Tolerant):
    metadata: ObjectMeta
    spec: ClusterSpec


class NodePool(Tolerant):
    metadata: ObjectMeta
    spec: NodePoolSpec


# --- The flat-mode kinds: bgpd interprets every field, so all of it is strict. ---


class Document(Strict):
    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: ObjectMeta
    status: Any = None  # tolerated so that ``kubectl get -o yaml`` output can be pasted


class PodRange(Strict):
    cidr: Cidr
    per_node_mask_size: int = Field(alias="perNodeMaskSize")


class NodeSelector(Strict):
    match_labels: Labels = Field({}, alias="matchLabels")


class ClusterCIDRConfigSpec(Strict):
    ipv4: PodRange | None = None
    ipv6: PodRange | None = None
    node_selector: NodeSelector | None = Field(None, alias="nodeSelector")


class ClusterCIDRConfig(Document):
    spec: ClusterCIDRConfigSpec


class NetworkGatewayGroupSpec(Strict):
    floating_ips: list[IP] = Field(alias="floatingIPs")


class NetworkGatewayGroup(Document):
    spec: NetworkGatewayGroupSpec


class FlatIPModeSpec(Strict):
    enable_bgp_ipv4: bool = Field(False, alias="enableBGPIPv4")
    enable_bgp_ipv6: bool = Field(False, alias="enableBGPIPv6")
    peer_selector: Labels = Field(alias="peerSelector")


class FlatIPMode(Document):
    spec: FlatIPModeSpec


class BGPPeerSpec(Strict):
    local_asn: int = Field(alias="localASN")
    peer_asn: int = Field(alias="peerASN")
    peer_ip: IP = Field(alias="peerIP")
    sessions: int = 1


class BGPPeer(Document):
    spec: BGPPeerSpec


# --- Node (v1), as Kubernetes stores it: only the pod CIDRs and the addresses are read. ---


class NodeAddress(Tolerant):
    type: str
    address: str  # checked by the Node rules (only InternalIP entries must be IP addresses)


class NodeObjectStatus(Tolerant):
    addresses: list[NodeAddress] = []


class NodeObjectSpec(Tolerant):
    pod_cidr: Cidr | None = Field(None, alias="podCIDR")  # Kubernetes keeps podCIDRs[0] here too
    pod_cidrs: list[Cidr] = Field([], alias="podCIDRs")


class Node(Tolerant):
    """A Kubernetes Node (``kubectl get nodes -o yaml``): its ``spec.podCIDRs`` are the allocation."""

    metadata: ObjectMeta
    spec: NodeObjectSpec | None = None  # a node Kubernetes has not given pod CIDRs yet may have none
    status: NodeObjectStatus | None = None


Model = Cluster | NodePool | ClusterCIDRConfig | NetworkGatewayGroup | FlatIPMode | BGPPeer | Node

# kind → (the one apiVersion bgpd understands, its model). Kinds not listed are skipped.
KINDS: dict[str, tuple[str, type[Model]]] = {
    "Cluster": ("baremetal.cluster.gke.io/v1", Cluster),
    "NodePool": ("baremetal.cluster.gke.io/v1", NodePool),
    "ClusterCIDRConfig": ("baremetal.cluster.gke.io/v1alpha1", ClusterCIDRConfig),
    "FlatIPMode": ("baremetal.cluster.gke.io/v1alpha1", FlatIPMode),
    "NetworkGatewayGroup": ("networking.gke.io/v1", NetworkGatewayGroup),
    "BGPPeer": ("networking.gke.io/v1", BGPPeer),
    "Node": ("v1", Node),
}

# Hints for fields people reach for that bgpd does not support, keyed by the field's name.
UNSUPPORTED_HINTS: dict[str, str] = {
    "matchExpressions": "nodeSelector.matchExpressions is not supported; use matchLabels",
}
