"""bgpd's speaker against GoBGP 3 (``gobgpd``) in network namespaces (issue 4 §3).

bgpd is the active side wherever it can be: GoBGP waits 5–10 s before its first outgoing connect
(docs: interop notes), so only the passive-mode test pays that.
"""

from __future__ import annotations

import base64
import os
import signal
import time
from typing import Any

import pytest

from bgpd.fsm import State
from bgpd.speaker.status import SessionStatus
from tests.interop.netlab import GoBgpPeer, gobgp_next_hop, wait_for
from tests.interop.speaker_host import (
    FAST_TIMERS,
    FLOATING_1,
    FLOATING_2,
    LOCAL_ASN,
    NODE_V4,
    NODE_V6,
    PEER_ASN,
    PEER_V4,
    PEER_V6,
    Topology,
    node_routes,
    received,
    session_config,
)

pytestmark = pytest.mark.interop

SHUTDOWN_TEXT = "bgpd maintenance: node drained"


def gobgp(
    topo: Topology, *neighbors: str, passive: bool = True, hold_time: int = 3, local_asn: int = LOCAL_ASN
) -> GoBgpPeer:
    peer = GoBgpPeer(topo.peer_ns, asn=PEER_ASN, router_id=PEER_V4)
    for address in neighbors:
        peer.add_neighbor(address, local_asn, passive=passive, local_address=PEER_V4, hold_time=hold_time)
    peer.start()
    return peer


def adj_in_next_hop(peer: GoBgpPeer, neighbor: str, family: str, prefix: str) -> str | None:
    """The next hop GoBGP recorded for ``prefix`` from ``neighbor`` (NEXT_HOP or MP_REACH)."""
    paths = peer.adj_in(neighbor, family).get(prefix)
    return gobgp_next_hop(paths[0]) if paths else None


def as_path(peer: GoBgpPeer, neighbor: str, prefix: str) -> list[int]:
    for attr in peer.adj_in(neighbor, "ipv4")[prefix][0]["attrs"]:
        if attr["type"] == 2:
            return [asn for segment in attr["as_paths"] for asn in segment["asns"]]
    return []


def remote_capabilities(peer: GoBgpPeer, neighbor: str) -> list[tuple[str, bytes]]:
    """GoBGP's view of the capabilities we sent: (type name, protobuf value)."""
    caps: list[dict[str, Any]] = peer.neighbor(neighbor)["state"]["remote_cap"]
    return [(c["type_url"].rsplit(".", 1)[-1], base64.b64decode(c.get("value", ""))) for c in caps]


def established(status: SessionStatus) -> bool:
    return status.established


def test_active_session_routes_received_routes_and_admin_shutdown(topo: Topology) -> None:
    peer = gobgp(topo, FLOATING_1, hold_time=9)
    host = topo.host
    host.call(host.speaker.add_session(session_config(), node_routes(1)))
    host.wait_status("s1", established, 15)
    peer.wait_established(FLOATING_1, timeout=5)

    caps = remote_capabilities(peer, FLOATING_1)
    names = [name for name, _ in caps]
    assert "FourOctetASNCapability" in names and "RouteRefreshCapability" in names
    # MultiProtocolCapability's protobuf value: field 1 = family {afi: 1|2, safi: 1}
    mp = sorted(value for name, value in caps if name == "MultiProtocolCapability")
    assert mp == [b"\n\x04\x08\x01\x10\x01", b"\n\x04\x08\x02\x10\x01"]

    # Third-party next hops arrive as sent: IPv4 in NEXT_HOP, IPv6 (over the IPv4 session) as the
    # node's global address in MP_REACH.
    v4 = wait_for(lambda: adj_in_next_hop(peer, FLOATING_1, "ipv4", "10.244.1.0/24"), 10, "IPv4 route")
    v6 = wait_for(lambda: adj_in_next_hop(peer, FLOATING_1, "ipv6", "2001:db8:1::/64"), 10, "IPv6 route")
    assert (v4, v6) == (NODE_V4, NODE_V6)
    assert as_path(peer, FLOATING_1, "10.244.1.0/24") == [LOCAL_ASN]

    # Routes the peer announces show up in bgpd's Adj-RIB-In.
    peer.announce("192.0.2.0/24", PEER_V4)
    peer.announce("2001:db8:ff::/48", PEER_V6)
    got = wait_for(
        lambda: received(host, "s1") if len(received(host, "s1")) == 2 else None, 10, "peer routes"
    )
    assert got == {"192.0.2.0/24": PEER_V4, "2001:db8:ff::/48": PEER_V6}

    # Replacing the routes withdraws what is gone and announces what is new.
    host.run(lambda: host.speaker.set_routes("s1", node_routes(2)))
    wait_for(lambda: not peer.adj_in(FLOATING_1, "ipv6").get("2001:db8:1::/64"), 10, "IPv6 withdrawal")
    assert set(peer.adj_in(FLOATING_1, "ipv4")) == {"10.244.2.0/24"}
    assert set(peer.adj_in(FLOATING_1, "ipv6")) == {"2001:db8:2::/64"}
    peer.withdraw("192.0.2.0/24")
    wait_for(lambda: "192.0.2.0/24" not in received(host, "s1"), 10, "peer withdrawal")

    # Administrative shutdown: GoBGP logs our Cease with the RFC 9003 text.
    host.call(host.speaker.shutdown_session("s1", SHUTDOWN_TEXT))
    peer.wait_state(FLOATING_1, lambda s: s != "established", 5, "GoBGP to drop the session")
    wait_for(lambda: SHUTDOWN_TEXT in peer.log_text(), 5, "shutdown communication in GoBGP's log")
    status = host.status("s1")
    assert status.admin_down and not status.established
    assert status.last_sent is not None and (status.last_sent.code, status.last_sent.subcode) == (6, 2)


def test_passive_session(topo: Topology) -> None:
    peer = gobgp(topo, FLOATING_1, passive=False)
    host = topo.host
    host.call(host.speaker.add_session(session_config(passive=True), node_routes(1)))
    host.wait_status("s1", established, 30)  # GoBGP's first connect comes after 5-10 s
    peer.wait_established(FLOATING_1, timeout=5)
    assert (
        wait_for(lambda: adj_in_next_hop(peer, FLOATING_1, "ipv4", "10.244.1.0/24"), 10, "route") == NODE_V4
    )
    status = host.status("s1")
    assert status.counters["connectionsAccepted"] >= 1 and status.counters["connectAttempts"] == 0


def test_peer_death_hold_timer_and_return(topo: Topology) -> None:
    peer = gobgp(topo, FLOATING_1, hold_time=3)
    host = topo.host
    host.call(host.speaker.add_session(session_config(**FAST_TIMERS), node_routes(1)))
    host.wait_status("s1", established, 15)
    assert peer.process is not None

    # A peer that freezes (the TCP connection stays open) is caught by our hold timer.
    os.kill(peer.process.pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    status = host.wait_status("s1", lambda s: not s.established, 10)
    assert time.monotonic() - frozen_at <= 3 + 1.0  # the hold time, plus scheduling slack
    assert status.last_sent is not None and status.last_sent.code == 4  # Hold Timer Expired
    assert status.history[-1].old is State.ESTABLISHED

    # kill -9: the peer is gone; bgpd keeps trying on its own and re-establishes when it returns.
    peer.kill()
    host.wait_status("s1", lambda s: s.fsm_state in ("Connect", "Active", "Idle"), 5)
    assert peer.socket.exists()  # left behind by the killed gobgpd: start() replaces it
    peer.start()
    host.wait_status("s1", established, 15)
    peer.wait_established(FLOATING_1, timeout=5)
    wait_for(lambda: adj_in_next_hop(peer, FLOATING_1, "ipv4", "10.244.1.0/24"), 10, "routes again")
    assert host.status("s1").counters["flaps"] == 1

    # kill -9 of an established peer: its kernel closes the connection, bgpd notices at once.
    peer.kill()
    killed_at = time.monotonic()
    host.wait_status("s1", lambda s: not s.established, 5)
    assert time.monotonic() - killed_at <= 3 + 1.0


def test_four_octet_local_asn_with_two_octet_peer(topo: Topology) -> None:
    peer = gobgp(topo, FLOATING_1, local_asn=4200000001)
    host = topo.host
    host.call(host.speaker.add_session(session_config(local_asn=4200000001), node_routes(1)))
    host.wait_status("s1", established, 15)
    peer.wait_established(FLOATING_1, timeout=5)
    assert peer.neighbor(FLOATING_1)["state"]["peer_asn"] == 4200000001
    wait_for(lambda: adj_in_next_hop(peer, FLOATING_1, "ipv4", "10.244.1.0/24"), 10, "route")
    assert as_path(peer, FLOATING_1, "10.244.1.0/24") == [4200000001]


def test_two_sessions_to_one_peer_from_two_floating_ips(topo: Topology) -> None:
    peer = gobgp(topo, FLOATING_1, FLOATING_2)
    host = topo.host
    routes = node_routes(1)
    host.call(host.speaker.add_session(session_config("s1", FLOATING_1), routes))
    host.call(host.speaker.add_session(session_config("s2", FLOATING_2), routes))
    host.wait_status("s1", established, 15)
    host.wait_status("s2", established, 15)
    for neighbor in (FLOATING_1, FLOATING_2):
        peer.wait_established(neighbor, timeout=5)
        hop = wait_for(lambda n=neighbor: adj_in_next_hop(peer, n, "ipv4", "10.244.1.0/24"), 10, "route")
        assert hop == NODE_V4  # identical attributes on both sessions
    assert host.status("s1").local_ip == FLOATING_1 and host.status("s2").local_ip == FLOATING_2
