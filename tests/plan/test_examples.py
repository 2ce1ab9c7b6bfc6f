"""The three shipped examples, planned and checked field by field."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from bgpd.manifests import load_manifests
from bgpd.plan import LocalAddress, Plan, PlannedNode, Route, Settings, build_plan
from bgpd.rib.ledger import Ledger
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"


def _plan(name: str, local: tuple[str, ...] = ()) -> Plan:
    held = [
        LocalAddress(ipaddress.ip_address(a), ipaddress.ip_network(f"{a}/24", strict=False)) for a in local
    ]
    return build_plan(load_manifests(EXAMPLES / name).manifests, Settings(), Ledger.empty(), held, now=0)


SessionView = tuple[str, str, str, str, int, int, tuple[Family, ...], bool]


def _view(plan: Plan) -> tuple[SessionView, ...]:
    return tuple(
        (s.name, s.peer, s.local_ip, s.peer_ip, s.local_asn, s.peer_asn, s.families, s.local)
        for s in plan.sessions
    )


def _sessions(families: tuple[Family, ...], local: set[str]) -> tuple[SessionView, ...]:
    rows = [
        ("10.0.1.254-node-01", "bgppeer1", "10.0.1.100", "10.0.1.254"),
        ("10.0.1.254-node-02", "bgppeer1", "10.0.3.100", "10.0.1.254"),
        ("10.0.3.254-node-01", "bgppeer2", "10.0.1.100", "10.0.3.254"),
        ("10.0.3.254-node-02", "bgppeer2", "10.0.3.100", "10.0.3.254"),
    ]
    return tuple(
        (name, peer, local_ip, peer_ip, 65001, 65002, families, local_ip in local)
        for name, peer, local_ip, peer_ip in rows
    )


V4_ROUTES = (
    Route("route-via-10-0-1-11", "222.2.0.0/24", "10.0.1.11", IPV4_UNICAST),
    Route("route-via-10-0-1-21", "222.2.1.0/24", "10.0.1.21", IPV4_UNICAST),
    Route("route-via-10-0-3-11", "222.2.2.0/24", "10.0.3.11", IPV4_UNICAST),
    Route("route-via-10-0-3-22", "222.2.3.0/24", "10.0.3.22", IPV4_UNICAST),
)
V6_ROUTES = (
    Route("route-via-2001-db8-1--11", "2222:3::/120", "2001:db8:1::11", IPV6_UNICAST),
    Route("route-via-2001-db8-1--21", "2222:3::100/120", "2001:db8:1::21", IPV6_UNICAST),
    Route("route-via-2001-db8-3--11", "2222:3::200/120", "2001:db8:3::11", IPV6_UNICAST),
    Route("route-via-2001-db8-3--21", "2222:3::300/120", "2001:db8:3::21", IPV6_UNICAST),
)


def test_single_stack_ipv4() -> None:
    plan = _plan("single-stack-ipv4.yaml", ("10.0.1.100",))
    assert plan.nodes == (
        PlannedNode("10.0.1.11", "10.0.1.11", None, "bm", "cluster-wide-1", "222.2.0.0/24", None),
        PlannedNode("10.0.1.21", "10.0.1.21", None, "np1", "cluster-wide-1", "222.2.1.0/24", None),
        PlannedNode("10.0.3.11", "10.0.3.11", None, "bm-lb", "cluster-wide-1", "222.2.2.0/24", None),
        PlannedNode("10.0.3.21", "10.0.3.21", None, "np1", "cluster-wide-1", "222.2.3.0/24", None),
    )
    assert _view(plan) == _sessions((IPV4_UNICAST,), {"10.0.1.100"})
    assert plan.routes == (
        *V4_ROUTES[:3],
        Route("route-via-10-0-3-21", "222.2.3.0/24", "10.0.3.21", IPV4_UNICAST),
    )
    assert plan.problems == ()
    assert [(e.node, e.config, e.ipv4, e.ipv6) for e in plan.ledger.entries] == [
        (n.name, n.config, n.ipv4, n.ipv6) for n in plan.nodes
    ]


def test_dual_stack_ipv4_island_ipv6_flat() -> None:
    plan = _plan("dual-stack-ipv4-island-ipv6-flat.yaml", ("10.0.3.100",))
    assert plan.nodes == (
        PlannedNode(
            "10.0.1.11",
            "10.0.1.11",
            "2001:db8:1::11",
            "bm",
            "cluster-wide-1",
            "192.168.0.0/24",
            "2222:3::/120",
        ),
        PlannedNode(
            "10.0.1.21",
            "10.0.1.21",
            "2001:db8:1::21",
            "np1",
            "cluster-wide-1",
            "192.168.1.0/24",
            "2222:3::100/120",
        ),
        PlannedNode(
            "10.0.3.11",
            "10.0.3.11",
            "2001:db8:3::11",
            "bm-lb",
            "cluster-wide-1",
            "192.168.2.0/24",
            "2222:3::200/120",
        ),
        PlannedNode(
            "10.0.3.21",
            "10.0.3.22",
            "2001:db8:3::21",
            "np1",
            "cluster-wide-1",
            "192.168.3.0/24",
            "2222:3::300/120",
        ),
    )
    # IPv6 routes only, carried over the IPv4 sessions (MP-BGP).
    assert _view(plan) == _sessions((IPV6_UNICAST,), {"10.0.3.100"})
    assert plan.routes == V6_ROUTES
    assert plan.problems == ()


def test_dual_stack_flat() -> None:
    plan = _plan("dual-stack-flat.yaml", ("10.0.1.100", "10.0.3.100"))
    assert [(n.name, n.address, n.ipv6_address, n.pod_cidrs) for n in plan.nodes] == [
        ("10.0.1.11", "10.0.1.11", "2001:db8:1::11", ("222.2.0.0/24", "2222:3::/120")),
        ("10.0.1.21", "10.0.1.21", "2001:db8:1::21", ("222.2.1.0/24", "2222:3::100/120")),
        ("10.0.3.11", "10.0.3.11", "2001:db8:3::11", ("222.2.2.0/24", "2222:3::200/120")),
        ("10.0.3.21", "10.0.3.22", "2001:db8:3::21", ("222.2.3.0/24", "2222:3::300/120")),
    ]
    assert _view(plan) == _sessions((IPV4_UNICAST, IPV6_UNICAST), {"10.0.1.100", "10.0.3.100"})
    assert plan.routes == V4_ROUTES + V6_ROUTES
    carried = {s.name: [(a.prefix, a.next_hop) for a in s.announced] for s in plan.sessions}
    on_1 = [(r.prefix, r.next_hop) for r in V4_ROUTES[:2] + V6_ROUTES[:2]]
    on_3 = [(r.prefix, r.next_hop) for r in V4_ROUTES[2:] + V6_ROUTES[2:]]
    assert carried == {  # each floating IP's segment, and only to the peer on it
        "10.0.1.254-node-01": on_1,
        "10.0.1.254-node-02": [],
        "10.0.3.254-node-01": [],
        "10.0.3.254-node-02": on_3,
    }
    assert plan.problems == ()
