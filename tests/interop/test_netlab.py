"""The interop harness itself: GoBGP and BIRD in two namespaces on one segment hold an eBGP session
with IPv4 and IPv6 unicast, routes flow with the expected next hops, and teardown leaves nothing."""

from __future__ import annotations

import ipaddress
import itertools
import os
import signal
import socket
import stat
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.interop.netlab import (
    BirdPeer,
    GoBgpPeer,
    NetLab,
    NetLabError,
    lab_namespaces,
    parse_bird_routes,
    wait_for,
)
from tools import capture_vectors as capture

GOBGP_V4, BIRD_V4 = "10.0.0.1", "10.0.0.2"
GOBGP_V6, BIRD_V6 = "fd00::1", "fd00::2"
NODE_V4, NODE_V6 = "10.0.0.5", "fd00::5"  # third-party next hops on the shared segment


def _pair(lab: NetLab) -> tuple[GoBgpPeer, BirdPeer]:
    segment = lab.segment()
    gobgp_ns, bird_ns = lab.namespace(), lab.namespace()
    lab.attach(gobgp_ns, segment, [f"{GOBGP_V4}/24", f"{GOBGP_V6}/64"])
    lab.attach(bird_ns, segment, [f"{BIRD_V4}/24", f"{BIRD_V6}/64"])
    gobgp = GoBgpPeer(gobgp_ns, asn=65001, router_id=GOBGP_V4)
    gobgp.add_neighbor(BIRD_V4, 65002, local_address=GOBGP_V4)
    bird = BirdPeer(bird_ns, asn=65002, router_id=BIRD_V4)
    bird.add_neighbor("gobgp", GOBGP_V4, 65001, local_address=BIRD_V4)
    bird.add_static("192.0.2.0/24")
    bird.add_static("2001:db8:ff::/48")
    gobgp.start()
    bird.start()
    return gobgp, bird


@pytest.mark.interop
def test_gobgp_and_bird_exchange_routes(netlab: NetLab) -> None:
    gobgp, bird = _pair(netlab)
    gobgp.wait_established(BIRD_V4, timeout=30)
    bird.wait_established("gobgp", timeout=10)
    families = {
        (f["config"]["family"]["afi"], f["config"]["family"]["safi"])
        for f in gobgp.neighbor(BIRD_V4)["afi_safis"]
        if f["state"].get("enabled")
    }
    assert families == {(1, 1), (2, 1)}

    gobgp.announce("10.20.0.0/24", NODE_V4)
    gobgp.announce("2001:db8:20::/64", NODE_V6)
    wait_for(lambda: "10.20.0.0/24" in bird.next_hops("master4", "gobgp"), 10, "IPv4 route at BIRD")
    wait_for(lambda: "2001:db8:20::/64" in bird.next_hops("master6", "gobgp"), 10, "IPv6 route at BIRD")
    assert bird.next_hops("master4", "gobgp") == {"10.20.0.0/24": NODE_V4}
    assert bird.next_hops("master6", "gobgp") == {"2001:db8:20::/64": NODE_V6}
    route = bird.routes("master4")["10.20.0.0/24"][0]
    assert route.attributes["BGP.as_path"] == "65001"

    # BIRD's static routes reach GoBGP with BIRD's own addresses as next hops.
    def adj_in_next_hop(family: str, prefix: str) -> str | None:
        paths = gobgp.adj_in(BIRD_V4, family).get(prefix)
        if not paths:
            return None
        attrs = paths[0]["attrs"]
        hops = [a.get("nexthop") for a in attrs if a["type"] == 3] + [  # NEXT_HOP
            a["nexthop"]
            for a in attrs
            if a["type"] == 14  # MP_REACH_NLRI
        ]
        return str(hops[0])

    assert wait_for(lambda: adj_in_next_hop("ipv4", "192.0.2.0/24"), 10, "BIRD route at GoBGP") == BIRD_V4
    assert wait_for(lambda: adj_in_next_hop("ipv6", "2001:db8:ff::/48"), 10, "v6 at GoBGP") == BIRD_V6

    gobgp.withdraw("10.20.0.0/24")
    wait_for(lambda: "10.20.0.0/24" not in bird.next_hops("master4", "gobgp"), 10, "withdrawal at BIRD")
    assert bird.next_hops("master6", "gobgp") == {"2001:db8:20::/64": NODE_V6}

    gobgp.disable(BIRD_V4, "maintenance window 42")
    error = wait_for(lambda: bird.protocol("gobgp").get("Last error"), 10, "BIRD to record the Cease")
    assert error == "Received: Administrative shutdown"
    wait_for(lambda: 'shutdown: "maintenance window 42"' in bird.log_text(), 5, "the text in BIRD's log")


@pytest.mark.interop
def test_teardown_kills_processes_and_deletes_namespaces() -> None:
    lab = NetLab()
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="test failed half-way"), lab:
        gobgp, bird = _pair(lab)
        assert gobgp.process is not None and bird.process is not None
        pids = [gobgp.process.pid, bird.process.pid]
        names = [ns.name for ns in lab.namespaces]
        assert set(names) <= set(lab_namespaces())
        raise RuntimeError("test failed half-way")
    assert len(pids) == 2
    assert not [name for name in lab_namespaces() if name in names]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not lab.run_dir.exists()


def _running(pid: int) -> bool:
    """Alive and not a zombie (a reparented orphan may wait for its reaper a little)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.interop
def test_teardown_kills_processes_that_escaped_their_group() -> None:
    lab = NetLab()
    ns = lab.namespace()
    pidfile = lab.run_dir / "escaped.pid"
    ns.spawn("shell", ["sh", "-c", f"setsid sleep 60 & echo $! > {pidfile}; wait"])
    written = wait_for(lambda: (pidfile.read_text().strip() or None) if pidfile.exists() else None, 10, "pid")
    escaped = int(written)
    assert _running(escaped)
    lab.close()
    assert wait_for(lambda: not _running(escaped), 5, "the escaped process to die")


@pytest.mark.interop
def test_stop_signals_only_the_tracked_process(netlab: NetLab) -> None:
    ns = netlab.namespace()
    proc = ns.spawn("sleeper", ["sleep", "60"])
    other = ns.spawn("other", ["sleep", "60"])
    netlab.stop(proc, signal.SIGTERM, timeout=5)
    assert proc.popen.returncode == -signal.SIGTERM
    assert other.alive()


@pytest.mark.interop
def test_gobgp_restarts_after_kill_9_left_its_api_socket_behind(netlab: NetLab) -> None:
    ns = netlab.namespace()
    peer = GoBgpPeer(ns, asn=65001, router_id="10.0.0.1")
    peer.start()
    with pytest.raises(NetLabError, match="running already"):
        peer.start()
    peer.kill()
    assert stat.S_ISSOCK(peer.socket.lstat().st_mode)  # the stale file that used to block a restart
    peer.start()
    assert peer.process is not None and peer.process.alive()
    assert peer.cli("global", check=False) is not None
    peer.stop()


@pytest.mark.interop
def test_gobgp_start_leaves_a_live_socket_and_other_files_alone(netlab: NetLab) -> None:
    ns = netlab.namespace()
    peer = GoBgpPeer(ns, asn=65001, router_id="10.0.0.1")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(str(peer.socket))
        live.listen()
        with pytest.raises(NetLabError, match="another process serves"):
            peer.start()
        assert peer.socket.exists() and peer.process is None
    peer.socket.unlink()
    peer.socket.write_text("not a socket")
    with pytest.raises(NetLabError, match="is not a socket"):
        peer.start()
    assert peer.socket.read_text() == "not a socket"


@pytest.mark.interop
def test_lab_refuses_socket_paths_that_do_not_fit(netlab: NetLab) -> None:
    assert len(os.fsencode(netlab.path("gobgp.sock"))) < 108
    with pytest.raises(NetLabError, match="too long"):
        netlab.path("x" * 120)


BIRD_ROUTES = """\
Table master6:
2001:db8:20::/64     unicast [gobgp 22:01:20.246 from fd00::1] * (100) [AS65001?]
\tvia fd00::5 on eth0
\tType: BGP univ
\tBGP.origin: Incomplete
\tBGP.as_path: 65001
\tBGP.next_hop: fd00::5 fe80::3c7f:6bff:fe88:c5fd
\tBGP.local_pref: 100
                     unicast [other 22:01:21.000 from fd00::9] (100) [AS65009i]
\tvia fd00::9 on eth0
\tType: BGP univ
\tBGP.next_hop: fd00::9
2001:db8:ff::/48     blackhole [static6 22:01:15.508] * (200)
\tType: static univ
"""


def test_parse_bird_routes_keeps_every_route_and_both_next_hops() -> None:
    routes = parse_bird_routes(BIRD_ROUTES)
    assert list(routes) == ["2001:db8:20::/64", "2001:db8:ff::/48"]
    best, other = routes["2001:db8:20::/64"]
    assert (best.protocol, best.best, best.next_hop) == ("gobgp", True, "fd00::5")
    assert best.next_hops == ("fd00::5", "fe80::3c7f:6bff:fe88:c5fd")
    assert best.attributes["BGP.as_path"] == "65001"
    assert (other.protocol, other.best, other.next_hop) == ("other", False, "fd00::9")
    static = routes["2001:db8:ff::/48"][0]
    assert (static.protocol, static.next_hop, static.best) == ("static6", "", True)


Ends = tuple[str, int, str, int]  # source address, source port, destination address, destination port


def _tcp(ends: Ends, seq: int, flags: int, payload: bytes) -> bytes:
    return (
        struct.pack("!HHIIBBHHH", ends[1], ends[3], seq % (1 << 32), 0, 5 << 4, flags, 65535, 0, 0) + payload
    )


def _frame_v4(ends: Ends, seq: int, flags: int, payload: bytes) -> bytes:
    tcp = _tcp(ends, seq, flags, payload)
    total = 20 + len(tcp)
    addrs = ipaddress.IPv4Address(ends[0]).packed + ipaddress.IPv4Address(ends[2]).packed
    ip = struct.pack("!BBHHHBBH", 0x45, 0, total, 0, 0, 64, 6, 0) + addrs
    padding = b"\x00" * max(0, 46 - total)  # Ethernet pads short frames; the IP length excludes it
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp + padding


def _frame_v6(ends: Ends, seq: int, flags: int, payload: bytes) -> bytes:
    tcp = _tcp(ends, seq, flags, payload)
    addrs = ipaddress.IPv6Address(ends[0]).packed + ipaddress.IPv6Address(ends[2]).packed
    ip = struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + addrs
    return b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + ip + tcp


def _pcap(frames: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, frame in enumerate(frames):
        out += struct.pack("<IIII", 1000 + i, 0, len(frame), len(frame)) + frame
    return out


KEEPALIVE = b"\xff" * 16 + b"\x00\x13\x04"
ROUTE_REFRESH = b"\xff" * 16 + b"\x00\x17\x05\x00\x01\x00\x01"
SYN, SYN_ACK, PSH_ACK = 0x02, 0x12, 0x18


@pytest.mark.parametrize("frame", [_frame_v4, _frame_v6], ids=["ipv4", "ipv6"])
def test_capture_reassembles_out_of_order_and_retransmitted_segments(frame: Callable[..., bytes]) -> None:
    """tools/capture_vectors.py's stdlib pcap path: segments arrive out of order, one is sent twice,
    messages straddle segments, sequence numbers wrap; each direction yields its exact messages."""
    a, b = ("10.0.0.1", "10.0.0.2") if frame is _frame_v4 else ("fd00::1", "fd00::2")
    out, back = (a, 40000, b, 179), (b, 179, a, 40000)
    stream = KEEPALIVE + ROUTE_REFRESH + KEEPALIVE
    isn = 0xFFFFFFF0
    cuts = [0, 10, 30, 61]
    first, second, third = ((isn + 1 + lo, stream[lo:hi]) for lo, hi in itertools.pairwise(cuts))
    frames = [
        frame(out, isn, SYN, b""),
        frame(out, *second[:1], PSH_ACK, second[1]),
        frame(out, *first[:1], PSH_ACK, first[1]),
        frame(out, *second[:1], PSH_ACK, second[1]),  # retransmission
        frame(back, 77, SYN_ACK, b""),
        frame(back, 78, PSH_ACK, KEEPALIVE[:7]),
        frame(out, *third[:1], PSH_ACK, third[1]),
    ]
    streams = capture.reassemble(capture.read_pcap(_pcap(frames)))
    assert [(s.src, s.dst) for s in streams] == [((a, 40000), (b, 179)), ((b, 179), (a, 40000))]
    assert streams[0].data == stream
    assert capture.split_messages(streams[0].data) == [KEEPALIVE, ROUTE_REFRESH, KEEPALIVE]
    assert capture.split_messages(streams[1].data) == []  # a partial message is left out


def test_capture_hand_decoder_reads_a_known_update() -> None:
    """The vectors' independent decoder on a message written out byte by byte from RFC 4271 §4.3."""
    body = bytes.fromhex(
        "0000"  # no withdrawn routes
        "0014"  # 20 octets of attributes
        "400101"
        "00"  # ORIGIN IGP
        "400206"
        "0201"
        "0000fde9"  # AS_PATH: AS_SEQUENCE [65001]
        "400304"
        "0a000005"  # NEXT_HOP 10.0.0.5
        "18"
        "0a1400"  # NLRI 10.20.0.0/24
    )
    msg = b"\xff" * 16 + (19 + len(body)).to_bytes(2, "big") + b"\x02" + body
    assert capture.hand_decode(msg) == {
        "type": "UPDATE",
        "length": 47,  # 19 header + 2 + 2 + 20 attributes + 4 NLRI
        "withdrawn": [],
        "nlri": ["10.20.0.0/24"],
        "attributes": {
            "origin": "igp",
            "asPath": [{"type": "AS_SEQUENCE", "asns": [65001]}],
            "nextHop": "10.0.0.5",
        },
    }
