"""The plan's allocation: reservations through build_plan, Node documents as the truth, the
``-o nodes`` list, and the example of issue 12 (two gateways with different ledger histories)."""

from __future__ import annotations

import yaml

from bgpd.manifests import Manifests, parse_manifests
from bgpd.plan import Plan, build_plan
from bgpd.plan.allocation import LedgerChange, ledger_changes, node_list
from bgpd.plan.settings import parse_settings
from bgpd.rib.ledger import Ledger
from tests.manifests._cluster import (
    Docs,
    cidr_config,
    cluster,
    flat_mode,
    gateway,
    node_object,
    node_pool,
    peer,
    render,
)

HOUR = 3600
SETTINGS = parse_settings({"allocation": {"reservationTime": HOUR}})
T0 = 1_740_830_400  # 2025-03-01T12:00:00Z
N1, N2, N3, N4 = "10.0.1.11", "10.0.1.21", "10.0.1.31", "10.0.1.41"  # n1 is the control-plane node


def cluster_docs(*workers: str) -> Docs:
    """IPv4-only flat cluster: n1 in the control plane, ``workers`` in NodePool np1."""
    return [
        cluster(),
        node_pool("np1", [{"address": w} for w in workers]),
        cidr_config("wide", ipv4=("10.200.0.0/16", 24), ipv6=None),
        gateway("10.0.1.100"),
        flat_mode(ipv6=False),
        peer("tor", "10.0.1.254", sessions=1),
    ]


def manifests(docs: Docs, extra: str = "") -> Manifests:
    return parse_manifests(render(docs) + extra, "c.yaml").manifests


def plan(m: Manifests, ledger: Ledger, now: int) -> Plan:
    return build_plan(m, SETTINGS, ledger, (), now=now)


def routes(p: Plan) -> dict[str, str]:
    return {r.prefix: r.next_hop for r in p.routes}


def test_a_node_missing_from_one_read_keeps_its_block_and_gets_it_back() -> None:
    first = plan(manifests(cluster_docs(N2, N3)), Ledger.empty(), T0)
    partial = plan(manifests(cluster_docs(N3, N4)), first.ledger, T0 + 1)  # n2 missing, n4 new
    assert routes(partial) == {"10.200.0.0/24": N1, "10.200.2.0/24": N3, "10.200.3.0/24": N4}
    assert [r.node for r in partial.ledger.reserved] == [N2]
    back = plan(manifests(cluster_docs(N2, N3, N4)), partial.ledger, T0 + 2)
    assert routes(back)["10.200.1.0/24"] == N2 and back.ledger.reserved == ()
    assert ledger_changes(first.ledger, partial.ledger, HOUR) == (
        LedgerChange("node_reserved", N2, ("10.200.1.0/24",), T0 + 1, T0 + 1 + HOUR),
    )
    assert ledger_changes(partial.ledger, back.ledger, HOUR) == (
        LedgerChange("node_returned", N2, ("10.200.1.0/24",), T0 + 1, T0 + 1 + HOUR),
    )


def test_reservation_that_ran_out_is_reported_as_ended() -> None:
    first = plan(manifests(cluster_docs(N2)), Ledger.empty(), T0)
    gone = plan(manifests(cluster_docs()), first.ledger, T0)
    later = plan(manifests(cluster_docs()), gone.ledger, T0 + HOUR)
    assert [c.event for c in ledger_changes(gone.ledger, later.ledger, HOUR)] == ["reservation_ended"]


# --- issue 12: two gateways, two histories ----------------------------------------------------------


def gateway_a() -> Plan:
    """n1, n2, n3 get blocks 0, 1, 2; n2 leaves (its reservation runs out); n4 joins and gets 1."""
    first = plan(manifests(cluster_docs(N2, N3)), Ledger.empty(), T0)
    gone = plan(manifests(cluster_docs(N3)), first.ledger, T0 + 60)
    expired = plan(manifests(cluster_docs(N3)), gone.ledger, T0 + 60 + HOUR)
    return plan(manifests(cluster_docs(N3, N4)), expired.ledger, T0 + 2 * HOUR)


def gateway_b() -> Plan:
    """Installed later with an empty ledger: n3 gets 1 and n4 gets 2."""
    return plan(manifests(cluster_docs(N3, N4)), Ledger.empty(), T0 + 3 * HOUR)


def test_issue_12_without_node_documents_the_two_gateways_disagree() -> None:
    a, b = gateway_a(), gateway_b()
    assert routes(a) == {"10.200.0.0/24": N1, "10.200.1.0/24": N4, "10.200.2.0/24": N3}
    assert routes(b) == {"10.200.0.0/24": N1, "10.200.1.0/24": N3, "10.200.2.0/24": N4}


def test_issue_12_node_documents_from_gateway_a_make_both_announce_the_same_routes() -> None:
    a, b = gateway_a(), gateway_b()
    nodes_yaml = "---\n" + yaml.safe_dump(
        node_list(manifests(cluster_docs(N3, N4)), a.ledger), sort_keys=False
    )
    with_nodes = manifests(cluster_docs(N3, N4), nodes_yaml)
    a2 = plan(with_nodes, a.ledger, T0 + 4 * HOUR)
    b2 = plan(with_nodes, b.ledger, T0 + 4 * HOUR)
    assert routes(a2) == routes(b2) == routes(a)
    assert a2.problems == ()
    assert {p.node: p.reason for p in b2.problems} == {
        N3: "this gateway's ledger contradicts the file: ipv4 ledger 10.200.1.0/24, Node document "
        "10.200.2.0/24: the file wins (announced and recorded as in the file)",
        N4: "this gateway's ledger contradicts the file: ipv4 ledger 10.200.2.0/24, Node document "
        "10.200.1.0/24: the file wins (announced and recorded as in the file)",
    }
    assert b2.ledger == a2.ledger  # B's ledger now agrees: it would not drift back without them
    assert plan(manifests(cluster_docs(N3, N4)), b2.ledger, T0 + 5 * HOUR).routes == a.routes


def test_with_node_documents_a_node_without_one_is_not_announced_but_proposed() -> None:
    docs = cluster_docs(N2, N3)
    extra = "---\n" + yaml.safe_dump_all(
        [node_object("cp", ["10.200.7.0/24"], [N1]), node_object("w2", None, [N2])], sort_keys=False
    )
    p = plan(manifests(docs, extra), Ledger.empty(), T0)
    assert routes(p) == {"10.200.7.0/24": N1}
    reasons = {problem.node: problem.reason for problem in p.problems}
    assert reasons == {
        N2: "not announced: its Node document has no spec.podCIDRs, and with Node documents in the file "
        "only their pod CIDRs are announced (`bgpd plan -o nodes` proposes 10.200.0.0/24)",
        N3: "not announced: the file has no Node document for it, and with Node documents in the file "
        "only their pod CIDRs are announced (`bgpd plan -o nodes` proposes 10.200.1.0/24)",
    }
    listed = node_list(manifests(docs, extra), p.ledger)
    assert listed["kind"] == "List"
    assert [(i["metadata"]["name"], i["spec"]["podCIDRs"]) for i in listed["items"]] == [
        ("cp", ["10.200.7.0/24"]),
        ("w2", ["10.200.0.0/24"]),
        (N3, ["10.200.1.0/24"]),
    ]


def test_node_document_missing_an_enabled_family_is_a_problem() -> None:
    docs = [
        cluster(),
        node_pool("np1", [{"address": N2, "ipv6Address": "2001:db8:1::21"}]),
        cidr_config("wide"),
        gateway("10.0.1.100"),
        flat_mode(),
        peer("tor", "10.0.1.254", sessions=1),
    ]
    docs[0]["spec"]["controlPlane"]["nodePoolSpec"]["nodes"][0]["ipv6Address"] = "2001:db8:1::11"
    extra = "---\n" + yaml.safe_dump_all(
        [
            node_object("cp", ["10.200.0.0/24", "fd00:200::/120"], [N1]),
            node_object("w", ["10.200.1.0/24"], [N2]),
        ],
        sort_keys=False,
    )
    p = plan(manifests(docs, extra), Ledger.empty(), T0)
    assert {problem.node: problem.reason for problem in p.problems} == {
        N2: "its Node document lists no IPv6 pod CIDR: no IPv6 route"
    }
    assert sorted(r.prefix for r in p.routes) == ["10.200.0.0/24", "10.200.1.0/24", "fd00:200::/120"]


def test_node_list_names_nodes_by_address_and_lists_both_families() -> None:
    docs = [
        cluster(),
        node_pool("np1", [{"address": N2, "k8sIP": "10.0.1.22", "ipv6Address": "2001:db8:1::21"}]),
        cidr_config("wide"),
        gateway("10.0.1.100"),
        flat_mode(),
        peer("tor", "10.0.1.254", sessions=1),
    ]
    docs[0]["spec"]["controlPlane"]["nodePoolSpec"]["nodes"][0]["ipv6Address"] = "2001:db8:1::11"
    m = manifests(docs)
    listed = node_list(m, plan(m, Ledger.empty(), T0).ledger)
    assert listed["items"][1] == {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": N2},
        "spec": {"podCIDR": "10.200.1.0/24", "podCIDRs": ["10.200.1.0/24", "fd00:200::100/120"]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "10.0.1.22"},
                {"type": "InternalIP", "address": "2001:db8:1::21"},
            ]
        },
    }
    # read back, it is the truth and changes nothing
    again = manifests(docs, "---\n" + yaml.safe_dump(listed, sort_keys=False))
    assert again.node_cidrs is not None and len(again.node_cidrs) == 2
    assert plan(again, Ledger.empty(), T0).routes == plan(m, Ledger.empty(), T0).routes
