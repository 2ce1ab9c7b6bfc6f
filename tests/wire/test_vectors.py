"""Golden vectors: real messages GoBGP 3.10 and BIRD 2.0.12 sent each other, captured with tcpdump in
network namespaces by tools/capture_vectors.py. Their "expected" fields come from an independent
reading (a separate RFC decoder in that tool, cross-checked against what the peers reported), not
from bgpd, so these tests check bgpd's codecs and ``bgpd decode``'s JSON against real routers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bgpd.wire import decode_message, encode_message
from bgpd.wire.constants import Family
from bgpd.wire.context import CodecContext
from bgpd.wire.framing import Framer
from bgpd.wire.json_view import describe_stream

VECTORS = Path(__file__).parent / "vectors"
FILES = sorted(VECTORS.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def context(doc: dict[str, Any]) -> CodecContext:
    ctx = doc["context"]
    return CodecContext(
        four_octet_as=ctx["fourOctetAs"], add_path=frozenset(Family.parse(f) for f in ctx["addPath"])
    )


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_vector_decodes_to_expected_fields(path: Path) -> None:
    doc = load(path)
    assert doc["source"] in ("gobgp 3.10.0 -> bird 2.0.12", "bird 2.0.12 -> gobgp 3.10.0")
    assert list(describe_stream(bytes.fromhex(doc["hex"]), context(doc))) == [doc["expected"]]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_vector_survives_reencoding(path: Path) -> None:
    """decode → encode → decode gives the same message (bytes may differ: attribute order and the
    Extended Length flag are the sender's choice, RFC 4271 §4.3)."""
    doc = load(path)
    ctx = context(doc)
    [(msg_type, body)] = list(Framer().feed(bytes.fromhex(doc["hex"])))
    message = decode_message(msg_type, body, ctx)
    [(again_type, again_body)] = list(Framer().feed(encode_message(message, ctx)))
    assert again_type == msg_type
    assert decode_message(again_type, again_body, ctx) == message


def test_vectors_cover_every_message_kind_from_real_peers() -> None:
    """Guards the set: deleting a capture would silently weaken the codec tests."""
    expected = {path.stem: load(path)["expected"] for path in FILES}
    kinds = {e["type"] for e in expected.values()}
    assert kinds == {"OPEN", "UPDATE", "NOTIFICATION", "KEEPALIVE", "ROUTE-REFRESH"}
    assert {"open-gobgp", "open-bird"} <= expected.keys()
    updates = [e for e in expected.values() if e["type"] == "UPDATE"]
    assert any(e["nlri"] for e in updates)
    assert any(e["withdrawn"] for e in updates)
    reach = [e["attributes"]["mpReachNlri"] for e in updates if "mpReachNlri" in e["attributes"]]
    assert any(len(r["nextHops"]) == 2 and r["nextHops"][1].startswith("fe80:") for r in reach)
    assert any(e["attributes"].get("mpUnreachNlri", {}).get("withdrawn") for e in updates)
    assert {e.get("endOfRib") for e in updates} >= {"ipv4-unicast", "ipv6-unicast"}
    assert any(
        e["attributes"].get("communities") and e["attributes"].get("largeCommunities") for e in updates
    )
    assert any("med" in e["attributes"] for e in updates)
    shutdowns = [e for e in expected.values() if e["type"] == "NOTIFICATION" and e.get("message")]
    assert len(shutdowns) == 2
