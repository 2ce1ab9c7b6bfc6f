"""The ledger's JSON form: round trips, canonical text, reservations, reading version 1, and every
way a file can be corrupt."""

from __future__ import annotations

import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.rib.ledger import (
    LEDGER_KIND,
    LEDGER_VERSION,
    Ledger,
    LedgerError,
    LedgerText,
    NodeAllocation,
    Reservation,
)

ENTRIES = [
    NodeAllocation("node-b", "pool-b", "192.168.1.0/24", "2222:3::100/120"),
    NodeAllocation("node-a", "pool-a", "192.168.0.0/24", None),
    NodeAllocation("node-c", "v6-only", None, "fd00:0:0:1::/64"),
]


def document(*nodes: object, **top: object) -> str:
    body: dict[str, object] = {
        "kind": LEDGER_KIND,
        "version": LEDGER_VERSION,
        "nodes": list(nodes),
        "reserved": [],
    }
    body.update(top)
    return json.dumps({k: v for k, v in body.items() if v != "<absent>"})


def reserved(since: object = "2025-03-01T12:00:00Z", **fields: object) -> dict[str, object]:
    return {**entry(**fields), "missingSince": since}


def entry(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"node": "n1", "config": "pool", "ipv4": "10.0.0.0/24", "ipv6": None}
    base.update(fields)
    return {k: v for k, v in base.items() if v != "<absent>"}


def test_empty_round_trip() -> None:
    assert Ledger.from_json(Ledger.empty().to_json()) == Ledger.empty()


def test_round_trip_sorts_by_node_and_is_byte_stable() -> None:
    ledger = Ledger.of(ENTRIES)
    assert [e.node for e in ledger.entries] == ["node-a", "node-b", "node-c"]
    text = ledger.to_json()
    assert Ledger.from_json(text) == ledger
    shuffled = ENTRIES[:]
    random.Random(3).shuffle(shuffled)
    assert Ledger.of(shuffled).to_json() == text
    assert text.endswith("\n")
    assert json.loads(text) == {
        "kind": "bgpd-pod-cidr-ledger",
        "version": 2,
        "nodes": [
            {"node": "node-a", "config": "pool-a", "ipv4": "192.168.0.0/24", "ipv6": None},
            {"node": "node-b", "config": "pool-b", "ipv4": "192.168.1.0/24", "ipv6": "2222:3::100/120"},
            {"node": "node-c", "config": "v6-only", "ipv4": None, "ipv6": "fd00:0:0:1::/64"},
        ],
        "reserved": [],
    }


GONE = Reservation(NodeAllocation("gone", "pool-a", "192.168.9.0/24", None), 1_740_830_400)


def test_reservations_round_trip_with_their_time_as_utc_text() -> None:
    ledger = Ledger.of(ENTRIES, [GONE])
    text = ledger.to_json()
    assert Ledger.from_json(text) == ledger
    assert json.loads(text)["reserved"] == [
        {
            "node": "gone",
            "config": "pool-a",
            "ipv4": "192.168.9.0/24",
            "ipv6": None,
            "missingSince": "2025-03-01T12:00:00Z",
        }
    ]
    assert ledger.reservation("gone") == GONE and ledger.reservation("node-a") is None


def test_version_1_is_read_as_every_node_present_and_written_back_as_version_2() -> None:
    old = json.dumps(
        {"kind": LEDGER_KIND, "version": 1, "nodes": [entry(node="b", ipv4="10.0.1.0/24"), entry(node="a")]}
    )
    ledger = Ledger.from_json(old)
    assert ledger == Ledger(
        (NodeAllocation("a", "pool", "10.0.0.0/24", None), NodeAllocation("b", "pool", "10.0.1.0/24", None))
    )
    assert json.loads(ledger.to_json())["version"] == 2
    assert Ledger.from_json(ledger.to_json()) == ledger


def test_release_drops_only_a_reservation() -> None:
    ledger = Ledger.of(ENTRIES, [GONE])
    assert ledger.release("gone") == Ledger.of(ENTRIES)
    with pytest.raises(
        LedgerError, match="'node-a' has no reservation to release: it is in the cluster file"
    ):
        ledger.release("node-a")
    with pytest.raises(
        LedgerError, match="'ghost' has no reservation to release: the ledger does not know it"
    ):
        ledger.release("ghost")


def test_of_checks_reservations_against_present_nodes() -> None:
    with pytest.raises(LedgerError, match="'node-a' appears more than once"):
        Ledger.of(ENTRIES, [Reservation(NodeAllocation("node-a", "p", "10.9.0.0/24", None), 0)])
    with pytest.raises(
        LedgerError, match=re.escape("block 192.168.0.0/24 of node 'x' overlaps block 192.168.0.0/24")
    ):
        Ledger.of(ENTRIES, [Reservation(NodeAllocation("x", "p", "192.168.0.0/24", None), 0)])


def test_cidr_text_is_made_canonical() -> None:
    text = document(entry(ipv4="10.0.0.0/24", ipv6="2222:0003:0000::0100/120"))
    assert Ledger.from_json(text).entries == (NodeAllocation("n1", "pool", "10.0.0.0/24", "2222:3::100/120"),)


def test_adjacent_blocks_and_one_block_per_family_are_fine() -> None:
    text = document(
        entry(node="a", ipv4="10.0.0.0/24", ipv6="fd00::/64"),
        entry(node="b", ipv4="10.0.1.0/24", ipv6="fd00:0:0:1::/64"),
    )
    assert len(Ledger.from_json(text).entries) == 2


CORRUPT = [
    pytest.param("", "not valid JSON: Expecting value at line 1 column 1", id="empty-file"),
    pytest.param('{"kind": "bgpd-pod-cidr-ledger",\n "version": 1,', "not valid JSON", id="truncated"),
    pytest.param("\x00\x00\x00", "not valid JSON", id="zeroes"),
    pytest.param("[" * 100_000 + "]" * 100_000, "not valid JSON", id="nested-too-deep"),
    pytest.param("[]", "expected a JSON object at the top, found a list", id="top-is-list"),
    pytest.param(document(extra=1), "unknown top-level field(s) 'extra'", id="unknown-top-field"),
    pytest.param(
        document(kind="something-else"), "field 'kind' must be 'bgpd-pod-cidr-ledger'", id="wrong-kind"
    ),
    pytest.param(json.dumps({"version": 1, "nodes": []}), "field 'kind' must be", id="missing-kind"),
    pytest.param(
        document(version=3), "unsupported ledger version 3 (this bgpd reads 1 and 2)", id="future-version"
    ),
    pytest.param(document(version="1"), "unsupported ledger version '1'", id="version-as-text"),
    pytest.param(document(version=True), "unsupported ledger version True", id="version-as-bool"),
    pytest.param(
        json.dumps({"kind": LEDGER_KIND, "nodes": []}), "unsupported ledger version None", id="no-version"
    ),
    pytest.param(document(nodes={}), "field 'nodes' must be a list, found an object", id="nodes-not-list"),
    pytest.param(
        json.dumps({"kind": LEDGER_KIND, "version": 1}), "field 'nodes' must be a list", id="no-nodes"
    ),
    pytest.param(
        document(reserved="<absent>"), "field 'reserved' must be a list, found null", id="v2-no-reserved"
    ),
    pytest.param(document(version=1), "unknown top-level field(s) 'reserved'", id="v1-with-reserved"),
    pytest.param(
        document(reserved=[entry(node="r")]),
        "reserved[0]: missing field(s) 'missingSince'",
        id="reserved-no-time",
    ),
    pytest.param(
        document(reserved=[reserved(since=1740830400)]),
        "reserved[0].missingSince: expected a UTC time like '2025-03-01T12:00:00Z', found 1740830400",
        id="reserved-time-as-number",
    ),
    pytest.param(
        document(reserved=[reserved(since="2025-03-01T12:00:00+01:00")]),
        "expected a UTC time like",
        id="reserved-time-with-offset",
    ),
    pytest.param(
        document(reserved=[reserved(since="2025-02-30T12:00:00Z")]),
        "reserved[0].missingSince: '2025-02-30T12:00:00Z' is not a valid time",
        id="reserved-time-impossible-date",
    ),
    pytest.param(
        document(entry(node="a"), reserved=[reserved(node="a", ipv4="10.0.1.0/24")]),
        "node 'a' appears more than once",
        id="node-live-and-reserved",
    ),
    pytest.param(
        document(entry(node="a"), reserved=[reserved(node="b", ipv4="10.0.0.0/25")]),
        "block 10.0.0.0/25 of node 'b' overlaps block 10.0.0.0/24 of node 'a'",
        id="reserved-overlaps-live",
    ),
    pytest.param(
        document(reserved=[reserved(ipv4="10.0.0.1/24")]),
        "reserved[0] (node 'n1').ipv4: '10.0.0.1/24' has host bits",
        id="reserved-host-bits",
    ),
    pytest.param(document("n1"), "nodes[0]: expected an object, found a string", id="entry-not-object"),
    pytest.param(document(entry(ipv6="<absent>")), "nodes[0]: missing field(s) 'ipv6'", id="missing-field"),
    pytest.param(document(entry(zone="z")), "nodes[0]: unknown field(s) 'zone'", id="unknown-field"),
    pytest.param(
        document(entry(node=7)), "nodes[0].node: expected a string, found a number", id="node-not-text"
    ),
    pytest.param(document(entry(node="")), "nodes[0]: node name is empty", id="node-empty"),
    pytest.param(
        document(entry(config=None)), "nodes[0].config: expected a string, found null", id="config-null"
    ),
    pytest.param(document(entry(config="")), "config name is empty", id="config-empty"),
    pytest.param(
        document(entry(ipv4=167772160)), "nodes[0].ipv4: expected a CIDR string or null", id="cidr-as-int"
    ),
    pytest.param(document(entry(ipv4=None)), "holds no block (ipv4 and ipv6 are both null)", id="no-block"),
    pytest.param(document(entry(ipv4="10.0.0.0/33")), "prefix length 33 exceeds 32", id="prefix-too-long"),
    pytest.param(
        document(entry(ipv4="10.0.0.0")), "is not a CIDR (expected address/prefix-length)", id="no-prefix"
    ),
    pytest.param(document(entry(ipv4="10.0.0.0/-1")), "is not a CIDR", id="negative-prefix"),
    pytest.param(document(entry(ipv4="10.0.0.0/255.255.255.0")), "is not a CIDR", id="netmask-form"),
    pytest.param(document(entry(ipv4="banana/24")), "'banana' is not an IP address", id="not-an-address"),
    pytest.param(document(entry(ipv4="10.0.0.256/24")), "is not an IP address", id="octet-too-big"),
    pytest.param(document(entry(ipv4="010.0.0.0/24")), "is not an IP address", id="leading-zero"),
    pytest.param(document(entry(ipv6="fe80::%eth0/64")), "is not an IP address", id="ipv6-scope"),
    pytest.param(
        document(entry(ipv4="10.0.0.1/24")), "has host bits set (the network is 10.0.0.0/24)", id="host-bits"
    ),
    pytest.param(
        document(entry(ipv4="fd00::/64")), "nodes[0] (node 'n1').ipv4: 'fd00::/64' is an IPv6", id="v6-in-v4"
    ),
    pytest.param(document(entry(ipv6="10.1.0.0/24")), ".ipv6: '10.1.0.0/24' is an IPv4 CIDR", id="v4-in-v6"),
    pytest.param(
        document(entry(node="a", ipv4="10.0.0.0/24"), entry(node="a", ipv4="10.0.1.0/24")),
        "node 'a' appears more than once",
        id="duplicate-node",
    ),
    pytest.param(
        document(entry(node="a", ipv4="10.0.0.0/24"), entry(node="b", ipv4="10.0.0.0/24")),
        "block 10.0.0.0/24 of node 'b' overlaps block 10.0.0.0/24 of node 'a'",
        id="same-block-twice",
    ),
    pytest.param(
        document(entry(node="a", ipv4="10.0.0.0/16"), entry(node="b", ipv4="10.0.200.0/24")),
        "block 10.0.200.0/24 of node 'b' overlaps block 10.0.0.0/16 of node 'a'",
        id="nested-blocks",
    ),
    pytest.param(
        document(
            entry(node="a", ipv4="10.0.0.0/8"),
            entry(node="b", ipv4="10.1.0.0/24"),
            entry(node="c", ipv4="10.200.0.0/24"),
        ),
        "overlaps block 10.0.0.0/8 of node 'a'",
        id="big-block-covers-two",
    ),
    pytest.param(
        document(
            entry(node="a", ipv4=None, ipv6="fd00::/64"), entry(node="b", ipv4=None, ipv6="fd00::1:0/112")
        ),
        "block fd00::1:0/112 of node 'b' overlaps block fd00::/64 of node 'a'",
        id="ipv6-overlap",
    ),
]


@pytest.mark.parametrize(("text", "message"), CORRUPT)
def test_corrupt_ledger_is_refused_with_its_reason(text: str, message: str) -> None:
    with pytest.raises(LedgerError, match=re.escape(message)):
        Ledger.from_json(text)


def test_of_checks_like_from_json() -> None:
    with pytest.raises(LedgerError, match="appears more than once"):
        Ledger.of([ENTRIES[0], ENTRIES[0]])
    with pytest.raises(LedgerError, match="overlaps"):
        Ledger.of([NodeAllocation("x", "p", "192.168.0.0/16", None), *ENTRIES])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=12),
            st.sampled_from(["pods", "rack-1", 'q"uote', "ünï"]),
            st.one_of(st.none(), st.integers(0, 255).map(lambda n: f"10.{n}.0.0/24")),
            st.one_of(st.none(), st.integers(0, 255).map(lambda n: f"fd00:{n:x}::/64")),
        ),
        max_size=12,
        unique_by=lambda item: item[0],
    ),
    st.integers(0, 2**32),
)
def test_ledger_text_is_to_json_byte_for_byte_as_entries_come_and_go(
    rows: list[tuple[str, str, str | None, str | None]], seed: int
) -> None:
    rng = random.Random(seed)
    text = LedgerText()
    for _ in range(3):
        entries = tuple(
            sorted(
                (NodeAllocation(n, c, v4, v6) for n, c, v4, v6 in rows if (v4 or v6) and rng.random() < 0.8),
                key=lambda e: e.node,
            )
        )
        reserved = tuple(
            Reservation(e, 1_700_000_000 + i) for i, e in enumerate(entries) if rng.random() < 0.3
        )
        ledger = Ledger(tuple(e for e in entries if all(r.allocation is not e for r in reserved)), reserved)
        assert text.render(ledger) == ledger.to_json()
