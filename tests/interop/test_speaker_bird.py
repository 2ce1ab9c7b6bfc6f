"""bgpd's speaker against BIRD 2 in network namespaces (issue 4 §3).

BIRD checks what GoBGP does not: a third-party next hop must be on a directly connected subnet,
so these tests also prove the node addresses we announce are usable by a strict router.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from bgpd.speaker.status import SessionStatus
from tests.interop.netlab import BirdPeer, wait_for
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


def bird(
    topo: Topology,
    *neighbors: tuple[str, str],
    passive: bool = True,
    hold_time: int | None = None,
    local_asn: int = LOCAL_ASN,
    statics: tuple[str, ...] = (),
) -> BirdPeer:
    peer = BirdPeer(topo.peer_ns, asn=PEER_ASN, router_id=PEER_V4)
    for name, address in neighbors:
        peer.add_neighbor(
            name, address, local_asn, local_address=PEER_V4, passive=passive, hold_time=hold_time
        )
    for prefix in statics:
        peer.add_static(prefix)
    peer.start()
    return peer


def established(status: SessionStatus) -> bool:
    return status.established


def neighbor_capabilities(peer: BirdPeer, protocol: str) -> list[str]:
    """The lines under "Neighbor capabilities" in ``show protocols all`` (what we sent)."""
    out = (peer.cli("show", "protocols", "all", protocol) or "").splitlines()
    start = next(i for i, line in enumerate(out) if line.strip() == "Neighbor capabilities")
    lines = []
    indent = len(out[start]) - len(out[start].lstrip())
    for line in out[start + 1 :]:
        if len(line) - len(line.lstrip()) <= indent:
            break
        lines.append(line.strip())
    return lines


def test_active_session_routes_received_routes_and_admin_shutdown(topo: Topology) -> None:
    peer = bird(topo, ("s1", FLOATING_1), statics=("192.0.2.0/24", "2001:db8:ff::/48"))
    host = topo.host
    host.call(host.speaker.add_session(session_config(), node_routes(1)))
    host.wait_status("s1", established, 15)
    peer.wait_established("s1", timeout=5)

    caps = neighbor_capabilities(peer, "s1")
    assert "Multiprotocol" in caps and "AF announced: ipv4 ipv6" in caps
    assert "Route refresh" in caps and "4-octet AS numbers" in caps

    # BIRD accepts the third-party next hops (they are on its connected subnet) and keeps them.
    wait_for(lambda: "10.244.1.0/24" in peer.next_hops("master4", "s1"), 10, "IPv4 route at BIRD")
    wait_for(lambda: "2001:db8:1::/64" in peer.next_hops("master6", "s1"), 10, "IPv6 route at BIRD")
    assert peer.next_hops("master4", "s1") == {"10.244.1.0/24": NODE_V4}
    assert peer.next_hops("master6", "s1") == {"2001:db8:1::/64": NODE_V6}
    route = peer.routes("master4")["10.244.1.0/24"][0]
    assert route.attributes["BGP.as_path"] == str(LOCAL_ASN)
    assert route.attributes["BGP.origin"] == "IGP"

    # BIRD's own routes arrive in bgpd's Adj-RIB-In with BIRD's addresses as next hops.
    got = wait_for(
        lambda: received(host, "s1") if len(received(host, "s1")) == 2 else None, 10, "BIRD routes"
    )
    assert got == {"192.0.2.0/24": PEER_V4, "2001:db8:ff::/48": PEER_V6}

    # Replace the routes: what is gone is withdrawn, the new ones appear.
    host.run(lambda: host.speaker.set_routes("s1", node_routes(2)))
    wait_for(lambda: "2001:db8:1::/64" not in peer.next_hops("master6", "s1"), 10, "IPv6 withdrawal")
    assert peer.next_hops("master4", "s1") == {"10.244.2.0/24": NODE_V4}
    assert peer.next_hops("master6", "s1") == {"2001:db8:2::/64": NODE_V6}

    host.call(host.speaker.shutdown_session("s1", SHUTDOWN_TEXT))
    wait_for(lambda: peer.protocol_state("s1") != "Established", 5, "BIRD to drop the session")
    wait_for(lambda: f'Administrative shutdown: "{SHUTDOWN_TEXT}"' in peer.log_text(), 5, "text in BIRD log")
    assert not peer.next_hops("master4", "s1")  # our routes are gone with the session


def test_passive_session(topo: Topology) -> None:
    peer = bird(topo, ("s1", FLOATING_1), passive=False)
    host = topo.host
    host.call(host.speaker.add_session(session_config(passive=True), node_routes(1)))
    host.wait_status("s1", established, 20)  # BIRD's connect delay is 5 s
    peer.wait_established("s1", timeout=5)
    wait_for(lambda: "10.244.1.0/24" in peer.next_hops("master4", "s1"), 10, "route at BIRD")
    assert host.status("s1").counters["connectAttempts"] == 0


def test_peer_death_hold_timer_and_return(topo: Topology) -> None:
    peer = bird(topo, ("s1", FLOATING_1), hold_time=3)
    host = topo.host
    host.call(host.speaker.add_session(session_config(**FAST_TIMERS), node_routes(1)))
    host.wait_status("s1", established, 15)
    assert peer.process is not None

    os.kill(peer.process.pid, signal.SIGSTOP)  # frozen: the connection stays, nothing is sent
    frozen_at = time.monotonic()
    status = host.wait_status("s1", lambda s: not s.established, 10)
    assert time.monotonic() - frozen_at <= 3 + 1.0
    assert status.last_sent is not None and status.last_sent.code == 4  # Hold Timer Expired

    peer.kill()
    host.wait_status("s1", lambda s: s.fsm_state in ("Connect", "Active", "Idle"), 5)
    peer.start()
    host.wait_status("s1", established, 15)
    peer.wait_established("s1", timeout=5)
    wait_for(lambda: "10.244.1.0/24" in peer.next_hops("master4", "s1"), 10, "routes again")


def test_four_octet_local_asn_with_two_octet_peer(topo: Topology) -> None:
    peer = bird(topo, ("s1", FLOATING_1), local_asn=4200000001)
    host = topo.host
    host.call(host.speaker.add_session(session_config(local_asn=4200000001), node_routes(1)))
    host.wait_status("s1", established, 15)
    peer.wait_established("s1", timeout=5)
    wait_for(lambda: "10.244.1.0/24" in peer.next_hops("master4", "s1"), 10, "route at BIRD")
    assert peer.routes("master4")["10.244.1.0/24"][0].attributes["BGP.as_path"] == "4200000001"


def test_two_sessions_to_one_peer_from_two_floating_ips(topo: Topology) -> None:
    peer = bird(topo, ("s1", FLOATING_1), ("s2", FLOATING_2))
    host = topo.host
    routes = node_routes(1)
    host.call(host.speaker.add_session(session_config("s1", FLOATING_1), routes))
    host.call(host.speaker.add_session(session_config("s2", FLOATING_2), routes))
    host.wait_status("s1", established, 15)
    host.wait_status("s2", established, 15)
    for name in ("s1", "s2"):
        peer.wait_established(name, timeout=5)
    wait_for(
        lambda: len(peer.routes("master4").get("10.244.1.0/24", [])) == 2, 10, "the route from both sessions"
    )
    hops = {r.protocol: r.next_hop for r in peer.routes("master4")["10.244.1.0/24"]}
    assert hops == {"s1": NODE_V4, "s2": NODE_V4}  # identical attributes: BIRD can ECMP them
