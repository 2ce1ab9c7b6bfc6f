"""Every validation rule, table-driven: each broken file must produce an error naming the document,
the field path and the reason (and the valid base file must produce none)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bgpd.manifests import ManifestError, Severity, parse_manifests
from tests.manifests._cluster import (
    Docs,
    base,
    cidr_config,
    cluster,
    edited,
    flat_mode,
    gateway,
    kind,
    node_pool,
    peer,
    render,
)


@dataclass(frozen=True)
class Case:
    id: str
    change: Callable[[Docs], object]
    kind: str  # the document the error names ("" = the file as a whole)
    field: str
    words: tuple[str, ...]  # all must appear in the message


def _set(path: str, value: Any, which: str, index: int = 0) -> Callable[[Docs], None]:
    def change(docs: Docs) -> None:
        target: Any = kind(docs, which, index)
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return change


def _remove(which: str) -> Callable[[Docs], None]:
    def change(docs: Docs) -> None:
        docs[:] = [d for d in docs if d["kind"] != which]

    return change


def _append(*extra: dict[str, Any]) -> Callable[[Docs], None]:
    return lambda docs: docs.extend(extra)


def _both(*changes: Callable[[Docs], object]) -> Callable[[Docs], None]:
    def change(docs: Docs) -> None:
        for c in changes:
            c(docs)

    return change


CASES = [
    Case("no-cluster", _remove("Cluster"), "", "", ("no Cluster",)),
    Case("two-clusters", _append(cluster()), "Cluster", "kind", ("one Cluster",)),
    Case(
        "cluster-namespace-missing",
        _set("metadata.namespace", None, "Cluster"),
        "Cluster",
        "metadata.namespace",
        ("required",),
    ),
    Case(
        "peer-other-namespace",
        _set("metadata.namespace", "other", "BGPPeer"),
        "BGPPeer",
        "metadata.namespace",
        ("cluster namespace", "cluster-bm"),
    ),
    Case(
        "pool-namespace-missing",
        lambda d: kind(d, "NodePool")["metadata"].pop("namespace"),
        "NodePool",
        "metadata.namespace",
        ("missing", "cluster-bm"),
    ),
    Case("no-gateway", _remove("NetworkGatewayGroup"), "", "", ("no NetworkGatewayGroup", "default")),
    Case(
        "two-gateways",
        _append(gateway("10.0.1.101", name="second")),
        "NetworkGatewayGroup",
        "metadata.name",
        ("only one",),
    ),
    Case(
        "gateway-not-default",
        _set("metadata.name", "gw", "NetworkGatewayGroup"),
        "NetworkGatewayGroup",
        "metadata.name",
        ("default",),
    ),
    Case("no-flat-mode", _remove("FlatIPMode"), "", "", ("no FlatIPMode",)),
    Case("two-flat-modes", _append(flat_mode(name="x")), "FlatIPMode", "metadata.name", ("only one",)),
    Case(
        "flat-mode-not-default",
        _set("metadata.name", "flat", "FlatIPMode"),
        "FlatIPMode",
        "metadata.name",
        ("default",),
    ),
    Case(
        "advanced-networking-off",
        _set("spec.clusterNetwork.advancedNetworking", False, "Cluster"),
        "Cluster",
        "spec.clusterNetwork.advancedNetworking",
        ("must be true",),
    ),
    Case(
        "cluster-network-missing",
        lambda d: kind(d, "Cluster")["spec"].pop("clusterNetwork"),
        "Cluster",
        "spec.clusterNetwork",
        ("advancedNetworking",),
    ),
    Case(
        "bgp-ipv4-without-flat-ipv4",
        _set("spec.clusterNetwork.flatIPv4", False, "Cluster"),
        "FlatIPMode",
        "spec.enableBGPIPv4",
        ("flatIPv4", "island"),
    ),
    Case(
        "flat-ipv4-config-without-ipv4",
        lambda d: kind(d, "ClusterCIDRConfig")["spec"].pop("ipv4"),
        "ClusterCIDRConfig",
        "spec.ipv4",
        ("required", "flatIPv4"),
    ),
    Case(
        "bgp-ipv6-config-without-ipv6",
        lambda d: kind(d, "ClusterCIDRConfig")["spec"].pop("ipv6"),
        "ClusterCIDRConfig",
        "spec.ipv6",
        ("required", "enableBGPIPv6"),
    ),
    Case(
        "flat-without-configs",
        _remove("ClusterCIDRConfig"),
        "Cluster",
        "spec.clusterNetwork",
        ("at least one ClusterCIDRConfig",),
    ),
    Case(
        "config-without-ranges",
        _set("spec", {}, "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec",
        ("ipv4 or an ipv6",),
    ),
    Case(
        "selector-selects-nothing",
        _set("spec.peerSelector", {"flat": "nope"}, "FlatIPMode"),
        "FlatIPMode",
        "spec.peerSelector",
        ("selects no BGPPeer", "p1", "p2"),
    ),
    Case("local-asn-zero", _set("spec.localASN", 0, "BGPPeer"), "BGPPeer", "spec.localASN", ("AS number",)),
    Case(
        "peer-asn-too-big",
        _set("spec.peerASN", 4294967296, "BGPPeer"),
        "BGPPeer",
        "spec.peerASN",
        ("1..4294967295",),
    ),
    Case("sessions-zero", _set("spec.sessions", 0, "BGPPeer"), "BGPPeer", "spec.sessions", ("at least 1",)),
    Case(
        "no-floating-ips",
        _set("spec.floatingIPs", [], "NetworkGatewayGroup"),
        "NetworkGatewayGroup",
        "spec.floatingIPs",
        ("at least one",),
    ),
    Case(
        "duplicate-floating-ip",
        _set("spec.floatingIPs", ["10.0.1.100", "10.0.1.100"], "NetworkGatewayGroup"),
        "NetworkGatewayGroup",
        "spec.floatingIPs[1]",
        ("duplicate",),
    ),
    Case(
        "floating-ip-is-node",
        _set("spec.floatingIPs", ["10.0.1.21"], "NetworkGatewayGroup"),
        "NetworkGatewayGroup",
        "spec.floatingIPs[0]",
        ("node address",),
    ),
    Case(
        "floating-ip-is-k8s-ip",
        _set("spec.floatingIPs", ["10.0.3.22"], "NetworkGatewayGroup"),
        "NetworkGatewayGroup",
        "spec.floatingIPs[0]",
        ("node address", "k8sIP"),
    ),
    Case(
        "pod-ranges-overlap",
        _append(cidr_config("two", ("10.200.128.0/17", 24), ("fd00:300::/112", 120))),
        "ClusterCIDRConfig",
        "spec.ipv4.cidr",
        ("overlaps", "10.200.0.0/16"),
    ),
    Case(
        "pod-range-overlaps-services",
        _set("spec.ipv4.cidr", "10.96.0.0/16", "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec.ipv4.cidr",
        ("overlaps", "10.96.0.0/12", "services"),
    ),
    Case(
        "ipv6-pod-range-overlaps-services",
        _set("spec.ipv6.cidr", "fd00:96::/112", "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec.ipv6.cidr",
        ("overlaps", "fd00:96::/112"),
    ),
    Case(
        "pod-range-holds-node",
        _set("spec.ipv4.cidr", "10.0.1.0/28", "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec.ipv4.cidr",
        ("contains 10.0.1.11", "node address", "controlPlane"),
    ),
    Case(
        "pod-range-holds-many",
        _set("spec.ipv4.cidr", "10.0.0.0/16", "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec.ipv4.cidr",
        ("contains", "and 7 more"),
    ),
    Case(
        "pod-range-holds-floating-ip",
        _set("spec.floatingIPs", ["10.200.0.1"], "NetworkGatewayGroup"),
        "ClusterCIDRConfig",
        "spec.ipv4.cidr",
        ("contains", "floating IP", "10.200.0.1"),
    ),
    Case(
        "pod-range-holds-peer",
        _set("spec.peerIP", "10.200.9.9", "BGPPeer"),
        "ClusterCIDRConfig",
        "spec.ipv4.cidr",
        ("contains", "peerIP", "p1"),
    ),
    Case(
        "pod-range-holds-node-ipv6",
        _set("spec.ipv6.cidr", "2001:db8:1::/112", "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec.ipv6.cidr",
        ("contains", "ipv6Address"),
    ),
    Case(
        "mask-not-longer",
        _set("spec.ipv4.perNodeMaskSize", 16, "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec.ipv4.perNodeMaskSize",
        ("longer than", "/16"),
    ),
    Case(
        "mask-beyond-ipv4",
        _set("spec.ipv4.perNodeMaskSize", 33, "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec.ipv4.perNodeMaskSize",
        ("32 bits",),
    ),
    Case(
        "mask-beyond-ipv6",
        _set("spec.ipv6.perNodeMaskSize", 129, "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec.ipv6.perNodeMaskSize",
        ("128 bits",),
    ),
    Case(
        "ipv4-range-of-ipv6",
        _set("spec.ipv4.cidr", "fd00:1::/64", "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec.ipv4.cidr",
        ("not an IPv4 range",),
    ),
    Case(
        "cidr-host-bits",
        _set("spec.ipv4.cidr", "10.200.0.1/16", "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec.ipv4.cidr",
        ("host bits", "10.200.0.0/16"),
    ),
    Case(
        "cidr-garbage",
        _set("spec.ipv4.cidr", "ten/8", "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec.ipv4.cidr",
        ("not a CIDR",),
    ),
    Case(
        "node-ipv6-missing",
        lambda d: kind(d, "NodePool")["spec"]["nodes"][0].pop("ipv6Address"),
        "NodePool",
        "spec.nodes[0].ipv6Address",
        ("required", "enableBGPIPv6"),
    ),
    Case(
        "node-ipv6-link-local",
        _set("spec.nodes.0.ipv6Address", "fe80::1", "NodePool"),
        "NodePool",
        "spec.nodes[0].ipv6Address",
        ("global",),
    ),
    Case(
        "node-ipv6-mapped",
        _set("spec.nodes.0.ipv6Address", "::ffff:10.0.1.21", "NodePool"),
        "NodePool",
        "spec.nodes[0].ipv6Address",
        ("IPv4-mapped",),
    ),
    Case(
        "node-ipv6-is-ipv4",
        _set("spec.nodes.0.ipv6Address", "10.9.9.9", "NodePool"),
        "NodePool",
        "spec.nodes[0].ipv6Address",
        ("not an IPv6",),
    ),
    Case(
        "node-data-address-ipv6",
        _set("spec.nodes.1.k8sIP", "2001:db8:3::99", "NodePool"),
        "NodePool",
        "spec.nodes[1].k8sIP",
        ("must be IPv4", "enableBGPIPv4"),
    ),
    Case(
        "node-address-garbage",
        _set("spec.nodes.0.address", "10.0.1.300", "NodePool"),
        "NodePool",
        "spec.nodes[0].address",
        ("not an IP address",),
    ),
    Case(
        "duplicate-node",
        _set("spec.nodes.0.address", "10.0.1.11", "NodePool"),
        "NodePool",
        "spec.nodes[0].address",
        ("already listed", "controlPlane"),
    ),
    Case(
        "duplicate-node-ipv6",
        _set("spec.nodes.0.ipv6Address", "2001:db8:1::11", "NodePool"),
        "NodePool",
        "spec.nodes[0].ipv6Address",
        ("already listed",),
    ),
    Case(
        "k8s-ip-is-another-node",
        _set("spec.nodes.1.k8sIP", "10.0.1.21", "NodePool"),
        "NodePool",
        "spec.nodes[1].k8sIP",
        ("already listed", "spec.nodes[0].address"),
    ),
    Case(
        "duplicate-peer-ip",
        _set("spec.peerIP", "10.0.1.254", "BGPPeer", 1),
        "BGPPeer",
        "spec.peerIP",
        ("p1", "clash"),
    ),
    Case(
        "peer-ip-is-floating-ip",
        _set("spec.peerIP", "10.0.3.100", "BGPPeer", 1),
        "BGPPeer",
        "spec.peerIP",
        ("our own",),
    ),
    Case(
        "peer-family-without-floating-ip",
        _set("spec.peerIP", "2001:db8:1::fe", "BGPPeer", 1),
        "BGPPeer",
        "spec.peerIP",
        ("no IPv6 floating IP",),
    ),
    Case(
        "pool-of-other-cluster",
        _set("spec.clusterName", "other", "NodePool"),
        "NodePool",
        "spec.clusterName",
        ("'other'", "'bm'"),
    ),
    Case(
        "pool-name-clash",
        _set("metadata.name", "bm-lb", "NodePool"),
        "NodePool",
        "metadata.name",
        ("implicit node pool",),
    ),
    Case(
        "pool-sets-pool-label",
        _set("spec.labels", {"baremetal.cluster.gke.io/node-pool": "x"}, "NodePool"),
        "NodePool",
        'spec.labels["baremetal.cluster.gke.io/node-pool"]',
        ("sets label",),
    ),
    Case(
        "duplicate-peer-name", _append(peer("p1", "10.0.1.253")), "BGPPeer", "metadata.name", ("duplicate",)
    ),
    Case(
        "strict-unknown-field",
        lambda d: kind(d, "BGPPeer")["spec"].update(peerAsn=1),
        "BGPPeer",
        "spec.peerAsn",
        ("unknown field", "peerASN"),
    ),
    Case(
        "strict-node-typo",
        _set("spec.nodes.0.ipv6Adress", "2001:db8::1", "NodePool"),
        "NodePool",
        "spec.nodes[0].ipv6Adress",
        ("unknown field", "ipv6Address"),
    ),
    Case(
        "match-expressions",
        _set("spec.nodeSelector", {"matchExpressions": []}, "ClusterCIDRConfig"),
        "ClusterCIDRConfig",
        "spec.nodeSelector.matchExpressions",
        ("not supported", "matchLabels"),
    ),
    Case(
        "wrong-api-version",
        _set("apiVersion", "networking.gke.io/v2", "BGPPeer"),
        "BGPPeer",
        "apiVersion",
        ("networking.gke.io/v1", "v2"),
    ),
    Case(
        "unquoted-label",
        _set("metadata.labels", {"flat": True}, "BGPPeer"),
        "BGPPeer",
        "metadata.labels.flat",
        ("quote",),
    ),
    Case(
        "peer-ip-missing",
        lambda d: kind(d, "BGPPeer")["spec"].pop("peerIP"),
        "BGPPeer",
        "spec.peerIP",
        ("required",),
    ),
    Case("asn-not-a-number", _set("spec.peerASN", "x", "BGPPeer"), "BGPPeer", "spec.peerASN", ("integer",)),
    Case("spec-not-a-mapping", _set("spec", ["x"], "BGPPeer"), "BGPPeer", "spec", ("must be a mapping",)),
    Case(
        "flag-not-a-boolean",
        _set("spec.enableBGPIPv6", "sometimes", "FlatIPMode"),
        "FlatIPMode",
        "spec.enableBGPIPv6",
        ("true or false", "sometimes"),
    ),
    Case("no-kind", lambda d: d[1].pop("kind"), "", "kind", ("required",)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule(case: Case) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifests(edited(case.change), "c.yaml")
    errors = caught.value.errors
    matching = [
        e for e in errors if e.field == case.field and (e.document.kind if e.document else "") == case.kind
    ]
    assert matching, f"no error at {case.kind} {case.field!r}; got {[e.format('c.yaml') for e in errors]}"
    text = matching[0].format("c.yaml")
    for word in case.words:
        assert word in matching[0].message, text
    if case.field:
        assert case.field in text


def test_base_file_is_valid() -> None:
    loaded = parse_manifests(render(base()), "c.yaml")
    assert not [d for d in loaded.diagnostics if d.severity is Severity.ERROR]
    assert [n.name for n in loaded.manifests.nodes] == ["10.0.1.11", "10.0.1.21", "10.0.3.21"]


def test_all_errors_of_a_file_are_reported_together() -> None:
    def change(docs: Docs) -> None:
        kind(docs, "BGPPeer")["spec"]["localASN"] = 0
        kind(docs, "ClusterCIDRConfig")["spec"]["ipv4"]["perNodeMaskSize"] = 8
        kind(docs, "Cluster")["spec"]["clusterNetwork"]["advancedNetworking"] = False
        kind(docs, "NetworkGatewayGroup")["spec"]["floatingIPs"] = ["not-an-ip"]

    with pytest.raises(ManifestError) as caught:
        parse_manifests(edited(change), "c.yaml")
    fields = {e.field for e in caught.value.errors}
    assert {
        "spec.localASN",
        "spec.ipv4.perNodeMaskSize",
        "spec.clusterNetwork.advancedNetworking",
        "spec.floatingIPs[0]",
    } <= fields
    assert str(caught.value) == f"c.yaml: {len(caught.value.errors)} error(s)"


def test_other_documents_are_checked_when_the_cluster_is_broken() -> None:
    def change(docs: Docs) -> None:
        kind(docs, "Cluster")["spec"] = "oops"
        kind(docs, "BGPPeer")["spec"]["peerASN"] = 0
        kind(docs, "ClusterCIDRConfig")["spec"]["ipv6"]["perNodeMaskSize"] = 64

    with pytest.raises(ManifestError) as caught:
        parse_manifests(edited(change), "c.yaml")
    found = {(e.document.kind if e.document else "", e.field) for e in caught.value.errors}
    assert found == {
        ("Cluster", "spec"),
        ("BGPPeer", "spec.peerASN"),
        ("ClusterCIDRConfig", "spec.ipv6.perNodeMaskSize"),
    }


def test_broken_singleton_is_not_also_reported_missing() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifests(edited(_set("spec.enableBGPIPv4", "maybe", "FlatIPMode")), "c.yaml")
    messages = [e.message for e in caught.value.errors]
    assert not any("no FlatIPMode" in m for m in messages), messages
    assert any(e.field == "spec.enableBGPIPv4" for e in caught.value.errors)


def test_fields_outside_the_interpreted_parts_are_tolerated() -> None:
    def change(docs: Docs) -> None:
        spec = kind(docs, "Cluster")["spec"]
        spec["storage"] = {"lvpNodeMounts": {"path": "/mnt"}}
        spec["clusterNetwork"]["multipleNetworkInterfaces"] = False
        spec["controlPlane"]["nodePoolSpec"]["kubeletConfig"] = {"registryPullQPS": 5}
        kind(docs, "NodePool")["spec"]["taints"] = [{"key": "k", "value": "v", "effect": "NoSchedule"}]
        kind(docs, "NodePool")["metadata"]["annotations"] = {"a": "b"}

    loaded = parse_manifests(edited(change), "c.yaml")
    assert len(loaded.manifests.nodes) == 3


def test_sessions_beyond_the_floating_ips_are_capped_with_a_warning() -> None:
    loaded = parse_manifests(edited(_set("spec.sessions", 5, "BGPPeer")), "c.yaml")
    assert [p.sessions for p in loaded.manifests.peers] == [2, 2]
    warning = next(d for d in loaded.diagnostics if d.severity is Severity.WARNING)
    assert warning.field == "spec.sessions"
    assert "capped at 2" in warning.message


def test_pod_cidr_blocks_are_ignored_with_a_notice_when_flat_ipv4() -> None:
    loaded = parse_manifests(
        edited(_set("spec.clusterNetwork.pods", {"cidrBlocks": ["192.168.0.0/16"]}, "Cluster")), "c.yaml"
    )
    notice = next(d for d in loaded.diagnostics if d.severity is Severity.NOTICE)
    assert notice.field == "spec.clusterNetwork.pods.cidrBlocks"
    assert "ignored" in notice.message


def test_only_selected_peers_are_kept() -> None:
    loaded = parse_manifests(edited(_append(peer("other", "10.0.1.250", labels={"flat": "false"}))), "c.yaml")
    assert [p.name for p in loaded.manifests.peers] == ["p1", "p2"]


def test_ipv4_only_needs_no_ipv6_addresses() -> None:
    def change(docs: Docs) -> None:
        kind(docs, "FlatIPMode")["spec"]["enableBGPIPv6"] = False
        kind(docs, "ClusterCIDRConfig")["spec"].pop("ipv6")
        for node in kind(docs, "NodePool")["spec"]["nodes"]:
            node.pop("ipv6Address")

    loaded = parse_manifests(edited(change), "c.yaml")
    assert loaded.manifests.enable_ipv4
    assert not loaded.manifests.enable_ipv6
    assert loaded.manifests.nodes[1].ipv6_address is None


def test_node_labels_carry_pool_pool_labels_and_node_name() -> None:
    docs = base()
    docs.append(
        node_pool("gpu", [{"address": "10.0.1.31", "ipv6Address": "2001:db8:1::31"}], {"tier": "gpu"})
    )
    nodes = {n.name: n for n in parse_manifests(render(docs), "c.yaml").manifests.nodes}
    assert nodes["10.0.1.31"].labels == (
        ("baremetal.cluster.gke.io/node-pool", "gpu"),
        ("bgpd.io/node", "10.0.1.31"),
        ("tier", "gpu"),
    )
    assert nodes["10.0.1.11"].pool == "bm"
    assert nodes["10.0.3.21"].address == "10.0.3.22"
