#!/usr/bin/env python3
"""Capture real BGP messages between GoBGP and BIRD and write them as golden decoder vectors.

Why: the codec must match what real routers put on the wire, so its golden vectors are bytes those
routers sent, not bytes we encoded ourselves. This tool runs GoBGP 3.10 and BIRD 2.0.12 in network
namespaces (tests/interop/netlab.py), drives a session through OPEN, KEEPALIVE, IPv4 and IPv6
announcements and withdrawals, End-of-RIB, ROUTE-REFRESH and both sides' administrative shutdown
with an RFC 9003 text, records it with tcpdump, reassembles each TCP direction from the pcap
(stdlib only) and cuts the streams into messages.

The "expected" field of each vector is NOT produced by bgpd's decoder (a vector would then prove
nothing). It comes from a small independent decoder written here from the RFCs, and every field that
matters is cross-checked against facts the scenario fixed (prefixes, next hops, MED, communities,
ASNs, texts) and against what the peers themselves report (``gobgp -j neighbor``, BIRD's
``show protocols all`` / ``show route all``). Any disagreement aborts without writing.

Run as root from the repository root:  python tools/capture_vectors.py
Writes tests/wire/vectors/*.json and config/captures/gobgp-session.hex.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.interop.netlab import BirdPeer, GoBgpPeer, GracefulRestart, NetLab, Process, wait_for  # noqa: E402

SOURCE_GOBGP = "gobgp 3.10.0 -> bird 2.0.12"
SOURCE_BIRD = "bird 2.0.12 -> gobgp 3.10.0"
GOBGP_V4, BIRD_V4, GOBGP_V6, BIRD_V6 = "10.0.0.1", "10.0.0.2", "fd00::1", "fd00::2"
GOBGP_AS, BIRD_AS = 65001, 65002
NODE_V4, NODE_V6 = "10.0.0.5", "fd00::5"
GOBGP_PREFIX4, GOBGP_PREFIX6 = "10.20.0.0/24", "2001:db8:20::/64"
BIRD_PREFIX4, BIRD_PREFIX6 = "192.0.2.0/24", "2001:db8:ff::/48"
MED, COMMUNITIES, LARGE_COMMUNITIES = 10, ("65001:100", "65001:200"), ("65001:1:2",)
GOBGP_SHUTDOWN, BIRD_SHUTDOWN = "maintenance window 42", "bird going down"
CONTEXT = {"fourOctetAs": True, "addPath": []}  # both peers announce 4-octet AS, neither ADD-PATH
WAIT = 30.0

# --------------------------------------------------------------------------------------------------
# pcap reading and TCP reassembly (stdlib only)


@dataclass
class Segment:
    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    syn: bool
    payload: bytes


def read_pcap(data: bytes) -> Iterator[Segment]:
    """TCP segments of a classic pcap file (Ethernet link type; IPv4 or IPv6; tcpdump -w)."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError("not a pcap file (pcapng is not supported; tcpdump -w writes pcap)")
    nanos = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    (linktype,) = struct.unpack(endian + "I", data[20:24])
    if linktype != 1:  # LINKTYPE_ETHERNET
        raise ValueError(f"unsupported pcap link type {linktype}")
    pos = 24
    record = struct.Struct(endian + "IIII")
    while pos + record.size <= len(data):
        sec, frac, incl, _orig = record.unpack_from(data, pos)
        pos += record.size
        frame = data[pos : pos + incl]
        pos += incl
        if len(frame) < incl:
            break  # the capture was cut mid-record
        segment = _tcp_segment(frame, sec + frac / (1e9 if nanos else 1e6))
        if segment is not None:
            yield segment


def _tcp_segment(frame: bytes, when: float) -> Segment | None:
    ethertype, offset = struct.unpack_from("!H", frame, 12)[0], 14
    while ethertype in (0x8100, 0x88A8):  # VLAN tags
        ethertype, offset = struct.unpack_from("!H", frame, offset + 2)[0], offset + 4
    if ethertype == 0x0800:
        ihl = (frame[offset] & 0x0F) * 4
        total = struct.unpack_from("!H", frame, offset + 2)[0]
        if frame[offset + 9] != 6:
            return None
        src = str(ipaddress.IPv4Address(frame[offset + 12 : offset + 16]))
        dst = str(ipaddress.IPv4Address(frame[offset + 16 : offset + 20]))
        tcp, end = offset + ihl, offset + total  # total length drops Ethernet padding
    elif ethertype == 0x86DD:
        if frame[offset + 6] != 6:  # no extension headers on these sessions
            return None
        length = struct.unpack_from("!H", frame, offset + 4)[0]
        src = str(ipaddress.IPv6Address(frame[offset + 8 : offset + 24]))
        dst = str(ipaddress.IPv6Address(frame[offset + 24 : offset + 40]))
        tcp, end = offset + 40, offset + 40 + length
    else:
        return None
    sport, dport, seq = struct.unpack_from("!HHI", frame, tcp)
    data_offset = (frame[tcp + 12] >> 4) * 4
    flags = frame[tcp + 13]
    return Segment(when, (src, sport), (dst, dport), seq, bool(flags & 0x02), frame[tcp + data_offset : end])


@dataclass
class Stream:
    """One direction of one TCP connection, reassembled in sequence order."""

    src: tuple[str, int]
    dst: tuple[str, int]
    start: float
    data: bytes


def reassemble(segments: Iterator[Segment]) -> list[Stream]:
    """Byte streams per direction; retransmissions collapse; stops at the first gap."""
    isn: dict[tuple[Any, Any], int] = {}
    start: dict[tuple[Any, Any], float] = {}
    pieces: dict[tuple[Any, Any], dict[int, bytes]] = {}
    for seg in segments:
        key = (seg.src, seg.dst)
        if seg.syn:
            isn[key] = seg.seq
            start[key] = seg.time
            pieces[key] = {}
            continue
        if key not in isn or not seg.payload:
            continue
        offset = (seg.seq - isn[key] - 1) % (1 << 32)
        known = pieces[key].get(offset)
        if known is None or len(seg.payload) > len(known):
            pieces[key][offset] = seg.payload
    streams = []
    for key, parts in pieces.items():
        out = bytearray()
        for offset in sorted(parts):
            if offset > len(out):
                break
            out += parts[offset][len(out) - offset :]
        streams.append(Stream(key[0], key[1], start[key], bytes(out)))
    return sorted(streams, key=lambda s: s.start)


def split_messages(stream: bytes) -> list[bytes]:
    """Whole BGP messages (header included); a trailing partial message is left out."""
    messages, pos = [], 0
    while pos + 19 <= len(stream):
        if stream[pos : pos + 16] != b"\xff" * 16:
            raise ValueError(f"lost BGP framing at stream offset {pos}")
        length = struct.unpack_from("!H", stream, pos + 16)[0]
        if length < 19 or pos + length > len(stream):
            break
        messages.append(stream[pos : pos + length])
        pos += length
    return messages


# --------------------------------------------------------------------------------------------------
# An independent decoder, written from the RFCs for these vectors only, in `bgpd decode`'s JSON shape.

AFI = {1: "ipv4", 2: "ipv6"}
SAFI = {1: "unicast", 2: "multicast"}
ORIGIN = {0: "igp", 1: "egp", 2: "incomplete"}
SEGMENT = {1: "AS_SET", 2: "AS_SEQUENCE", 3: "AS_CONFED_SEQUENCE", 4: "AS_CONFED_SET"}
TYPES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}
ADD_PATH_MODE = {1: "receive", 2: "send", 3: "both"}


def _afi(code: int) -> str | int:
    return AFI.get(code, code)


def _safi(code: int) -> str | int:
    return SAFI.get(code, code)


def hand_decode(msg: bytes) -> dict[str, Any]:
    length, kind = struct.unpack_from("!HB", msg, 16)
    body = msg[19:length]
    out: dict[str, Any] = {"type": TYPES[kind], "length": length}
    if kind == 1:
        out.update(_open(body))
    elif kind == 2:
        out.update(_update(body))
    elif kind == 3:
        code, subcode = body[0], body[1]
        out.update({"code": code, "subcode": subcode, "data": body[2:].hex()})
        if code == 6 and subcode in (2, 4) and body[2:]:  # RFC 9003 §2: length octet + UTF-8
            out["message"] = body[3 : 3 + body[2]].decode("utf-8")
    elif kind == 5:
        afi, subtype, safi = struct.unpack("!HBB", body)
        out.update({"afi": _afi(afi), "safi": _safi(safi), "subtype": ("normal", "borr", "eorr")[subtype]})
    return out


def _open(body: bytes) -> dict[str, Any]:
    version, my_as, hold, bgp_id, opt_len = struct.unpack_from("!BHH4sB", body)
    params, caps = body[10 : 10 + opt_len], []
    pos = 0
    while pos < len(params):
        ptype, plen = params[pos], params[pos + 1]
        value, pos = params[pos + 2 : pos + 2 + plen], pos + 2 + plen
        assert ptype == 2, "only capability parameters expected from these peers"
        cpos = 0
        while cpos < len(value):
            code, clen = value[cpos], value[cpos + 1]
            caps.append(_capability(code, value[cpos + 2 : cpos + 2 + clen]))
            cpos += 2 + clen
    real_as = next((c["asn"] for c in caps if c["code"] == 65), my_as)
    return {
        "version": version,
        "myAsn": real_as,
        "holdTime": hold,
        "bgpId": str(ipaddress.IPv4Address(bgp_id)),
        "capabilities": caps,
    }


def _capability(code: int, value: bytes) -> dict[str, Any]:
    def fam(pos: int) -> dict[str, Any]:
        afi, safi = struct.unpack_from("!HB", value, pos)
        return {"afi": _afi(afi), "safi": _safi(safi)}

    if code == 1:
        return {"code": 1, "name": "multiprotocol", **fam(0) | {"safi": _safi(value[3])}}
    simple = {2: "route-refresh", 6: "extended-message", 70: "enhanced-route-refresh"}
    if code in simple and not value:
        return {"code": code, "name": simple[code]}
    if code == 5:
        entries = [struct.unpack_from("!HHH", value, i) for i in range(0, len(value), 6)]
        return {
            "code": 5,
            "name": "extended-next-hop",
            "entries": [{"afi": _afi(a), "safi": _safi(s), "nextHopAfi": _afi(n)} for a, s, n in entries],
        }
    if code == 64:
        flags_time = struct.unpack_from("!H", value)[0]
        families = []
        for i in range(2, len(value), 4):
            afi, safi, fflags = struct.unpack_from("!HBB", value, i)
            families.append({"afi": _afi(afi), "safi": _safi(safi), "forwardingState": bool(fflags & 0x80)})
        return {
            "code": 64,
            "name": "graceful-restart",
            "restartState": bool(flags_time & 0x8000),
            "notification": bool(flags_time & 0x4000),
            "restartTime": flags_time & 0x0FFF,
            "families": families,
        }
    if code == 65:
        return {"code": 65, "name": "four-octet-as", "asn": struct.unpack("!I", value)[0]}
    if code == 69:
        return {
            "code": 69,
            "name": "add-path",
            "families": [{**fam(i), "mode": ADD_PATH_MODE[value[i + 3]]} for i in range(0, len(value), 4)],
        }
    if code == 73:
        host_len = value[0]
        return {
            "code": 73,
            "name": "fqdn",
            "hostname": value[1 : 1 + host_len].decode(),
            "domain": value[2 + host_len : 2 + host_len + value[1 + host_len]].decode(),
        }
    return {"code": code, "name": "unknown", "hex": value.hex()}


def _prefixes(data: bytes, afi: int) -> list[str]:
    width, out, pos = (4 if afi == 1 else 16), [], 0
    while pos < len(data):
        bits = data[pos]
        octets = (bits + 7) // 8
        raw = data[pos + 1 : pos + 1 + octets] + bytes(width - octets)
        pos += 1 + octets
        out.append(str(ipaddress.ip_network((raw, bits))))
    return out


def _update(body: bytes) -> dict[str, Any]:
    wlen = struct.unpack_from("!H", body)[0]
    withdrawn = _prefixes(body[2 : 2 + wlen], 1)
    alen = struct.unpack_from("!H", body, 2 + wlen)[0]
    attr_bytes = body[4 + wlen : 4 + wlen + alen]
    nlri = _prefixes(body[4 + wlen + alen :], 1)
    attrs: dict[str, Any] = {}
    pos = 0
    while pos < len(attr_bytes):
        flags, code = attr_bytes[pos], attr_bytes[pos + 1]
        if flags & 0x10:
            alen_, head = struct.unpack_from("!H", attr_bytes, pos + 2)[0], 4
        else:
            alen_, head = attr_bytes[pos + 2], 3
        value = attr_bytes[pos + head : pos + head + alen_]
        pos += head + alen_
        _attribute(attrs, flags, code, value)
    out: dict[str, Any] = {"withdrawn": withdrawn, "nlri": nlri, "attributes": attrs}
    if not withdrawn and not nlri and not attrs:
        out["endOfRib"] = "ipv4-unicast"  # RFC 4724 §2
    unreach = attrs.get("mpUnreachNlri")
    if len(attrs) == 1 and unreach is not None and not unreach["withdrawn"] and not withdrawn and not nlri:
        out["endOfRib"] = f"{unreach['afi']}-{unreach['safi']}"
    return out


def _attribute(attrs: dict[str, Any], flags: int, code: int, value: bytes) -> None:
    if code == 1:
        attrs["origin"] = ORIGIN[value[0]]
    elif code == 2:
        segments, pos = [], 0
        while pos < len(value):
            stype, count = value[pos], value[pos + 1]
            asns = list(struct.unpack_from(f"!{count}I", value, pos + 2))
            segments.append({"type": SEGMENT[stype], "asns": asns})
            pos += 2 + 4 * count
        attrs["asPath"] = segments
    elif code == 3:
        attrs["nextHop"] = str(ipaddress.IPv4Address(value))
    elif code == 4:
        attrs["med"] = struct.unpack("!I", value)[0]
    elif code == 5:
        attrs["localPref"] = struct.unpack("!I", value)[0]
    elif code == 8:
        attrs["communities"] = [
            f"{v >> 16}:{v & 0xFFFF}" for v in struct.unpack(f"!{len(value) // 4}I", value)
        ]
    elif code == 14:
        afi, safi, nh_len = struct.unpack_from("!HBB", value)
        nh = value[4 : 4 + nh_len]
        hops = [
            str(ipaddress.ip_address(nh[i : i + 16] if nh_len % 16 == 0 else nh))
            for i in range(0, nh_len, 16)
        ]
        attrs["mpReachNlri"] = {
            "afi": _afi(afi),
            "safi": _safi(safi),
            "nextHops": hops,
            "nlri": _prefixes(value[5 + nh_len :], afi),  # one reserved octet after the next hop
        }
    elif code == 15:
        afi, safi = struct.unpack_from("!HB", value)
        attrs["mpUnreachNlri"] = {
            "afi": _afi(afi),
            "safi": _safi(safi),
            "withdrawn": _prefixes(value[3:], afi),
        }
    elif code == 32:
        triples = struct.unpack(f"!{len(value) // 4}I", value)
        attrs["largeCommunities"] = [
            ":".join(map(str, triples[i : i + 3])) for i in range(0, len(triples), 3)
        ]
    else:
        attrs.setdefault("unknown", []).append({"code": code, "flags": flags, "hex": value.hex()})


NOTIFICATION_NAMES = {(6, 2): ("Cease", "Administrative Shutdown")}  # RFC 4271 §4.5, RFC 4486 §4


def expected_of(msg: bytes) -> dict[str, Any]:
    """The decoded fields for a vector: the hand decoding plus NOTIFICATION names."""
    out = hand_decode(msg)
    if out["type"] == "NOTIFICATION":
        out["codeName"], out["subcodeName"] = NOTIFICATION_NAMES[(out["code"], out["subcode"])]
    return out


# --------------------------------------------------------------------------------------------------
# The scenario


@dataclass
class Captured:
    """Messages per (connection number, sender) in the order each side sent them."""

    messages: dict[tuple[int, str], list[bytes]]

    def of(self, sender: str, connection: int = 1) -> list[bytes]:
        return self.messages.get((connection, sender), [])

    def count(self, sender: str, kind: int, connection: int = 1) -> int:
        return sum(1 for m in self.of(sender, connection) if m[18] == kind)


def read_capture(pcap: Path) -> Captured:
    try:
        data = pcap.read_bytes()
    except FileNotFoundError:
        return Captured({})
    if len(data) < 24:
        return Captured({})
    # Sessions are numbered in order of their first SYN, counting only connections where both sides
    # spoke (GoBGP refuses BIRD's attempts while administratively down; those carry one OPEN at most).
    streams = reassemble(read_pcap(data))
    spoke: dict[tuple[Any, ...], int] = {}
    for stream in streams:
        if stream.data:
            key = tuple(sorted((stream.src, stream.dst)))
            spoke[key] = spoke.get(key, 0) + 1
    streams = [s for s in streams if spoke.get(tuple(sorted((s.src, s.dst)))) == 2]
    connections: dict[tuple[Any, ...], int] = {}
    out: dict[tuple[int, str], list[bytes]] = {}
    for stream in streams:
        sender = "gobgp" if stream.src[0] in (GOBGP_V4, GOBGP_V6) else "bird"
        key = tuple(sorted((stream.src, stream.dst)))
        number = connections.setdefault(key, len(connections) + 1)
        out[(number, sender)] = split_messages(stream.data)
    return Captured(out)


CAP_TYPES = {  # GoBGP API capability type → capability code (for cross-checking OPENs)
    "MultiProtocolCapability": 1,
    "RouteRefreshCapability": 2,
    "ExtendedNexthopCapability": 5,
    "ExtendedMessageCapability": 6,
    "GracefulRestartCapability": 64,
    "FourOctetASNCapability": 65,
    "AddPathCapability": 69,
    "EnhancedRouteRefreshCapability": 70,
    "LongLivedGracefulRestartCapability": 71,
    "FqdnCapability": 73,
}


@dataclass
class PeerFacts:
    """What the peers reported about the session while it was up."""

    gobgp_local_caps: list[int]
    gobgp_remote_caps: list[int]
    bird_ipv6_next_hops: list[str]
    bird_ipv4_next_hop: str
    gobgp_adj_in4: list[dict[str, Any]]  # GoBGP's reading of BIRD's routes (attrs of the path)
    gobgp_adj_in6: list[dict[str, Any]]
    bird_link_local: str  # BIRD's eth0 fe80:: address, as the kernel reports it


def run_scenario(lab: NetLab, pcap: Path) -> tuple[Captured, PeerFacts]:
    segment = lab.segment()
    gobgp_ns, bird_ns = lab.namespace(), lab.namespace()
    lab.attach(gobgp_ns, segment, [f"{GOBGP_V4}/24", f"{GOBGP_V6}/64"])
    lab.attach(bird_ns, segment, [f"{BIRD_V4}/24", f"{BIRD_V6}/64"])
    dump = gobgp_ns.spawn(
        "tcpdump", ["tcpdump", "-i", "eth0", "-U", "-s", "0", "-Z", "root", "-w", str(pcap)]
    )
    wait_for(lambda: "listening on" in dump.log(), 10, "tcpdump to start")

    gobgp = GoBgpPeer(gobgp_ns, asn=GOBGP_AS, router_id=GOBGP_V4)
    gobgp.add_neighbor(BIRD_V4, BIRD_AS, local_address=GOBGP_V4, graceful_restart=GracefulRestart())
    bird = BirdPeer(bird_ns, asn=BIRD_AS, router_id=BIRD_V4)
    bird.add_neighbor("gobgp", GOBGP_V4, GOBGP_AS, local_address=BIRD_V4)
    bird.add_static(BIRD_PREFIX4)
    bird.add_static(BIRD_PREFIX6)
    gobgp.start()
    bird.start()
    gobgp.wait_established(BIRD_V4, WAIT)
    bird.wait_established("gobgp", WAIT)

    def wait_msgs(sender: str, kind: int, count: int, what: str, connection: int = 1) -> None:
        """Wait until the capture holds ``count`` messages of ``kind`` (tcpdump -U writes per packet)."""
        wait_for(lambda: read_capture(pcap).count(sender, kind, connection) >= count, WAIT, what)

    # Initial exchange: each side's routes and both End-of-RIB markers (2 UPDATE kinds each).
    wait_msgs("bird", 2, 4, "BIRD's initial UPDATEs and End-of-RIBs")
    wait_msgs("gobgp", 2, 2, "GoBGP's End-of-RIBs")
    wait_for(lambda: gobgp.adj_in(BIRD_V4, "ipv6").get(BIRD_PREFIX6), WAIT, "BIRD's IPv6 route at GoBGP")
    neighbor = gobgp.neighbor(BIRD_V4)["state"]
    proto = bird.cli("show", "protocols", "all", "gobgp") or ""
    hops = [line.split(":", 1)[1].split() for line in proto.splitlines() if "BGP Next hop:" in line]
    facts = PeerFacts(
        gobgp_local_caps=[CAP_TYPES[c["type_url"].rsplit(".", 1)[1]] for c in neighbor["local_cap"]],
        gobgp_remote_caps=[CAP_TYPES[c["type_url"].rsplit(".", 1)[1]] for c in neighbor["remote_cap"]],
        bird_ipv4_next_hop=hops[0][0],
        bird_ipv6_next_hops=hops[1],
        gobgp_adj_in4=gobgp.adj_in(BIRD_V4, "ipv4")[BIRD_PREFIX4][0]["attrs"],
        gobgp_adj_in6=gobgp.adj_in(BIRD_V4, "ipv6")[BIRD_PREFIX6][0]["attrs"],
        bird_link_local=bird_ns.link_local("eth0"),
    )

    gobgp.announce(
        GOBGP_PREFIX4,
        NODE_V4,
        origin="igp",
        med=MED,
        communities=COMMUNITIES,
        large_communities=LARGE_COMMUNITIES,
    )
    wait_for(lambda: GOBGP_PREFIX4 in bird.next_hops("master4", "gobgp"), WAIT, "IPv4 route at BIRD")
    gobgp.announce(GOBGP_PREFIX6, NODE_V6)
    wait_for(lambda: GOBGP_PREFIX6 in bird.next_hops("master6", "gobgp"), WAIT, "IPv6 route at BIRD")
    facts_routes = (bird.routes("master4")[GOBGP_PREFIX4][0], bird.routes("master6")[GOBGP_PREFIX6][0])
    check_bird_view(*facts_routes)
    gobgp.withdraw(GOBGP_PREFIX4)
    wait_for(lambda: GOBGP_PREFIX4 not in bird.next_hops("master4", "gobgp"), WAIT, "IPv4 withdrawal")
    gobgp.withdraw(GOBGP_PREFIX6)
    wait_for(lambda: GOBGP_PREFIX6 not in bird.next_hops("master6", "gobgp"), WAIT, "IPv6 withdrawal")

    bird.reload_in("gobgp")
    wait_msgs("bird", 5, 1, "BIRD's ROUTE-REFRESH")

    bird.static_routes.clear()
    bird.configure()
    wait_for(
        lambda: not gobgp.adj_in(BIRD_V4, "ipv4") and not gobgp.adj_in(BIRD_V4, "ipv6"),
        WAIT,
        "BIRD withdrawals",
    )

    gobgp.disable(BIRD_V4, GOBGP_SHUTDOWN)
    wait_msgs("gobgp", 3, 1, "GoBGP's NOTIFICATION")
    gobgp.enable(BIRD_V4)
    gobgp.wait_established(BIRD_V4, WAIT)
    bird.disable("gobgp", BIRD_SHUTDOWN)
    wait_msgs("bird", 3, 1, "BIRD's NOTIFICATION", connection=2)
    stop_capture(lab, dump)
    return read_capture(pcap), facts


def stop_capture(lab: NetLab, dump: Process) -> None:
    lab.stop(dump, signal.SIGINT, timeout=10)  # SIGINT: tcpdump flushes and closes the file


def check_bird_view(route4: Any, route6: Any) -> None:
    """BIRD's own reading of GoBGP's announcements (independent of any decoder of ours)."""
    agree(route4.next_hop, NODE_V4, "BIRD's IPv4 next hop")
    agree(route4.attributes.get("BGP.med"), str(MED), "BIRD's MED")
    agree(
        route4.attributes.get("BGP.community"),
        " ".join(f"({c.replace(':', ',')})" for c in COMMUNITIES),
        "BIRD's communities",
    )
    large = " ".join(f"({c.replace(':', ', ')})" for c in LARGE_COMMUNITIES)
    agree(route4.attributes.get("BGP.large_community"), large, "BIRD's large communities")
    agree(route4.attributes.get("BGP.origin"), "IGP", "BIRD's origin")
    agree(route6.next_hops, (NODE_V6,), "BIRD's IPv6 next hops")


def agree(got: object, want: object, what: str) -> None:
    if got != want:
        raise SystemExit(f"capture_vectors: {what}: captured/reported {got!r}, scenario says {want!r}")


# --------------------------------------------------------------------------------------------------
# Choosing the vectors and checking each against the scenario and the peers' reports


@dataclass
class Vector:
    name: str
    source: str
    description: str
    message: bytes
    connection: int


def pick(
    captured: Captured, sender: str, test: Callable[[dict[str, Any]], bool], what: str, connection: int = 1
) -> bytes:
    for msg in captured.of(sender, connection):
        if test(hand_decode(msg)):
            return msg
    raise SystemExit(f"capture_vectors: no {what} from {sender} in connection {connection}")


def gobgp_attr(attrs: list[dict[str, Any]], code: int) -> dict[str, Any]:
    return next(a for a in attrs if a["type"] == code)


def choose(captured: Captured, facts: PeerFacts) -> list[Vector]:
    vectors: list[Vector] = []

    def add(name: str, sender: str, description: str, msg: bytes, connection: int = 1) -> dict[str, Any]:
        source = SOURCE_GOBGP if sender == "gobgp" else SOURCE_BIRD
        vectors.append(Vector(name, source, description, msg, connection))
        return hand_decode(msg)

    def is_update(pred: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool]:
        return lambda d: d["type"] == "UPDATE" and pred(d)

    # OPENs: ASN, identifier, hold time, and the capability codes GoBGP reports for each side (its
    # list order is not the wire order, so compare as multisets).
    d = add(
        "open-gobgp", "gobgp", "GoBGP's OPEN", pick(captured, "gobgp", lambda d: d["type"] == "OPEN", "OPEN")
    )
    agree((d["myAsn"], d["bgpId"], d["holdTime"]), (GOBGP_AS, GOBGP_V4, 90), "GoBGP OPEN header")
    agree(
        sorted(c["code"] for c in d["capabilities"]),
        sorted(facts.gobgp_local_caps),
        "GoBGP's capabilities (gobgp local_cap)",
    )
    d = add("open-bird", "bird", "BIRD's OPEN", pick(captured, "bird", lambda d: d["type"] == "OPEN", "OPEN"))
    agree((d["myAsn"], d["bgpId"], d["holdTime"]), (BIRD_AS, BIRD_V4, 240), "BIRD OPEN header")
    agree(
        sorted(c["code"] for c in d["capabilities"]),
        sorted(facts.gobgp_remote_caps),
        "BIRD's capabilities (gobgp remote_cap)",
    )
    for who in ("gobgp", "bird"):
        add(
            f"keepalive-{who}",
            who,
            "KEEPALIVE",
            pick(captured, who, lambda d: d["type"] == "KEEPALIVE", "KEEPALIVE"),
        )

    # BIRD's routes, as GoBGP reported them in its adj-in.
    d = add(
        "update-bird-ipv4",
        "bird",
        "BIRD announces a static IPv4 route (next hop self, AS_PATH of its own AS)",
        pick(captured, "bird", is_update(lambda d: d["nlri"] == [BIRD_PREFIX4]), "IPv4 UPDATE"),
    )
    attrs4 = facts.gobgp_adj_in4
    agree(d["attributes"]["nextHop"], gobgp_attr(attrs4, 3)["nexthop"], "BIRD IPv4 next hop (gobgp adj-in)")
    agree(d["attributes"]["nextHop"], facts.bird_ipv4_next_hop, "BIRD IPv4 next hop (birdc)")
    agree(d["attributes"]["origin"], ORIGIN[gobgp_attr(attrs4, 1)["value"]], "BIRD origin (gobgp adj-in)")
    path = [
        {"type": SEGMENT[s["segment_type"]], "asns": s["asns"]} for s in gobgp_attr(attrs4, 2)["as_paths"]
    ]
    agree(d["attributes"]["asPath"], path, "BIRD AS_PATH (gobgp adj-in)")
    d = add(
        "update-bird-ipv6-link-local",
        "bird",
        "BIRD announces an IPv6 route in MP_REACH_NLRI with global and link-local next hops (RFC 2545)",
        pick(captured, "bird", is_update(lambda d: "mpReachNlri" in d["attributes"]), "MP_REACH UPDATE"),
    )
    reach = d["attributes"]["mpReachNlri"]
    agree(reach["nlri"], [BIRD_PREFIX6], "BIRD IPv6 NLRI")
    agree(reach["nextHops"], facts.bird_ipv6_next_hops, "BIRD IPv6 next hops (birdc 'BGP Next hop')")
    global_hop = gobgp_attr(facts.gobgp_adj_in6, 14)["nexthop"]  # GoBGP's JSON omits the link-local
    agree(reach["nextHops"][0], global_hop, "BIRD IPv6 next hop (gobgp adj-in)")
    agree(reach["nextHops"][1:], [facts.bird_link_local], "BIRD link-local next hop (ip address show)")

    for who in ("gobgp", "bird"):
        add(
            f"end-of-rib-ipv4-{who}",
            who,
            "End-of-RIB for IPv4 unicast: an UPDATE with nothing in it (RFC 4724 §2)",
            pick(captured, who, is_update(lambda d: d.get("endOfRib") == "ipv4-unicast"), "IPv4 End-of-RIB"),
        )
        add(
            f"end-of-rib-ipv6-{who}",
            who,
            "End-of-RIB for IPv6 unicast: an empty MP_UNREACH_NLRI (RFC 4724 §2)",
            pick(captured, who, is_update(lambda d: d.get("endOfRib") == "ipv6-unicast"), "IPv6 End-of-RIB"),
        )

    # GoBGP's announcements, as the scenario made them and BIRD showed them (check_bird_view).
    d = add(
        "update-gobgp-ipv4-med-communities",
        "gobgp",
        "GoBGP announces an IPv4 route with a third-party next hop, MED, communities and large communities",
        pick(captured, "gobgp", is_update(lambda d: d["nlri"] == [GOBGP_PREFIX4]), "IPv4 UPDATE"),
    )
    a = d["attributes"]
    agree(
        (a["nextHop"], a["origin"], a["med"], a["communities"], a["largeCommunities"], a["asPath"]),
        (
            NODE_V4,
            "igp",
            MED,
            list(COMMUNITIES),
            list(LARGE_COMMUNITIES),
            [{"type": "AS_SEQUENCE", "asns": [GOBGP_AS]}],
        ),
        "GoBGP IPv4 UPDATE",
    )
    d = add(
        "update-gobgp-ipv6",
        "gobgp",
        "GoBGP announces an IPv6 route in MP_REACH_NLRI with a global next hop only",
        pick(captured, "gobgp", is_update(lambda d: "mpReachNlri" in d["attributes"]), "MP_REACH UPDATE"),
    )
    agree(d["attributes"]["mpReachNlri"]["nlri"], [GOBGP_PREFIX6], "GoBGP IPv6 NLRI")
    agree(d["attributes"]["mpReachNlri"]["nextHops"], [NODE_V6], "GoBGP IPv6 next hop")
    d = add(
        "withdraw-gobgp-ipv4",
        "gobgp",
        "GoBGP withdraws its IPv4 route (Withdrawn Routes field)",
        pick(captured, "gobgp", is_update(lambda d: d["withdrawn"] == [GOBGP_PREFIX4]), "IPv4 withdrawal"),
    )
    d = add(
        "withdraw-gobgp-ipv6",
        "gobgp",
        "GoBGP withdraws its IPv6 route (MP_UNREACH_NLRI)",
        pick(
            captured,
            "gobgp",
            is_update(lambda d: d["attributes"].get("mpUnreachNlri", {}).get("withdrawn") == [GOBGP_PREFIX6]),
            "MP_UNREACH withdrawal",
        ),
    )
    add(
        "withdraw-bird-ipv4",
        "bird",
        "BIRD withdraws its static IPv4 route after a reconfiguration",
        pick(captured, "bird", is_update(lambda d: d["withdrawn"] == [BIRD_PREFIX4]), "IPv4 withdrawal"),
    )
    add(
        "withdraw-bird-ipv6",
        "bird",
        "BIRD withdraws its static IPv6 route (MP_UNREACH_NLRI)",
        pick(
            captured,
            "bird",
            is_update(lambda d: d["attributes"].get("mpUnreachNlri", {}).get("withdrawn") == [BIRD_PREFIX6]),
            "MP_UNREACH withdrawal",
        ),
    )
    # BIRD asks for each channel's routes again (``birdc reload in``; RFC 2918, plain since GoBGP did
    # not announce enhanced route refresh). GoBGP 3.10's CLI has no command that sends one.
    for afi in ("ipv4", "ipv6"):
        wanted = {"type": "ROUTE-REFRESH", "length": 23, "afi": afi, "safi": "unicast", "subtype": "normal"}
        add(
            f"route-refresh-{afi}-bird",
            "bird",
            f"ROUTE-REFRESH for {afi} unicast (birdc reload in)",
            pick(captured, "bird", wanted.__eq__, f"{afi} ROUTE-REFRESH"),
        )
    d = add(
        "notification-shutdown-gobgp",
        "gobgp",
        "Cease / Administrative Shutdown with an RFC 9003 shutdown communication "
        "(gobgp neighbor shutdown --reason)",
        pick(captured, "gobgp", lambda d: d["type"] == "NOTIFICATION", "NOTIFICATION"),
    )
    agree((d["code"], d["subcode"], d["message"]), (6, 2, GOBGP_SHUTDOWN), "GoBGP NOTIFICATION")
    d = add(
        "notification-shutdown-bird",
        "bird",
        'Cease / Administrative Shutdown with an RFC 9003 shutdown communication (birdc disable NAME "text")',
        pick(captured, "bird", lambda d: d["type"] == "NOTIFICATION", "NOTIFICATION", connection=2),
        connection=2,
    )
    agree((d["code"], d["subcode"], d["message"]), (6, 2, BIRD_SHUTDOWN), "BIRD NOTIFICATION")
    return vectors


def summary(d: dict[str, Any]) -> str:
    """A one-line human description of a decoded message, for comment lines."""
    if d["type"] == "UPDATE":
        if "endOfRib" in d:
            return f"UPDATE End-of-RIB {d['endOfRib']}"
        attrs = d["attributes"]
        announced = d["nlri"] + attrs.get("mpReachNlri", {}).get("nlri", [])
        withdrawn = d["withdrawn"] + attrs.get("mpUnreachNlri", {}).get("withdrawn", [])
        parts = [f"announce {' '.join(announced)}"] if announced else []
        parts += [f"withdraw {' '.join(withdrawn)}"] if withdrawn else []
        return "UPDATE " + "; ".join(parts)
    if d["type"] == "NOTIFICATION":
        return f"NOTIFICATION {d['code']}/{d['subcode']} {d.get('message', '')!r}"
    if d["type"] == "OPEN":
        return f"OPEN AS {d['myAsn']} id {d['bgpId']} hold {d['holdTime']}"
    return str(d["type"])


def write_outputs(captured: Captured, vectors: list[Vector], vector_dir: Path, session_hex: Path) -> None:
    vector_dir.mkdir(parents=True, exist_ok=True)
    for vec in vectors:
        doc = {
            "source": vec.source,
            "description": vec.description,
            "hex": vec.message.hex(),
            "context": {**CONTEXT, "session": vec.connection},
            "expected": expected_of(vec.message),
        }
        (vector_dir / f"{vec.name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = [
        f"# Everything GoBGP 3.10.0 (AS {GOBGP_AS}, {GOBGP_V4}) sent to BIRD 2.0.12 "
        f"(AS {BIRD_AS}, {BIRD_V4})",
        "# on one session, captured with tcpdump in a network namespace by tools/capture_vectors.py.",
        "# One message per line; decode with:  bgpd decode --hex config/captures/gobgp-session.hex",
    ]
    for msg in captured.of("gobgp", 1):
        lines.append(f"# {summary(hand_decode(msg))}")
        lines.append(msg.hex())
    session_hex.parent.mkdir(parents=True, exist_ok=True)
    session_hex.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=Path, default=ROOT / "tests" / "wire" / "vectors")
    parser.add_argument(
        "--session-hex", type=Path, default=ROOT / "config" / "captures" / "gobgp-session.hex"
    )
    parser.add_argument("--keep-pcap", type=Path, help="also copy the raw capture here")
    args = parser.parse_args()
    with NetLab() as lab:
        pcap = lab.path("session.pcap")
        captured, facts = run_scenario(lab, pcap)
        if args.keep_pcap is not None:
            args.keep_pcap.write_bytes(pcap.read_bytes())
    vectors = choose(captured, facts)
    write_outputs(captured, vectors, args.vectors, args.session_hex)
    print(f"wrote {len(vectors)} vectors to {args.vectors} and {args.session_hex}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
