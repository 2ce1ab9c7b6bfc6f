"""The segment rule: a node's own next hop only where the node AND the peer are on the session's
segment; every other case is the peer's ``offSegmentNextHop`` to decide, with a reason naming the
side that was off."""

from __future__ import annotations

import ipaddress

from bgpd.plan import LocalAddress, Plan, Session, Settings, build_plan
from bgpd.plan.settings import parse_settings
from bgpd.rib.ledger import Ledger
from tests.plan._fixtures import DUAL, SINGLE, manifests, plan


def _session(p: Plan, name: str) -> Session:
    return next(s for s in p.sessions if s.name == name)


def _policy(value: str) -> Settings:
    return parse_settings({"defaults": {"offSegmentNextHop": value}})


def test_node_and_peer_on_the_segment_carry_the_nodes_own_next_hop() -> None:
    session = _session(plan(), "10.0.1.254-node-01")  # 10.0.1.100 → 10.0.1.254, both on 10.0.1.0/24
    assert {(a.node, a.next_hop) for a in session.announced} == {
        ("10.0.1.11", "10.0.1.11"),
        ("10.0.1.21", "10.0.1.21"),
    }
    assert all(
        a.reason == f"node {a.node} and the peer are on segment 10.0.1.0/24" for a in session.announced
    )
    assert {s.node for s in session.skipped} == {"10.0.3.11", "10.0.3.21"}
    assert all(
        s.reason == f"node {s.node} is off segment 10.0.1.0/24 (RFC 4271 §5.1.3); offSegmentNextHop: skip"
        for s in session.skipped
    )


def test_a_peer_off_the_segment_gets_no_node_routes_even_for_on_segment_nodes() -> None:
    # The demo's bug: 10.0.1.100 → 10.0.3.254 used to export the 10.0.1.x nodes to a peer that
    # cannot reach them directly. Now the peer's side decides too.
    session = _session(plan(), "10.0.3.254-node-01")
    assert session.announced == ()
    reasons = {s.node: s.reason for s in session.skipped}
    assert (
        reasons["10.0.1.11"]
        == "the peer is off segment 10.0.1.0/24 (RFC 4271 §5.1.3); offSegmentNextHop: skip"
    )
    assert reasons["10.0.3.11"] == (
        "node 10.0.3.11 and the peer are both off segment 10.0.1.0/24 (RFC 4271 §5.1.3); "
        "offSegmentNextHop: skip"
    )


def test_policy_node_announces_every_node_with_its_own_address_and_says_why() -> None:
    p = plan(settings=_policy("node"))
    session = _session(p, "10.0.3.254-node-01")
    assert sorted((a.prefix, a.next_hop) for a in session.announced) == sorted(
        (r.prefix, r.next_hop) for r in p.routes
    )
    reasons = {a.node: a.reason for a in session.announced}
    assert reasons["10.0.1.11"] == "the peer is off segment 10.0.1.0/24; offSegmentNextHop: node"
    assert (
        reasons["10.0.3.11"]
        == "node 10.0.3.11 and the peer are both off segment 10.0.1.0/24; offSegmentNextHop: node"
    )
    assert session.skipped == ()


def test_next_hop_self_uses_the_floating_ip_for_everything_not_on_both_sides() -> None:
    p = plan(settings=_policy("self"))
    on_link = {a.node: (a.next_hop, a.name) for a in _session(p, "10.0.1.254-node-01").announced}
    assert on_link["10.0.1.11"] == ("10.0.1.11", "route-via-10-0-1-11")
    assert on_link["10.0.3.11"] == ("10.0.1.100", "route-via-10-0-1-100")
    off_link = _session(p, "10.0.3.254-node-01")  # peer off 10.0.1.0/24: every node via the floating IP
    assert {a.next_hop for a in off_link.announced} == {"10.0.1.100"}
    assert len(off_link.announced) == 4 and off_link.skipped == ()


def test_per_peer_policy_applies_to_that_peers_sessions_only() -> None:
    p = plan(settings=parse_settings({"peers": {"10.0.3.254": {"offSegmentNextHop": "node"}}}))
    assert len(_session(p, "10.0.3.254-node-01").announced) == 4
    assert len(_session(p, "10.0.1.254-node-01").announced) == 2
    assert _session(p, "10.0.3.254-node-01").config.off_segment_next_hop == "node"


def test_an_unknown_segment_leaves_every_node_to_the_policy() -> None:
    held = [LocalAddress(ipaddress.ip_address("10.0.1.100"))]  # held, prefix unknown
    session = _session(build_plan(manifests(), Settings(), Ledger.empty(), held, now=0), "10.0.1.254-node-01")
    assert session.local and session.segment is None
    assert session.announced == () and len(session.skipped) == 4
    assert all(s.reason.startswith("the session's segment is unknown (RFC 4271") for s in session.skipped)


def test_sessions_not_run_here_export_nothing() -> None:
    session = _session(plan(held=("10.0.1.100",)), "10.0.1.254-node-02")  # from 10.0.3.100
    assert not session.local
    assert (session.segment, session.announced, session.skipped) == (None, (), ())


def test_dual_stack_ipv6_routes_follow_the_node_over_an_ipv4_session() -> None:
    p = plan(DUAL)
    session = _session(p, "10.0.1.254-node-01")
    v6 = [a for a in session.announced if str(a.family) == "ipv6-unicast"]
    assert v6, "on-segment nodes announce their IPv6 pod CIDRs too"
    for announced in v6:
        node = next(n for n in p.nodes if n.name == announced.node)
        assert announced.next_hop == node.ipv6_address
        assert ipaddress.ip_address(node.address) in ipaddress.ip_network("10.0.1.0/24")


def test_next_hop_self_cannot_give_ipv6_routes_an_ipv4_next_hop() -> None:
    session = _session(plan(DUAL, settings=_policy("self")), "10.0.1.254-node-01")
    skipped_v6 = [s for s in session.skipped if str(s.family) == "ipv6-unicast"]
    assert skipped_v6
    assert all("self has no ipv6-unicast next hop on an IPv4 session" in s.reason for s in skipped_v6)
    assert all(str(a.family) == "ipv4-unicast" for a in session.announced if a.next_hop == "10.0.1.100")


def test_sessions_alike_share_one_export_and_one_value_per_route() -> None:
    # Two peers on 10.0.1.0/24: their sessions from 10.0.1.100 export the same, computed once.
    p = plan(SINGLE.replace("peerIP: 10.0.3.254", "peerIP: 10.0.1.253"))
    first, second = _session(p, "10.0.1.253-node-01"), _session(p, "10.0.1.254-node-01")
    assert first.announced is second.announced and len(first.announced) == 2
    routes = [a.route for s in p.sessions for a in s.announced]
    by_key = {(r.text, str(r.path.next_hop)): r for r in routes}
    assert all(by_key[(r.text, str(r.path.next_hop))] is r for r in routes)
