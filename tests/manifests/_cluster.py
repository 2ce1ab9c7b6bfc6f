"""Builders for cluster manifests in tests: a small valid file as Python data, edited per case."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import yaml

NS = "cluster-bm"
Docs = list[dict[str, Any]]


def cluster(*, flat_ipv4: bool = True, services: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "baremetal.cluster.gke.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "bm", "namespace": NS},
        "spec": {
            "type": "user",
            "controlPlane": {
                "nodePoolSpec": {"nodes": [{"address": "10.0.1.11", "ipv6Address": "2001:db8:1::11"}]}
            },
            "clusterNetwork": {
                "advancedNetworking": True,
                "flatIPv4": flat_ipv4,
                "services": {
                    "cidrBlocks": services if services is not None else ["10.96.0.0/12", "fd00:96::/112"]
                },
            },
            **spec,
        },
    }


def node_pool(name: str, nodes: list[dict[str, str]], labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"clusterName": "bm", "nodes": nodes}
    if labels is not None:
        spec["labels"] = labels
    return {
        "apiVersion": "baremetal.cluster.gke.io/v1",
        "kind": "NodePool",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def cidr_config(
    name: str,
    ipv4: tuple[str, int] | None = ("10.200.0.0/16", 24),
    ipv6: tuple[str, int] | None = ("fd00:200::/112", 120),
    selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if ipv4 is not None:
        spec["ipv4"] = {"cidr": ipv4[0], "perNodeMaskSize": ipv4[1]}
    if ipv6 is not None:
        spec["ipv6"] = {"cidr": ipv6[0], "perNodeMaskSize": ipv6[1]}
    if selector is not None:
        spec["nodeSelector"] = {"matchLabels": selector}
    return {
        "apiVersion": "baremetal.cluster.gke.io/v1alpha1",
        "kind": "ClusterCIDRConfig",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def gateway(*ips: str, name: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "networking.gke.io/v1",
        "kind": "NetworkGatewayGroup",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"floatingIPs": list(ips)},
    }


def flat_mode(*, ipv4: bool = True, ipv6: bool = True, name: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "baremetal.cluster.gke.io/v1alpha1",
        "kind": "FlatIPMode",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"enableBGPIPv4": ipv4, "enableBGPIPv6": ipv6, "peerSelector": {"flat": "true"}},
    }


def peer(name: str, ip: str, sessions: int = 2, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "networking.gke.io/v1",
        "kind": "BGPPeer",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": labels if labels is not None else {"flat": "true"},
        },
        "spec": {"localASN": 65001, "peerASN": 65002, "peerIP": ip, "sessions": sessions},
    }


def node_object(
    name: str, cidrs: list[str] | None, internal: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """A Node as ``kubectl get node -o yaml`` prints it (with the noise bgpd must ignore)."""
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": "0b6b8e44-5d1c-4a8c-9d07-0c1c1c1c1c1c",
            "labels": {"kubernetes.io/hostname": name, "baremetal.cluster.gke.io/node-pool": "np1"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            "creationTimestamp": "2025-03-01T12:00:00Z",
        },
        "spec": {"providerID": "baremetal://x", "taints": []},
        "status": {
            "addresses": [{"type": "Hostname", "address": name}]
            + [{"type": "InternalIP", "address": ip} for ip in internal or []],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    if cidrs is not None:
        document["spec"]["podCIDR"] = cidrs[0]
        document["spec"]["podCIDRs"] = cidrs
    document.update(extra)
    return document


def as_list(*items: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(items), "metadata": {"resourceVersion": ""}}


def base() -> Docs:
    """A valid dual-stack file: 3 nodes in 2 pools, one config, 2 floating IPs, 2 peers."""
    return [
        cluster(),
        node_pool(
            "np1",
            [
                {"address": "10.0.1.21", "ipv6Address": "2001:db8:1::21"},
                {"address": "10.0.3.21", "k8sIP": "10.0.3.22", "ipv6Address": "2001:db8:3::21"},
            ],
        ),
        cidr_config("wide"),
        gateway("10.0.1.100", "10.0.3.100"),
        flat_mode(),
        peer("p1", "10.0.1.254"),
        peer("p2", "10.0.3.254"),
    ]


def kind(docs: Docs, which: str, index: int = 0) -> dict[str, Any]:
    """The ``index``-th document of kind ``which``."""
    return [d for d in docs if d.get("kind") == which][index]


def render(docs: Docs) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def edited(change: Callable[[Docs], object]) -> str:
    docs = copy.deepcopy(base())
    change(docs)
    return render(docs)
