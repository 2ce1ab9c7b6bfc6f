"""Node documents (``kind: Node``, alone or in a ``kind: List``): read as Kubernetes stores them,
checked against the NodePools and the ClusterCIDRConfigs, every error naming document, field, reason."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bgpd.manifests import ManifestError, NodePodCidrs, parse_manifests
from tests.manifests._cluster import Docs, as_list, base, node_object, render

# base(): nodes 10.0.1.11 (control plane), 10.0.1.21, 10.0.3.21 (k8sIP 10.0.3.22); one config "wide"
# with 10.200.0.0/16 per /24 and fd00:200::/112 per /120.


GOOD = [
    node_object("cp-1", ["10.200.0.0/24", "fd00:200::/120"], ["10.0.1.11", "2001:db8:1::11"]),
    node_object("worker-1", ["10.200.1.0/24", "fd00:200::100/120"], ["10.0.1.21"]),
    node_object("10.0.3.21", ["10.200.2.0/24", "fd00:200::200/120"]),  # by name, no status
]


def with_docs(*extra: dict[str, Any]) -> str:
    return render([*base(), *copy.deepcopy(list(extra))])


def errors(text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        parse_manifests(text, "c.yaml")
    return [e.format("c.yaml") for e in caught.value.errors]


def test_without_node_documents_there_are_no_node_cidrs() -> None:
    assert parse_manifests(render(base())).manifests.node_cidrs is None


@pytest.mark.parametrize("shape", ["documents", "list"])
def test_node_documents_are_read_as_kubernetes_stores_them(shape: str) -> None:
    nodes = copy.deepcopy(GOOD)
    nodes[2]["status"] = None
    text = with_docs(*nodes) if shape == "documents" else with_docs(as_list(*nodes))
    manifests = parse_manifests(text).manifests
    assert manifests.node_cidrs == (
        NodePodCidrs("10.0.1.11", "cp-1", "10.200.0.0/24", "fd00:200::/120"),
        NodePodCidrs("10.0.1.21", "worker-1", "10.200.1.0/24", "fd00:200::100/120"),
        NodePodCidrs("10.0.3.21", "10.0.3.21", "10.200.2.0/24", "fd00:200::200/120"),
    )


def test_internal_ip_may_be_the_k8s_ip_and_a_node_without_cidrs_is_listed_without_them() -> None:
    manifests = parse_manifests(with_docs(node_object("w3", None, ["10.0.3.22"]))).manifests
    assert manifests.node_cidrs == (NodePodCidrs("10.0.3.21", "w3", None, None),)


def test_an_empty_list_means_no_node_documents_and_other_kinds_in_a_list_are_read_too() -> None:
    docs: Docs = base()
    peers = [d for d in docs if d["kind"] == "BGPPeer"]
    rest = [d for d in docs if d["kind"] != "BGPPeer"]
    manifests = parse_manifests(render([*rest, as_list(*peers), as_list()])).manifests
    assert manifests.node_cidrs is None
    assert [p.name for p in manifests.peers] == ["p1", "p2"]


BAD = [
    pytest.param(
        [node_object("ghost", ["10.200.5.0/24"], ["10.9.9.9"])],
        "Node/ghost (document 8, line",
        "metadata.name: 'ghost' is no node of the NodePools",
        id="unknown-node",
    ),
    pytest.param(
        [node_object("10.0.1.21", ["10.200.5.0/24"], ["10.0.3.22"])],
        "Node/10.0.1.21",
        "status.addresses[1].address: InternalIP 10.0.3.22 is not an address of node 10.0.1.21 "
        "(its addresses: 10.0.1.21, 2001:db8:1::21)",
        id="internal-ip-of-another-node",
    ),
    pytest.param(
        [node_object("x", ["10.200.5.0/24"], ["10.0.1.21", "10.0.3.22"])],
        "Node/x",
        "status.addresses: its InternalIPs belong to different nodes: 10.0.1.21, 10.0.3.21",
        id="internal-ips-of-two-nodes",
    ),
    pytest.param(
        [node_object("x", ["10.200.5.0/24"], ["banana"])],
        "Node/x",
        "status.addresses[1].address: 'banana' is not an IP address",
        id="internal-ip-not-an-ip",
    ),
    pytest.param(
        [
            node_object("a", ["10.200.5.0/24"], ["10.0.1.21"]),
            node_object("b", ["10.200.6.0/24"], ["10.0.1.21"]),
        ],
        "Node/b",
        "metadata.name: node 10.0.1.21 is already described by Node/a (document 8, line",
        id="node-described-twice",
    ),
    pytest.param(
        [node_object("a", ["10.201.0.0/24"], ["10.0.1.21"])],
        "Node/a",
        "spec.podCIDRs[0]: 10.201.0.0/24 is in no ClusterCIDRConfig range "
        "(IPv4 ranges: 10.200.0.0/16 (ClusterCIDRConfig/wide))",
        id="out-of-range",
    ),
    pytest.param(
        [node_object("a", ["10.200.5.0/25"], ["10.0.1.21"])],
        "Node/a",
        "spec.podCIDRs[0]: 10.200.5.0/25 is a /25, but ClusterCIDRConfig/wide gives each node a /24",
        id="wrong-mask",
    ),
    pytest.param(
        [node_object("a", ["10.200.5.0/24", "10.200.6.0/24"], ["10.0.1.21"])],
        "Node/a",
        "spec.podCIDRs[1]: a second IPv4 CIDR: a node has at most one per family",
        id="two-of-one-family",
    ),
    pytest.param(
        [node_object("a", ["10.200.5.1/24"], ["10.0.1.21"])],
        "Node/a",
        "spec.podCIDRs[0]: '10.200.5.1/24' has host bits set (the range is 10.200.5.0/24)",
        id="host-bits",
    ),
    pytest.param(
        [
            node_object(
                "a",
                ["10.200.5.0/24"],
                ["10.0.1.21"],
                spec={"podCIDR": "10.200.6.0/24", "podCIDRs": ["10.200.5.0/24"]},
            )
        ],
        "Node/a",
        "spec.podCIDR: 10.200.6.0/24 differs from spec.podCIDRs[0] 10.200.5.0/24",
        id="pod-cidr-disagrees",
    ),
    pytest.param(
        [
            node_object("a", ["10.200.5.0/24"], ["10.0.1.21"]),
            node_object("b", ["10.200.5.0/24"], ["10.0.3.22"]),
        ],
        "Node/b",
        "spec.podCIDRs[0]: 10.200.5.0/24 overlaps 10.200.5.0/24 of node 10.0.1.21 (Node/a (document 8, line",
        id="same-cidr-twice",
    ),
    pytest.param(
        [
            as_list(
                node_object("a", ["10.200.5.0/24"], ["10.0.1.21"]),
                node_object("b", ["10.200.5.0/24"], ["10.0.3.22"]),
            )
        ],
        "Node/b (document 8 items[1], line",
        "spec.podCIDRs[0]: 10.200.5.0/24 overlaps",
        id="same-cidr-twice-in-a-list",
    ),
    pytest.param(
        [node_object("a", ["10.200.5.0/24"], ["10.0.1.21"], apiVersion="v2")],
        "Node/a",
        "apiVersion: Node needs apiVersion v1, got 'v2'",
        id="wrong-api-version",
    ),
    pytest.param(
        [{"apiVersion": "v1", "kind": "List", "items": {"a": 1}}],
        "List (document 8, line",
        "items: must be a list of objects",
        id="list-items-not-a-list",
    ),
    pytest.param(
        [{"apiVersion": "v2", "kind": "List", "items": []}],
        "List (document 8, line",
        "apiVersion: List needs apiVersion v1, got 'v2'",
        id="list-wrong-api-version",
    ),
]


@pytest.mark.parametrize(("extra", "where", "message"), BAD)
def test_bad_node_documents_are_errors_naming_document_field_and_reason(
    extra: list[dict[str, Any]], where: str, message: str
) -> None:
    found = errors(with_docs(*extra))
    assert any(where in line and message in line for line in found), found
