"""``bgpd decode`` as operators run it: a subprocess reading binary or hex, printing JSON lines,
carrying on after malformed messages, exiting 1 if any was malformed, never printing a traceback."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.fsm.negotiation import check_peer_open
from bgpd.wire import encode_message
from bgpd.wire.attributes import Aggregator, AsSegment, Attributes, MpReach, MpUnreach, UnknownAttribute
from bgpd.wire.capabilities import FourOctetAs
from bgpd.wire.constants import IPV4_UNICAST, AsPathSegmentType, Origin
from bgpd.wire.context import DEFAULT_CONTEXT, CodecContext
from bgpd.wire.errors import NotificationError
from bgpd.wire.json_view import attribute_fields, describe_stream
from bgpd.wire.open import Open
from bgpd.wire.update import Update
from tests.cli._run import ROOT, bgpd
from tests.fsm._helpers import CFG_A

VECTORS = ROOT / "tests" / "wire" / "vectors"
SESSION = ROOT / "config" / "captures" / "gobgp-session.hex"
MARKER = b"\xff" * 16
KEEPALIVE = MARKER + b"\x00\x13\x04"


def decode(*args: str | Path, stdin: bytes = b"") -> tuple[int, list[dict[str, Any]], str]:
    done = subprocess.run(
        [sys.executable, "-m", "bgpd", "decode", *map(str, args)],
        check=False,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        timeout=60,
    )
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr
    return done.returncode, [json.loads(line) for line in done.stdout.decode().splitlines()], stderr


def vector(name: str) -> tuple[bytes, dict[str, Any]]:
    doc = json.loads((VECTORS / f"{name}.json").read_text())
    return bytes.fromhex(doc["hex"]), doc["expected"]


def message(msg_type: int, body: bytes) -> bytes:
    return MARKER + (19 + len(body)).to_bytes(2, "big") + bytes((msg_type,)) + body


def update(attrs: bytes, nlri: bytes = b"", withdrawn: bytes = b"") -> bytes:
    body = len(withdrawn).to_bytes(2, "big") + withdrawn + len(attrs).to_bytes(2, "big") + attrs + nlri
    return message(2, body)


ORIGIN_IGP = bytes.fromhex("40010100")
NEXT_HOP = bytes.fromhex("4003040a000005")  # 10.0.0.5
NLRI = bytes.fromhex("180a1400")  # 10.20.0.0/24


def test_binary_stream_on_stdin_prints_one_object_per_message() -> None:
    names = [
        "open-gobgp",
        "keepalive-gobgp",
        "update-gobgp-ipv4-med-communities",
        "notification-shutdown-gobgp",
    ]
    pairs = [vector(name) for name in names]
    code, out, _ = decode(stdin=b"".join(raw for raw, _ in pairs))
    assert code == 0
    assert out == [expected for _, expected in pairs]


def test_hex_ignores_whitespace_0x_case_and_comments(tmp_path: Path) -> None:
    raw, expected = vector("update-bird-ipv6-link-local")
    text = raw.hex().upper()
    pasted = "# pasted from Wireshark\n" + " ".join(f"0x{text[i : i + 2]}" for i in range(0, len(text), 2))
    pasted = pasted.replace(" 0x", "\n\t0x", 5) + "  # trailing comment\n"
    path = tmp_path / "pasted.hex"
    path.write_text(pasted)
    code, out, _ = decode("--hex", path)
    assert (code, out) == (0, [expected])
    code, out, _ = decode("--hex", stdin=pasted.encode())
    assert (code, out) == (0, [expected])


def test_readme_command_decodes_the_shipped_capture() -> None:
    code, out, _ = decode("--hex", SESSION)
    assert code == 0
    assert [o["type"] for o in out[:2]] == ["OPEN", "KEEPALIVE"]
    assert out[0]["myAsn"] == 65001
    assert out[-1]["type"] == "NOTIFICATION"
    assert out[-1]["message"] == "maintenance window 42"
    announced = [o for o in out if o["type"] == "UPDATE" and o["nlri"]]
    assert announced[0]["attributes"]["nextHop"] == "10.0.0.5"


def test_as2_reads_two_octet_as_path() -> None:
    as_path = bytes.fromhex("4002060202fde9fdea")  # AS_SEQUENCE 65001 65002, 2 octets each
    msg = update(ORIGIN_IGP + as_path + NEXT_HOP, NLRI)
    code, out, _ = decode("--as2", stdin=msg)
    assert code == 0
    assert out[0]["attributes"]["asPath"] == [{"type": "AS_SEQUENCE", "asns": [65001, 65002]}]
    # Read as 4-octet ASNs the same segment overruns its attribute: malformed AS_PATH, RFC 7606 §7.2.
    code, out, _ = decode(stdin=msg)
    assert code == 1
    assert out[0]["error"]["code"] == 3
    assert out[0]["error"]["subcode"] == 11
    assert out[0]["error"]["action"] == "treat-as-withdraw"
    assert out[0]["nlri"] == ["10.20.0.0/24"]  # what could be decoded is shown too


def test_addpath_reads_path_identifiers() -> None:
    as_path = bytes.fromhex("40020602010000fde9")
    msg = update(ORIGIN_IGP + as_path + NEXT_HOP, bytes.fromhex("00000021") + NLRI)
    code, out, _ = decode("--addpath", "ipv4-unicast", stdin=msg)
    assert code == 0
    assert out[0]["nlri"] == [{"prefix": "10.20.0.0/24", "pathId": 33}]
    # Without ADD-PATH the identifier's octets read as prefix lengths, the last one /33: RFC 7606 §5.3.
    code, out, _ = decode(stdin=msg)
    assert code == 1
    assert out[0]["error"]["action"] == "session-reset"


def test_extended_nexthop_reads_rfc8950_ipv6_next_hops() -> None:
    reach = MpReach(1, 1, ipaddress.IPv6Address("fd00::5").packed, ((0x0A140000, 24),))
    enh = CodecContext(extended_next_hop=frozenset({IPV4_UNICAST}))
    attrs = Attributes(origin=Origin.IGP, as_path=(AsSegment(AsPathSegmentType.AS_SEQUENCE, (65001,)),))
    msg = encode_message(Update(attributes=attrs, mp_reach=reach), enh)
    code, out, _ = decode("--extended-nexthop", "ipv4-unicast", stdin=msg)
    assert code == 0
    assert out[0]["attributes"]["mpReachNlri"] == {
        "afi": "ipv4",
        "safi": "unicast",
        "nextHops": ["fd00::5"],
        "nlri": ["10.20.0.0/24"],
    }
    # Not negotiated: a 16-octet next hop for IPv4 is a broken MP_REACH_NLRI (RFC 7606 §7.11).
    code, out, _ = decode(stdin=msg)
    assert code == 1
    assert (out[0]["error"]["code"], out[0]["error"]["action"]) == (3, "session-reset")


FOUR_OCTET = FourOctetAs(65001)


@pytest.mark.parametrize(
    ("open_msg", "notification", "reason"),
    [
        (Open(65001, 90, 0x0A000001, (FOUR_OCTET,), version=3), (2, 1, "0004"), "version 3"),
        (Open(65001, 1, 0x0A000001, (FOUR_OCTET,)), (2, 6, ""), "hold time 1"),
        (Open(65001, 2, 0x0A000001, (FOUR_OCTET,)), (2, 6, ""), "hold time 2"),
        (Open(65001, 90, 0, (FOUR_OCTET,)), (2, 3, ""), "Identifier 0"),
        (Open(0, 90, 0x0A000001), (2, 2, ""), "AS 0"),
        (Open(65002, 90, 0x0A000001, (FOUR_OCTET,)), (2, 2, ""), "disagrees"),
    ],
    ids=["version", "hold-1", "hold-2", "bgp-id-0", "as-0", "my-as-vs-capability"],
)
def test_open_a_session_refuses_is_reported_with_its_notification(
    open_msg: Open, notification: tuple[int, int, str], reason: str
) -> None:
    wire = encode_message(open_msg, DEFAULT_CONTEXT)
    code, out, _ = decode(stdin=wire + KEEPALIVE)
    assert code == 1
    error = out[0]["error"]
    assert (error["code"], error["subcode"], error["data"]) == notification
    assert error["action"] == "session-reset"
    assert reason in error["reason"]
    assert out[0]["holdTime"] == open_msg.hold_time  # the OPEN itself is still shown
    assert out[1] == {"type": "KEEPALIVE", "length": 19}
    # the very function the FSM answers an OPEN with, for the same verdict
    with pytest.raises(NotificationError) as refused:
        check_peer_open(replace(CFG_A, local_as=65001, peer_as=None, bgp_id=0x0A0000FE), open_msg)
    assert (refused.value.code, refused.value.subcode, refused.value.data.hex()) == notification


def test_malformed_messages_are_reported_and_decoding_continues() -> None:
    bad_origin = update(bytes.fromhex("40010105") + bytes.fromhex("400200"))  # ORIGIN 5, RFC 7606 §7.1
    bad_type = MARKER + b"\x00\x13\x09"
    code, out, _ = decode(stdin=KEEPALIVE + bad_origin + bad_type + KEEPALIVE)
    assert code == 1
    assert len(out) == 4
    assert out[0] == out[3] == {"type": "KEEPALIVE", "length": 19}
    assert out[1]["type"] == "UPDATE"
    assert {k: out[1]["error"][k] for k in ("code", "subcode", "data", "action")} == {
        "code": 3,
        "subcode": 6,
        "data": "40010105",
        "action": "treat-as-withdraw",
    }
    assert out[2]["error"] | {"reason": ""} == {
        "code": 1,
        "subcode": 3,
        "data": "09",
        "action": "session-reset",
        "reason": "",
    }


def test_broken_framing_resynchronises_on_the_next_header() -> None:
    code, out, _ = decode(stdin=KEEPALIVE + b"\x00\x01\xff\xff" + KEEPALIVE)
    assert code == 1
    assert out[0] == out[2] == {"type": "KEEPALIVE", "length": 19}
    assert out[1]["offset"] == 19
    assert out[1]["skipped"] == 4
    assert (out[1]["error"]["code"], out[1]["error"]["subcode"]) == (1, 1)  # Connection Not Synchronized


def test_bad_length_for_the_type_is_skipped_by_its_length() -> None:
    long_keepalive = MARKER + b"\x00\x14\x04\x00"  # RFC 4271 §4.4: a KEEPALIVE is exactly 19 octets
    code, out, _ = decode(stdin=long_keepalive + KEEPALIVE)
    assert code == 1
    assert out[0]["error"] | {"reason": ""} == {
        "code": 1,
        "subcode": 2,
        "data": "0014",
        "action": "session-reset",
        "reason": "",
    }
    assert out[1] == {"type": "KEEPALIVE", "length": 19}


def test_long_message_needs_extended_message() -> None:
    as_path = bytes.fromhex("40020602010000fde9")
    attrs = ORIGIN_IGP + as_path + NEXT_HOP
    big = update(attrs, NLRI * ((5000 - 23 - len(attrs)) // len(NLRI)))  # RFC 8654 sizes
    assert 4096 < len(big) <= 5000
    code, out, _ = decode(stdin=KEEPALIVE + big + KEEPALIVE)
    assert code == 1
    assert [o["type"] for o in out] == ["KEEPALIVE", "UPDATE", "KEEPALIVE"]
    assert (out[1]["length"], out[1]["error"]["subcode"]) == (len(big), 2)
    assert "--extended-message" not in out[1]["error"]["reason"]  # the pure view names the RFC
    assert "RFC 8654" in out[1]["error"]["reason"]
    code, out, _ = decode("--extended-message", stdin=KEEPALIVE + big + KEEPALIVE)
    assert code == 0
    assert len(out[1]["nlri"]) == (len(big) - 23 - len(attrs)) // len(NLRI)


@pytest.mark.parametrize("cut", [5, 19, 40])
def test_truncated_stream_reports_the_cut_message(cut: int) -> None:
    raw, expected = vector("update-gobgp-ipv4-med-communities")
    code, out, _ = decode(stdin=KEEPALIVE + raw[:cut])
    assert code == 1
    assert out[0] == {"type": "KEEPALIVE", "length": 19}
    assert out[1]["truncated"] is True
    assert out[1]["offset"] == 19
    assert out[1]["error"]["subcode"] == 2
    assert out[1].get("length") == (expected["length"] if cut >= 18 else None)


def test_empty_input_prints_nothing() -> None:
    assert decode(stdin=b"")[:2] == (0, [])


@pytest.mark.parametrize(
    ("args", "stdin", "complaint"),
    [
        (["--hex"], b"ffz", "odd number of hex digits"),
        (["--hex"], b"zz", "not a hex digit"),
        (["--hex"], KEEPALIVE, "non-ASCII"),
        (["/nonexistent/capture.bin"], b"", "cannot read"),
        (["--addpath", "ipv5-unicast"], b"", "unknown address family"),
    ],
)
def test_unusable_input_is_a_message_and_exit_2(args: list[str], stdin: bytes, complaint: str) -> None:
    code, out, stderr = decode(*args, stdin=stdin)
    assert (code, out) == (2, [])
    assert complaint in stderr


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([KEEPALIVE, *(vector(p.stem)[0] for p in sorted(VECTORS.glob("*.json")))]), max_size=4
    ),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
    st.booleans(),
)
def test_any_damage_yields_objects_not_exceptions(
    pieces: list[bytes], damage: list[tuple[int, int]], as2: bool
) -> None:
    """Real messages, some octets overwritten: every object is a message or an error, and the
    objects account for the whole stream (bounded walk, no exception)."""
    data = bytearray(b"".join(pieces))
    for pos, value in damage:
        if pos < len(data):
            data[pos] = value
    ctx = CodecContext(four_octet_as=not as2) if as2 else DEFAULT_CONTEXT
    out = list(describe_stream(bytes(data), ctx))
    assert len(out) <= len(data) // 19 + 1
    for obj in out:
        assert "error" in obj or obj["type"] in (
            "OPEN",
            "UPDATE",
            "NOTIFICATION",
            "KEEPALIVE",
            "ROUTE-REFRESH",
        )
        json.dumps(obj)
    if not damage and not as2:  # the vectors' own context: all well-formed
        assert not any("error" in obj for obj in out)
        assert len(out) == len(pieces)


DOC = (ROOT / "docs" / "decode.md").read_text()


def test_documented_example_is_what_the_command_prints() -> None:
    example = DOC.split("## Example", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    lines = [json.loads(line) for line in example.strip().splitlines()]
    _, out, _ = decode("--hex", SESSION)
    assert len(lines) >= 5
    for line in lines:
        assert line in out


def test_documented_malformed_example_is_what_the_command_prints() -> None:
    block = DOC.split("## Malformed messages", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    documented = json.loads(block)
    bad_origin = update(bytes.fromhex("40010105") + bytes.fromhex("400200"))
    assert decode(stdin=bad_origin)[1] == [documented]


def test_documented_refused_open_is_what_the_command_prints() -> None:
    block = DOC.split("## OPENs a session refuses", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    documented = json.loads(block)
    assert decode(stdin=encode_message(Open(65001, 2, 0x0A000001), DEFAULT_CONTEXT))[1] == [documented]


def test_every_decode_option_is_documented() -> None:
    options = DOC.split("## Input and options", 1)[1].split("\n## ", 1)[0]
    usage = bgpd("decode", "--help").stdout
    flags = set(re.findall(r"--[a-z][a-z0-9-]*", usage)) - {"--help"}
    assert "--extended-nexthop" in flags
    assert {flag for flag in flags if f"`{flag}" not in options} == set()


EVERY_ATTRIBUTE = Attributes(
    origin=Origin.IGP,
    as_path=(AsSegment(AsPathSegmentType.AS_SEQUENCE, (65001,)),),
    next_hop=0x0A000005,
    med=1,
    local_pref=100,
    atomic_aggregate=True,
    aggregator=Aggregator(65001, 0x0A000001),
    communities=(1,),
    originator_id=1,
    cluster_list=(1,),
    extended_communities=(1,),
    as4_path=(AsSegment(AsPathSegmentType.AS_SEQUENCE, (4200000001,)),),
    as4_aggregator=Aggregator(4200000001, 1),
    large_communities=((1, 2, 3),),
    unknown=(UnknownAttribute(99, 0xC0, b"\x01"),),
)
EVERY_KEY = attribute_fields(EVERY_ATTRIBUTE, MpReach(2, 1, bytes(16)), MpUnreach(2, 1))


@pytest.mark.parametrize("key", sorted(EVERY_KEY))
def test_every_attribute_key_is_documented(key: str) -> None:
    assert f"| `{key}` |" in DOC


def test_every_attribute_kind_has_a_key() -> None:
    assert len(EVERY_KEY) == 17  # 15 attribute fields + MP_REACH + MP_UNREACH
