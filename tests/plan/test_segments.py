"""Which routes each session carries: the floating IP's segment and the per-peer next-hop policy."""

from __future__ import annotations

import ipaddress

from bgpd.plan.segments import export_routes
from bgpd.plan.settings import NextHopPolicy
from tests.daemon._fixtures import DUAL, SEGMENTS, plan


def test_on_segment_nodes_carry_their_own_next_hop_and_off_segment_nodes_are_skipped() -> None:
    p = plan()
    session = next(s for s in p.sessions if s.name == "10.0.1.254-node-01")
    export = export_routes(p, session, SEGMENTS[session.local_ip], NextHopPolicy.SKIP)
    assert {(a.node, a.next_hop) for a in export.announced} == {
        ("10.0.1.11", "10.0.1.11"),
        ("10.0.1.21", "10.0.1.21"),
    }
    assert {s.node for s in export.skipped} == {"10.0.3.11", "10.0.3.21"}
    assert all("offSegmentNextHop: skip" in s.reason and "10.0.1.0/24" in s.reason for s in export.skipped)


def test_the_segment_is_the_floating_ips_not_the_peers() -> None:
    p = plan()
    session = next(s for s in p.sessions if s.name == "10.0.1.254-node-02")  # from 10.0.3.100
    export = export_routes(p, session, SEGMENTS[session.local_ip], NextHopPolicy.SKIP)
    assert {a.node for a in export.announced} == {"10.0.3.11", "10.0.3.21"}


def test_next_hop_self_uses_the_floating_ip_for_off_segment_nodes() -> None:
    p = plan()
    session = next(s for s in p.sessions if s.name == "10.0.1.254-node-01")
    export = export_routes(p, session, SEGMENTS[session.local_ip], NextHopPolicy.SELF)
    hops = {a.node: (a.next_hop, a.name) for a in export.announced}
    assert hops["10.0.1.11"] == ("10.0.1.11", "route-via-10-0-1-11")
    assert hops["10.0.3.11"] == ("10.0.1.100", "route-via-10-0-1-100")
    assert export.skipped == ()


def test_policy_node_announces_every_node_with_its_own_address() -> None:
    p = plan()
    session = p.sessions[0]
    export = export_routes(p, session, SEGMENTS[session.local_ip], NextHopPolicy.NODE)
    assert sorted((a.prefix, a.next_hop) for a in export.announced) == sorted(
        (r.prefix, r.next_hop) for r in p.routes
    )


def test_unknown_segment_leaves_every_node_to_the_policy() -> None:
    p = plan()
    export = export_routes(p, p.sessions[0], None, NextHopPolicy.SKIP)
    assert export.announced == ()
    assert len(export.skipped) == len(p.routes)
    assert "unknown segment" in export.skipped[0].reason


def test_dual_stack_ipv6_routes_follow_the_node_over_an_ipv4_session() -> None:
    p = plan(DUAL)
    session = next(s for s in p.sessions if s.name == "10.0.1.254-node-01")
    export = export_routes(p, session, SEGMENTS[session.local_ip], NextHopPolicy.SKIP)
    v6 = [a for a in export.announced if a.family == "ipv6-unicast"]
    assert v6, "on-segment nodes announce their IPv6 pod CIDRs too"
    for announced in v6:
        node = next(n for n in p.nodes if n.name == announced.node)
        assert announced.next_hop == node.ipv6_address
        assert ipaddress.ip_address(node.address) in SEGMENTS["10.0.1.100"]


def test_next_hop_self_cannot_give_ipv6_routes_an_ipv4_next_hop() -> None:
    p = plan(DUAL)
    session = next(s for s in p.sessions if s.name == "10.0.1.254-node-01")
    export = export_routes(p, session, SEGMENTS[session.local_ip], NextHopPolicy.SELF)
    skipped_v6 = [s for s in export.skipped if s.family == "ipv6-unicast"]
    assert skipped_v6
    assert all("no ipv6-unicast next hop on an IPv4 session" in s.reason for s in skipped_v6)
    assert all(a.family == "ipv4-unicast" for a in export.announced if a.next_hop == "10.0.1.100")
