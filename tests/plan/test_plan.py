"""build_plan: session spreading and naming, local sessions, routes, allocation through the ledger."""

from __future__ import annotations

import copy
import dataclasses
import ipaddress

import pytest

from bgpd.manifests import Manifests, parse_manifests
from bgpd.plan import (
    LocalAddress,
    Plan,
    SessionConfig,
    Settings,
    build_plan,
    route_name,
    router_id,
    session_name,
)
from bgpd.plan.settings import parse_settings
from bgpd.rib.ledger import Ledger
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST
from tests.manifests._cluster import Docs, base, cidr_config, gateway, kind, node_pool, peer, render


def _manifests(docs: Docs) -> Manifests:
    return parse_manifests(render(docs), "c.yaml").manifests


def _plan(docs: Docs, ledger: Ledger | None = None, local: tuple[str, ...] = ()) -> Plan:
    held = [LocalAddress(ipaddress.ip_address(a)) for a in local]
    return build_plan(_manifests(docs), Settings(), ledger or Ledger.empty(), held, now=0)


def _three_peers(sessions: int) -> Docs:
    docs = base()
    docs[3] = gateway("10.0.1.100", "10.0.1.101", "10.0.1.102")
    docs[5:] = [
        peer("c", "10.0.1.252", sessions),
        peer("a", "10.0.1.254", sessions),
        peer("b", "10.0.1.253", sessions),
    ]
    return docs


def test_names() -> None:
    assert session_name("10.0.1.254", 0) == "10.0.1.254-node-01"
    assert session_name("2001:db8::1", 11) == "2001:db8::1-node-12"
    assert route_name("222.22.208.240") == "route-via-222-22-208-240"
    assert route_name("2001:db8::1") == "route-via-2001-db8--1"


def test_one_session_per_peer_is_spread_over_the_floating_ips() -> None:
    plan = _plan(_three_peers(1))
    # Peers in peer-IP order start at floating IP 0, 1, 2.
    assert [(s.peer, s.local_ip, s.name) for s in plan.sessions] == [
        ("c", "10.0.1.100", "10.0.1.252-node-01"),
        ("b", "10.0.1.101", "10.0.1.253-node-02"),
        ("a", "10.0.1.102", "10.0.1.254-node-03"),
    ]


def test_two_sessions_per_peer_use_two_different_floating_ips() -> None:
    plan = _plan(_three_peers(2))
    by_peer: dict[str, list[str]] = {}
    for s in plan.sessions:
        by_peer.setdefault(s.peer_ip, []).append(s.local_ip)
    assert by_peer == {
        "10.0.1.252": ["10.0.1.100", "10.0.1.101"],
        "10.0.1.253": ["10.0.1.101", "10.0.1.102"],
        "10.0.1.254": ["10.0.1.100", "10.0.1.102"],
    }
    assert len({s.name for s in plan.sessions}) == 6


def test_sessions_capped_at_the_floating_ips_of_the_peer_family() -> None:
    docs = base()
    docs[3] = gateway("10.0.1.100", "2001:db8:1::100", "10.0.3.100")
    docs[6] = peer("p2", "2001:db8:1::fe", sessions=3)
    plan = _plan(docs)
    v6 = [s for s in plan.sessions if s.peer == "p2"]
    assert [(s.local_ip, s.name) for s in v6] == [("2001:db8:1::100", "2001:db8:1::fe-node-02")]
    assert [s.local_ip for s in plan.sessions if s.peer == "p1"] == ["10.0.1.100", "10.0.3.100"]


def test_sessions_carry_peer_families_and_their_full_configuration() -> None:
    (first, *_) = _plan(base()).sessions
    assert first.peer == "p1" and not first.local
    assert first.config == SessionConfig(
        name="10.0.1.254-node-01",
        local_ip=ipaddress.ip_address("10.0.1.100"),
        peer_ip=ipaddress.ip_address("10.0.1.254"),
        local_asn=65001,
        peer_asn=65002,
        router_id=ipaddress.IPv4Address("10.0.1.100"),
        families=(IPV4_UNICAST, IPV6_UNICAST),
    )


def test_settings_reach_each_peers_sessions() -> None:
    settings = parse_settings({"defaults": {"holdTime": 30}, "peers": {"10.0.3.254": {"port": 1179}}})
    plan = build_plan(_manifests(base()), settings, Ledger.empty(), (), now=0)
    configs = {s.name: s.config for s in plan.sessions}
    assert {c.hold_time for c in configs.values()} == {30}
    assert {n: c.port for n, c in configs.items()} == {
        "10.0.1.254-node-01": 179,
        "10.0.1.254-node-02": 179,
        "10.0.3.254-node-01": 1179,
        "10.0.3.254-node-02": 1179,
    }


def test_router_id_is_the_ipv4_floating_ip_else_the_lowest_ipv4_one() -> None:
    v4, v6 = ipaddress.IPv4Address("10.0.3.100"), ipaddress.IPv6Address("2001:db8::100")
    assert router_id(v4, {v4, v6}) == v4
    assert router_id(v6, {ipaddress.IPv4Address("10.0.9.1"), v4, v6}) == v4
    only_v6 = router_id(v6, {v6})
    assert only_v6 == router_id(v6, {v6}) and int(only_v6) != 0  # derived, stable


def test_local_marks_sessions_whose_floating_ip_this_host_holds() -> None:
    docs = base()
    docs[3] = gateway("10.0.1.100", "2001:db8:1::100")
    docs[6] = peer("p2", "2001:db8:1::fe", sessions=1)
    plan = _plan(docs, local=("2001:0db8:0001:0000:0000:0000:0000:0100",))  # any spelling of the address
    assert {s.name: s.local for s in plan.sessions} == {
        "10.0.1.254-node-01": False,
        "2001:db8:1::fe-node-02": True,
    }


def test_routes_use_each_node_address_of_the_family_as_next_hop() -> None:
    plan = _plan(base())
    assert [(r.prefix, r.next_hop, r.name, r.family) for r in plan.routes] == [
        ("10.200.0.0/24", "10.0.1.11", "route-via-10-0-1-11", IPV4_UNICAST),
        ("10.200.1.0/24", "10.0.1.21", "route-via-10-0-1-21", IPV4_UNICAST),
        ("10.200.2.0/24", "10.0.3.22", "route-via-10-0-3-22", IPV4_UNICAST),
        ("fd00:200::/120", "2001:db8:1::11", "route-via-2001-db8-1--11", IPV6_UNICAST),
        ("fd00:200::100/120", "2001:db8:1::21", "route-via-2001-db8-1--21", IPV6_UNICAST),
        ("fd00:200::200/120", "2001:db8:3::21", "route-via-2001-db8-3--21", IPV6_UNICAST),
    ]


def test_every_session_announces_a_prefix_with_identical_attributes() -> None:
    docs = base()
    docs[3] = gateway("10.0.1.100", "10.0.1.101")
    docs[5:] = [peer("a", "10.0.1.254", 2), peer("b", "10.0.1.253", 2)]
    held = [
        LocalAddress(ipaddress.ip_address(a), ipaddress.ip_network("10.0.1.0/24"))
        for a in ("10.0.1.100", "10.0.1.101")
    ]
    plan = build_plan(_manifests(docs), Settings(), Ledger.empty(), held, now=0)
    announced: dict[str, set[object]] = {}
    for session in plan.sessions:
        for route in session.announced:
            announced.setdefault(route.prefix, set()).add(route.route)
    assert len(plan.sessions) == 4 and len(announced) == 4  # the nodes on 10.0.1.0/24, both families
    assert all(len(routes) == 1 for routes in announced.values())


def test_ipv4_only_plan_has_no_ipv6_routes() -> None:
    docs = base()
    kind(docs, "FlatIPMode")["spec"]["enableBGPIPv6"] = False
    plan = _plan(docs)
    assert {r.family for r in plan.routes} == {IPV4_UNICAST}
    assert all(s.families == (IPV4_UNICAST,) for s in plan.sessions)
    assert all(n.ipv6 is not None for n in plan.nodes)  # still allocated: the config is dual-stack


def test_sessions_and_routes_are_values_for_diffing() -> None:
    one, two = _plan(base()), _plan(base())
    assert one == two
    assert set(one.sessions) == set(two.sessions)
    assert sorted(one.routes) == sorted(two.routes)
    moved = dataclasses.replace(one.sessions[0], local=True)
    assert moved != one.sessions[0]
    assert len({*one.sessions, moved}) == len(one.sessions) + 1
    assert list(one.by_name()) == [s.name for s in one.sessions]


def test_file_order_of_pools_does_not_change_the_plan() -> None:
    docs = base()
    docs.append(node_pool("np2", [{"address": "10.0.1.31", "ipv6Address": "2001:db8:1::31"}]))
    swapped = copy.deepcopy(docs)
    swapped[1], swapped[-1] = swapped[-1], swapped[1]
    assert _plan(docs) == _plan(swapped)


def test_ledger_keeps_blocks_when_nodes_join_and_leave() -> None:
    first = _plan(base())
    docs = base()
    pool = kind(docs, "NodePool")["spec"]["nodes"]
    pool.insert(0, {"address": "10.0.1.5", "ipv6Address": "2001:db8:1::5"})  # sorts first
    del pool[1]  # 10.0.1.21 leaves
    second = _plan(docs, first.ledger)
    before = {n.name: n.pod_cidrs for n in first.nodes}
    after = {n.name: n.pod_cidrs for n in second.nodes}
    assert after["10.0.1.11"] == before["10.0.1.11"]
    assert after["10.0.3.21"] == before["10.0.3.21"]
    assert "10.0.1.21" not in after
    assert after["10.0.1.5"] != before["10.0.1.21"]  # the leaver's block stays reserved for it
    assert {e.node for e in second.ledger.entries} == set(after)
    assert [r.node for r in second.ledger.reserved] == ["10.0.1.21"]


def test_exhaustion_is_a_problem_for_that_node_only() -> None:
    docs = base()
    kind(docs, "ClusterCIDRConfig")["spec"]["ipv4"] = {"cidr": "10.200.0.0/23", "perNodeMaskSize": 24}
    plan = _plan(docs)
    served = [n for n in plan.nodes if n.config is not None]
    assert len(served) == 2
    (problem,) = plan.problems
    assert problem.node == "10.0.3.21"
    assert problem.node not in {n.name for n in served}
    assert len(plan.routes) == 4  # two nodes × two families


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"bgpd.io/node": "10.0.1.21"}, {"10.0.1.21"}),
        ({"baremetal.cluster.gke.io/node-pool": "np1"}, {"10.0.1.21", "10.0.3.21"}),
        ({"baremetal.cluster.gke.io/node-pool": "bm"}, {"10.0.1.11"}),
    ],
)
def test_node_labels_select_per_node_and_per_pool_configs(
    selector: dict[str, str], expected: set[str]
) -> None:
    docs = base()
    docs.append(cidr_config("special", ("10.201.0.0/24", 26), ("fd00:201::/112", 120), selector=selector))
    plan = _plan(docs)
    assert {n.name for n in plan.nodes if n.config == "special"} == expected
    assert all(
        n.ipv4 is not None and n.ipv4.startswith("10.201.0.") for n in plan.nodes if n.name in expected
    )
