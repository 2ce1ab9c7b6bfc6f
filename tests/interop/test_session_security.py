"""Session security and the prefix limit against BIRD 2 and GoBGP 3 in network namespaces (issue 9).

- TCP-MD5 (RFC 2385): BIRD ``password``, GoBGP ``auth-password``; matching keys peer, a wrong key
  never gets a handshake through (the peer's kernel counts the bad signatures), and the key shows
  in nothing bgpd prints.
- GTSM (RFC 5082): BIRD ``ttl security on``, GoBGP ``ttl-security`` with ``ttl-min 255``; a peer
  without it (TTL 1) never gets through, and neither does a GTSM peer one router away unless we
  allow that hop (multihop 2: minimum TTL 254).
- Max-prefix (RFC 4486 §4): both peers read our Cease 6/1 as "maximum number of prefixes reached".

TCP-AO (RFC 5925) is not tested: this kernel is built without it (``TCP_AO_ADD_KEY`` answers
ENOPROTOOPT), and neither packaged peer speaks it.
"""

from __future__ import annotations

from typing import Any

import pytest

from bgpd.plan.secret import Secret
from bgpd.speaker.status import SessionStatus
from tests.interop.netlab import BirdPeer, GoBgpPeer, Namespace, NetLab, wait_for
from tests.interop.speaker_host import (
    FAST_TIMERS,
    FLOATING_1,
    FLOATING_V6,
    LOCAL_ASN,
    PEER_ASN,
    PEER_V4,
    PEER_V6,
    SpeakerHost,
    Topology,
    node_routes,
    received,
    session_config,
)

pytestmark = pytest.mark.interop

PASSWORD = "tor-1 md5 secret 7f3a"
NEVER_UP = 6.0  # several of our connection attempts (connectRetryTime 1 s), each refused


def established(status: SessionStatus) -> bool:
    return status.established


def netstat(ns: Namespace, name: str) -> int:
    """A TcpExt counter inside ``ns``."""
    lines = ns.exec(["cat", "/proc/net/netstat"]).splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=True):
        row = dict(zip(header.split(), values.split(), strict=True))
        if name in row:
            return int(row[name])
    raise KeyError(name)


BIRD_PASSWORD = f'password "{PASSWORD}"'  # BIRD's protocol bgp lines for MD5 and GTSM
BIRD_GTSM = "ttl security on"


def bird(topo: Topology, *options: str, neighbor: str = FLOATING_1, local: str = PEER_V4) -> BirdPeer:
    peer = BirdPeer(topo.peer_ns, asn=PEER_ASN, router_id=PEER_V4)
    peer.add_neighbor("s1", neighbor, LOCAL_ASN, local_address=local, passive=True, options=options)
    peer.start()
    return peer


def gobgp(topo: Topology, **options: Any) -> GoBgpPeer:
    peer = GoBgpPeer(topo.peer_ns, asn=PEER_ASN, router_id=PEER_V4)
    peer.add_neighbor(FLOATING_1, LOCAL_ASN, passive=True, local_address=PEER_V4, hold_time=9, **options)
    peer.start()
    return peer


def never_established(topo: Topology, name: str = "s1") -> SessionStatus:
    with pytest.raises(TimeoutError):
        topo.host.wait_status(name, established, NEVER_UP)
    return topo.host.status(name)


# -- TCP-MD5 -------------------------------------------------------------------------------------


def test_md5_with_bird_and_the_key_is_shown_nowhere(
    topo: Topology, capfd: pytest.CaptureFixture[str]
) -> None:
    peer = bird(topo, BIRD_PASSWORD)
    host = topo.host
    config = session_config(password=Secret(PASSWORD.encode()), **FAST_TIMERS)
    host.call(host.speaker.add_session(config, node_routes(1)))
    status = host.wait_status("s1", established, 15)
    peer.wait_established("s1", timeout=5)
    wait_for(lambda: "10.244.1.0/24" in peer.next_hops("master4", "s1"), 10, "route at BIRD")
    assert status.security["tcpMd5"] is True
    out, err = capfd.readouterr()
    shown = out + err + repr(status) + str(status.to_control()) + repr(config)
    assert PASSWORD not in shown


def test_md5_with_bird_over_ipv6(topo: Topology) -> None:
    peer = bird(topo, BIRD_PASSWORD, neighbor=FLOATING_V6, local=PEER_V6)
    host = topo.host
    config = session_config(
        local=FLOATING_V6, peer=PEER_V6, password=Secret(PASSWORD.encode()), **FAST_TIMERS
    )
    host.call(host.speaker.add_session(config, node_routes(1)))
    host.wait_status("s1", established, 15)
    peer.wait_established("s1", timeout=5)


def test_md5_mismatch_with_bird_never_gets_established(topo: Topology) -> None:
    peer = bird(topo, BIRD_PASSWORD)
    host = topo.host
    before = netstat(topo.peer_ns, "TCPMD5Failure")
    config = session_config(password=Secret(b"not the password"), **FAST_TIMERS)
    host.call(host.speaker.add_session(config, node_routes(1)))
    status = never_established(topo)
    assert status.counters["connectAttempts"] >= 2
    assert peer.protocol_state("s1") != "Established"
    assert netstat(topo.peer_ns, "TCPMD5Failure") > before  # BIRD's kernel dropped our signed SYNs


def test_md5_with_gobgp(topo: Topology, capfd: pytest.CaptureFixture[str]) -> None:
    peer = gobgp(topo, auth_password=PASSWORD)
    host = topo.host
    host.call(host.speaker.add_session(session_config(password=Secret(PASSWORD.encode())), node_routes(1)))
    host.wait_status("s1", established, 15)
    peer.wait_established(FLOATING_1, timeout=5)
    peer.announce("192.0.2.0/24", PEER_V4)
    wait_for(lambda: "192.0.2.0/24" in received(host, "s1"), 10, "GoBGP's route")
    out, err = capfd.readouterr()
    assert PASSWORD not in out + err


@pytest.mark.parametrize("ours", [None, "not the password"], ids=["no-key", "wrong-key"])
def test_md5_mismatch_with_gobgp_never_gets_established(topo: Topology, ours: str | None) -> None:
    peer = gobgp(topo, auth_password=PASSWORD)
    host = topo.host
    counter = "TCPMD5NotFound" if ours is None else "TCPMD5Failure"
    before = netstat(topo.peer_ns, counter)
    password = None if ours is None else Secret(ours.encode())
    host.call(host.speaker.add_session(session_config(password=password, **FAST_TIMERS), node_routes(1)))
    never_established(topo)
    assert peer.neighbor_state(FLOATING_1) != "established"
    assert netstat(topo.peer_ns, counter) > before


# -- GTSM ----------------------------------------------------------------------------------------


def test_gtsm_with_bird(topo: Topology) -> None:
    peer = bird(topo, BIRD_GTSM)
    host = topo.host
    host.call(host.speaker.add_session(session_config(ttl_security=True, **FAST_TIMERS), node_routes(1)))
    status = host.wait_status("s1", established, 15)
    peer.wait_established("s1", timeout=5)
    assert status.security == {"tcpMd5": False, "gtsm": True, "ttl": 255, "minTtl": 255}


def test_gtsm_with_gobgp(topo: Topology) -> None:
    peer = gobgp(topo, ttl_min=255)
    host = topo.host
    host.call(host.speaker.add_session(session_config(ttl_security=True, **FAST_TIMERS), node_routes(1)))
    host.wait_status("s1", established, 15)
    peer.wait_established(FLOATING_1, timeout=5)


def test_gtsm_peer_without_it_never_gets_established(topo: Topology) -> None:
    """BIRD without ``ttl security`` answers a directly connected eBGP peer with TTL 1."""
    bird(topo)
    host = topo.host
    before = netstat(topo.bgpd_ns, "TCPMinTTLDrop")
    host.call(host.speaker.add_session(session_config(ttl_security=True, **FAST_TIMERS), node_routes(1)))
    never_established(topo)
    assert netstat(topo.bgpd_ns, "TCPMinTTLDrop") > before


def routed_topology(lab: NetLab) -> tuple[Namespace, Namespace, SpeakerHost]:
    """bgpd (10.0.0.100) — router (10.0.0.1 | 10.1.0.1) — peer (10.1.0.254): one router hop, so
    what the peer sends with TTL 255 arrives with 254. Routes only to the lab's own two subnets."""
    left, right = lab.segment(), lab.segment()
    bgpd_ns, router, peer_ns = lab.namespace(), lab.namespace(), lab.namespace()
    lab.attach(bgpd_ns, left, ["10.0.0.100/24"])
    lab.attach(router, left, ["10.0.0.1/24"])
    lab.attach(router, right, ["10.1.0.1/24"])
    lab.attach(peer_ns, right, ["10.1.0.254/24"])
    router.exec(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    bgpd_ns.ip("route", "add", "10.1.0.0/24", "via", "10.0.0.1")
    peer_ns.ip("route", "add", "10.0.0.0/24", "via", "10.1.0.1")
    return bgpd_ns, peer_ns, SpeakerHost(bgpd_ns.name)


@pytest.mark.parametrize("hops", [1, 2], ids=["directly-connected-drops", "multihop-2-accepts"])
def test_gtsm_peer_one_router_away(netlab: NetLab, hops: int) -> None:
    """A GTSM peer behind one router arrives with TTL 254: dropped when we expect a directly
    connected peer (minimum 255), accepted when the session allows two hops (minimum 254)."""
    bgpd_ns, peer_ns, host = routed_topology(netlab)
    try:
        peer = BirdPeer(peer_ns, asn=PEER_ASN, router_id="10.1.0.254")
        peer.add_neighbor(
            "s1",
            "10.0.0.100",
            LOCAL_ASN,
            local_address="10.1.0.254",
            passive=True,
            options=(BIRD_GTSM, "multihop 2"),
        )
        peer.start()
        config = session_config(
            peer="10.1.0.254", local="10.0.0.100", ttl=hops, ttl_security=True, **FAST_TIMERS
        )
        before = netstat(bgpd_ns, "TCPMinTTLDrop")
        host.call(host.speaker.add_session(config, node_routes(1)))
        if hops == 1:
            with pytest.raises(TimeoutError):
                host.wait_status("s1", established, NEVER_UP)
            assert netstat(bgpd_ns, "TCPMinTTLDrop") > before
        else:
            status = host.wait_status("s1", established, 15)
            assert (status.security["ttl"], status.security["minTtl"]) == (255, 254)
            peer.wait_established("s1", timeout=5)
    finally:
        host.close()


# -- max-prefix ----------------------------------------------------------------------------------


def test_bird_reads_our_cease_6_1(topo: Topology) -> None:
    peer = BirdPeer(topo.peer_ns, asn=PEER_ASN, router_id=PEER_V4)
    peer.add_neighbor("s1", FLOATING_1, LOCAL_ASN, local_address=PEER_V4, passive=True)
    for i in range(6):
        peer.add_static(f"192.0.2.{i * 16}/28")
    peer.start()
    host = topo.host
    config = session_config(max_prefixes=5, max_prefixes_restart=0, **FAST_TIMERS)
    host.call(host.speaker.add_session(config, node_routes(1)))
    status = host.wait_status("s1", lambda s: s.prefix_limit.get("state") == "over-limit", 20)
    assert status.last_sent is not None and (status.last_sent.code, status.last_sent.subcode) == (6, 1)
    last = wait_for(lambda: peer.protocol("s1").get("Last error") or None, 10, "BIRD's last error")
    assert "Maximum number of prefixes reached" in last
    assert status.fsm_state == "Idle" and status.prefix_limit["restart"] == "bgpctl reset"


def test_gobgp_reads_our_cease_6_1(topo: Topology) -> None:
    peer = gobgp(topo)
    host = topo.host
    config = session_config(max_prefixes=3, max_prefixes_warning=50, max_prefixes_restart=1, **FAST_TIMERS)
    host.call(host.speaker.add_session(config, node_routes(1)))
    host.wait_status("s1", established, 15)
    for i in range(4):
        peer.announce(f"192.0.2.{i * 16}/28", PEER_V4)
    status = host.wait_status("s1", lambda s: s.counters["prefixLimitStops"] == 1, 15)
    assert status.counters["prefixLimitWarnings"] >= 1
    wait_for(lambda: "maximum number of prefixes reached" in peer.log_text().lower(), 10, "GoBGP's log")
    # The hold-down (1 s) ends, the session comes back, and trips again on the same routes.
    host.wait_status("s1", lambda s: s.counters["prefixLimitStops"] == 2, 20)
