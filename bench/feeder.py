"""A BGP speaker that only sends: a full table as pre-encoded UPDATEs, to every peer that connects.

Why not GoBGP as the sender: loading 1 M routes into it takes minutes (``gobgp global rib add`` is a
process per route; ``gobgp mrt inject`` silently loses the last paths unless its input stays open,
see /work/shared/interop-notes.md), and its own pace would then be what the bench measures. Here the
table is encoded once, before anyone connects, and written with ``sendall``: the receiver is the
only one that can be slow.

Per connection (a thread each; the bench connects one receiver at a time): wait for the peer's
OPEN, answer OPEN + KEEPALIVE, wait for its KEEPALIVE (the session is Established), write the table
and an End-of-RIB (RFC 4724 §2), then keep the session up (KEEPALIVE every hold time / 3, input
read and dropped) until the peer closes. Events go to stdout as JSON lines with the wall clock:
``ready``, ``established``, ``sent``, ``closed`` (with the peer's address).

Prefixes: ``--prefixes`` distinct /24s from 20.0.0.0 up, in ``--attr-sets`` contiguous runs, each
with its own AS_PATH (65002 then a private ASN), NEXT_HOP the feeder's own address.

    python bench/feeder.py --listen 10.0.255.254 [--prefixes 1000000] [--attr-sets 1000]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import select
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgpd.wire import Framer, Keepalive, MessageType, Open, Update, encode_message  # noqa: E402
from bgpd.wire.attributes import AsSegment, Attributes  # noqa: E402
from bgpd.wire.constants import HEADER_LEN, IPV4_UNICAST, MAX_MESSAGE_LEN, AsPathSegmentType, Origin  # noqa: E402
from bgpd.wire.context import CodecContext  # noqa: E402
from tests.speaker.scripted_peer import peer_open  # noqa: E402

CTX = CodecContext()
FIRST_PREFIX = int(ipaddress.IPv4Address("20.0.0.0"))
HANDSHAKE_TIMEOUT = 30.0
_print_lock = threading.Lock()


def log(event: str, **fields: object) -> None:
    with _print_lock:
        print(json.dumps({"event": event, "t": time.time(), **fields}), flush=True)


def table(prefixes: int, attr_sets: int, asn: int, next_hop: str) -> tuple[bytes, int]:
    """The whole table as UPDATE messages (headers included) and how many messages that is."""
    hop = int(ipaddress.IPv4Address(next_hop))
    per_set = -(-prefixes // attr_sets)
    messages: list[bytes] = []
    for first in range(0, prefixes, per_set):
        attrs = Attributes(
            origin=Origin.IGP,
            as_path=(AsSegment(AsPathSegmentType.AS_SEQUENCE, (asn, 64512 + first // per_set % 1000)),),
            next_hop=hop,
        )
        room = (
            MAX_MESSAGE_LEN - HEADER_LEN - len(Update(attributes=attrs).encode(CTX))
        ) // 4  # /24: 4 octets
        last = min(first + per_set, prefixes)
        for start in range(first, last, room):
            nlri = tuple((FIRST_PREFIX + (i << 8), 24) for i in range(start, min(start + room, last)))
            messages.append(encode_message(Update(attributes=attrs, nlri=nlri), CTX))
    return b"".join(messages), len(messages)


def _read_until(conn: socket.socket, framer: Framer, wanted: MessageType) -> None:
    deadline = time.monotonic() + HANDSHAKE_TIMEOUT
    while time.monotonic() < deadline:
        data = conn.recv(65536)
        if not data:
            raise ConnectionError("peer closed during the handshake")
        for msg_type, _ in framer.feed(data):
            if msg_type == MessageType.NOTIFICATION:
                raise ConnectionError("peer sent a NOTIFICATION during the handshake")
            if msg_type == wanted:
                return
    raise TimeoutError(f"no {wanted.name} within {HANDSHAKE_TIMEOUT:g} s")


def serve(conn: socket.socket, peer: str, stream: bytes, opened: Open, deadline: float) -> None:
    framer = Framer()
    keepalive = encode_message(Keepalive(), CTX)
    try:
        conn.settimeout(HANDSHAKE_TIMEOUT)
        _read_until(conn, framer, MessageType.OPEN)
        conn.sendall(encode_message(opened, CTX) + keepalive)
        _read_until(conn, framer, MessageType.KEEPALIVE)
        log("established", peer=peer)
        conn.sendall(stream + encode_message(Update.end_of_rib(IPV4_UNICAST), CTX))
        log("sent", peer=peer)
        interval = max(1.0, opened.hold_time / 3)
        conn.setblocking(False)
        while time.monotonic() < deadline:
            readable, _, _ = select.select([conn], [], [], interval)
            if readable:
                if not conn.recv(65536):
                    break
            else:
                conn.sendall(keepalive)
    except OSError as err:
        log("error", peer=peer, error=str(err))
    finally:
        conn.close()
        log("closed", peer=peer)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--listen", required=True, help="address to accept BGP connections on (port 179)")
    parser.add_argument("--asn", type=int, default=65002)
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--attr-sets", type=int, default=1000)
    parser.add_argument("--hold-time", type=int, default=90)
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="exit after this long")
    args = parser.parse_args(argv)
    stream, count = table(args.prefixes, args.attr_sets, args.asn, args.listen)
    opened = peer_open(args.asn, args.listen, args.hold_time, families=((1, 1),))
    deadline = time.monotonic() + args.max_seconds
    with socket.create_server((args.listen, 179), backlog=8) as server:
        server.settimeout(1.0)
        log("ready", messages=count, octets=len(stream), prefixes=args.prefixes)
        while time.monotonic() < deadline:
            try:
                conn, address = server.accept()
            except TimeoutError:
                continue
            threading.Thread(
                target=serve, args=(conn, address[0], stream, opened, deadline), daemon=True
            ).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
