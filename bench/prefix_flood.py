"""Benchmark: one peer floods a session with IPv4 /24s; what it costs the speaker, with and without
the prefix limit (RFC 4486, issue 9 §3).

The reference is the same speaker with ``maxPrefixes: 0`` (no limit: every prefix is kept, which is
what bgpd did before the limit existed), measured in the same run. Each side runs in a fresh
subprocess so its memory starts from the same baseline: a passive session on loopback, brought up
by this script acting as the peer, which then sends ``--prefixes`` prefixes packed into UPDATEs
(about 1,000 per UPDATE) as fast as the speaker reads them. The speaker's process reports how many
prefixes it kept, whether the session was stopped, and its resident memory growth (VmHWM at the end
minus VmRSS once the session was configured, before the peer connected). Prints the numbers, the
ratio to the reference, then one JSON line for tooling.

    python bench/prefix_flood.py [--prefixes 1000000]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgpd.logs import configure_logging  # noqa: E402
from bgpd.plan.session_config import MAX_PREFIXES, SessionConfig  # noqa: E402
from bgpd.speaker import Speaker  # noqa: E402
from bgpd.wire import Framer, Keepalive, Open, Update, encode_message  # noqa: E402
from bgpd.wire.attributes import AsSegment, Attributes  # noqa: E402
from bgpd.wire.capabilities import FourOctetAs, Multiprotocol  # noqa: E402
from bgpd.wire.constants import AsPathSegmentType, MessageType, Origin  # noqa: E402
from bgpd.wire.context import CodecContext  # noqa: E402

SPEAKER, PEER = "127.0.0.1", "127.0.0.2"
SPEAKER_ASN, PEER_ASN = 65001, 65002
PER_UPDATE = 1000  # 1,000 /24s: 4,000 octets of NLRI, inside the 4,096-octet message
CTX = CodecContext()
TIMEOUT = 300.0


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


async def _serve(port: int, limit: int, expected: int) -> dict[str, Any]:
    speaker = Speaker()
    config = SessionConfig(
        name="flood",
        local_ip=ipaddress.ip_address(SPEAKER),
        peer_ip=ipaddress.ip_address(PEER),
        local_asn=SPEAKER_ASN,
        peer_asn=PEER_ASN,
        router_id=ipaddress.IPv4Address(SPEAKER),
        port=port,
        passive=True,
        max_prefixes=limit,
        max_prefixes_restart=0,
    )
    await speaker.add_session(config)
    baseline = _status_kb("VmRSS")
    print("ready", flush=True)
    await speaker.wait_for("flood", lambda s: s.established, TIMEOUT)
    status = await speaker.wait_for(
        "flood", lambda s: s.prefixes_received >= expected or not s.established, TIMEOUT
    )
    stops = status.counters["prefixLimitStops"]
    received = status.prefix_limit.get("lastStop", {}).get("received", status.prefixes_received)
    await speaker.close()
    return {
        "limit": limit,
        "kept": received,
        "stopped": bool(stops),
        "rss_growth_kb": _status_kb("VmHWM") - baseline,
    }


def _updates(count: int) -> list[bytes]:
    attrs = Attributes(
        origin=Origin.IGP,
        as_path=(AsSegment(AsPathSegmentType.AS_SEQUENCE, (PEER_ASN,)),),
        next_hop=int(ipaddress.IPv4Address("10.0.0.254")),
    )
    base = int(ipaddress.IPv4Address("1.0.0.0"))
    prefixes = [(base + (i << 8), 24) for i in range(count)]
    return [
        encode_message(Update(attributes=attrs, nlri=tuple(prefixes[i : i + PER_UPDATE])), CTX)
        for i in range(0, count, PER_UPDATE)
    ]


def _flood(port: int, updates: list[bytes]) -> socket.socket:
    """Be the peer: OPEN, KEEPALIVE, then every UPDATE (until the speaker closes, if it does). The
    connection stays open: closing it would end the session before the speaker has counted."""
    sock = socket.create_connection((SPEAKER, port), timeout=TIMEOUT, source_address=(PEER, 0))
    try:
        caps = (Multiprotocol(1, 1), FourOctetAs(PEER_ASN))
        sock.sendall(encode_message(Open(PEER_ASN, 90, int(ipaddress.IPv4Address(PEER)), caps), CTX))
        framer, seen = Framer(), set()
        while MessageType.KEEPALIVE not in seen:
            data = sock.recv(65536)
            if not data:
                raise SystemExit("the speaker closed the connection during the handshake")
            seen.update(kind for kind, _ in framer.feed(data))
        sock.sendall(encode_message(Keepalive(), CTX))
        for update in updates:
            sock.sendall(update)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the limit stopped the session: what matters is what the speaker kept
    except BaseException:
        sock.close()
        raise
    return sock


def _run(limit: int, updates: list[bytes], expected: int) -> dict[str, Any]:
    with socket.socket() as probe:
        probe.bind((SPEAKER, 0))
        port = probe.getsockname()[1]
    argv = [sys.executable, __file__, "--serve", str(limit), "--port", str(port), "--prefixes", str(expected)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit("the speaker did not start")
    with _flood(port, updates):
        out, _ = proc.communicate(timeout=TIMEOUT)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        configure_logging("warning", "json", sys.stderr)  # stdout carries "ready" and the result
        print(json.dumps(uvloop.run(_serve(args.port, args.serve, args.prefixes))), flush=True)
        return
    updates = _updates(args.prefixes)
    reference = _run(0, updates, args.prefixes)
    limited = _run(MAX_PREFIXES, updates, args.prefixes)
    for name, row in (("no limit (reference)", reference), (f"maxPrefixes {MAX_PREFIXES}", limited)):
        print(
            f"{name:>24}: kept {row['kept']:>9,} of {args.prefixes:,} prefixes, stopped: {row['stopped']}, "
            f"RSS +{row['rss_growth_kb'] / 1024:.1f} MiB"
        )
    memory = limited["rss_growth_kb"] / max(reference["rss_growth_kb"], 1)
    print(f"with the limit / without: memory growth {memory:.3f}")
    print(
        json.dumps(
            {
                "prefixes": args.prefixes,
                "reference": reference,
                "limited": limited,
                "memory_ratio": round(memory, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
