"""``bgpd decode``: BGP messages from a capture (binary or hex) printed as JSON lines.

Network engineers paste hex from tcpdump or Wireshark, or save a TCP payload stream; this command
prints one JSON object per message (fields in docs/decode.md) and keeps going after a malformed one,
so a capture can be read to the end. An OPEN a session would refuse (RFC 4271 §6.2) is checked with
the FSM's own function and reported like a malformed message. Exit status: 0 all messages
well-formed, 1 some malformed or refused (or the stream was cut inside a message), 2 unusable
input or arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Final

from bgpd.fsm.negotiation import check_open_message
from bgpd.wire.constants import Family
from bgpd.wire.context import CodecContext
from bgpd.wire.json_view import describe_stream

_COMMENT: Final = re.compile(r"#[^\n]*")
_HEX_PREFIX: Final = re.compile(r"0[xX]")
_SPACE: Final = re.compile(r"\s+")


class InputError(Exception):
    """The input cannot be read as BGP messages at all (a usage problem, exit 2)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "decode",
        help="decode BGP messages (binary or hex) into JSON lines",
        description=(
            "Read BGP messages back to back (a TCP payload stream) from FILE or stdin and print one "
            "JSON object per message. Exit status 1 when any message is malformed."
        ),
    )
    parser.add_argument(
        "file", nargs="?", default="-", metavar="FILE", help="input file; '-' or absent: stdin"
    )
    parser.add_argument(
        "--hex",
        action="store_true",
        help="the input is hex text: whitespace, '0x' prefixes and '#' comments to end of line ignored",
    )
    parser.add_argument(
        "--as2", action="store_true", help="AS_PATH carries 2-octet ASNs (default: 4-octet, RFC 6793)"
    )
    parser.add_argument(
        "--addpath",
        action="append",
        default=[],
        type=_family,
        metavar="FAMILY",
        help="ADD-PATH path identifiers present for FAMILY (ipv4-unicast, ipv6-unicast); repeatable",
    )
    parser.add_argument(
        "--extended-nexthop",
        action="append",
        default=[],
        type=_family,
        metavar="FAMILY",
        help="IPv6 next hops allowed for FAMILY (RFC 8950 extended next hop, e.g. ipv4-unicast); repeatable",
    )
    parser.add_argument(
        "--extended-message",
        action="store_true",
        help="accept messages up to 65535 octets (RFC 8654; default limit 4096)",
    )
    parser.set_defaults(handler=run)


def _family(text: str) -> Family:
    try:
        return Family.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parse_hex(text: str) -> bytes:
    """Hex text as people paste it: any whitespace, ``0x`` prefixes and ``#`` comments ignored."""
    compact = _SPACE.sub("", _HEX_PREFIX.sub("", _COMMENT.sub("", text)))
    if len(compact) % 2:
        raise InputError(f"odd number of hex digits ({len(compact)})")
    try:
        return bytes.fromhex(compact)
    except ValueError:
        bad = next(ch for ch in compact if ch not in "0123456789abcdefABCDEF")
        raise InputError(f"not a hex digit: {bad!r}") from None


def read_input(path: str, as_hex: bool) -> bytes:
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    if not as_hex:
        return raw
    try:
        return parse_hex(raw.decode("ascii"))
    except UnicodeDecodeError:
        raise InputError("--hex input contains non-ASCII bytes (binary input? drop --hex)") from None


def run(args: argparse.Namespace) -> int:
    ctx = CodecContext(
        four_octet_as=not args.as2,
        add_path=frozenset(args.addpath),
        extended_message=args.extended_message,
        extended_next_hop=frozenset(args.extended_nexthop),
    )
    try:
        data = read_input(args.file, args.hex)
    except InputError as err:
        print(f"bgpd decode: {err}", file=sys.stderr)
        return 2
    malformed = False
    out = sys.stdout
    for obj in describe_stream(data, ctx, check_open_message):
        malformed = malformed or "error" in obj
        out.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n")
    out.flush()
    return 1 if malformed else 0
