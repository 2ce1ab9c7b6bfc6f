"""Reservations and pinned blocks: a missing node's blocks stay its own for the reservation time, a
node that comes back gets them back, and a Node document's blocks override the ledger, loudly."""

from __future__ import annotations

import re

import pytest

from bgpd.rib.allocator import (
    AllocationResult,
    CidrConfig,
    CidrRange,
    Ledger,
    NodeAllocation,
    NodeSpec,
    Reservation,
    allocate,
)

HOUR = 3600
T0 = 1_740_830_400  # 2025-03-01T12:00:00Z
POOL = [CidrConfig("pool", (), CidrRange("10.0.0.0/16", 24), None)]
DUAL = [CidrConfig("pool", (), CidrRange("10.0.0.0/16", 24), CidrRange("fd00::/112", 120))]


def nodes(*names: str) -> list[NodeSpec]:
    return [NodeSpec(name, ()) for name in names]


def blocks(result: AllocationResult) -> dict[str, str | None]:
    return {a.node: a.ipv4 for a in result.allocations}


def problems(result: AllocationResult) -> dict[str, str]:
    return {p.node: p.reason for p in result.problems}


def start(*names: str) -> Ledger:
    return allocate(nodes(*names), POOL, Ledger.empty(), now=T0, reservation_time=HOUR).ledger


def test_missing_node_is_reserved_and_its_block_not_given_to_a_new_node() -> None:
    ledger = start("a", "b", "c")
    result = allocate(nodes("a", "c", "d"), POOL, ledger, now=T0 + 60, reservation_time=HOUR)
    assert blocks(result) == {"a": "10.0.0.0/24", "c": "10.0.2.0/24", "d": "10.0.3.0/24"}
    assert result.ledger.reserved == (Reservation(NodeAllocation("b", "pool", "10.0.1.0/24", None), T0 + 60),)
    assert result.problems == ()


def test_node_that_comes_back_gets_its_block_back_even_after_others_joined() -> None:
    ledger = start("a", "b", "c")
    gone = allocate(nodes("a", "c"), POOL, ledger, now=T0 + 60, reservation_time=HOUR).ledger
    joined = allocate(nodes("a", "aa", "c"), POOL, gone, now=T0 + 120, reservation_time=HOUR).ledger
    back = allocate(nodes("a", "aa", "b", "c"), POOL, joined, now=T0 + 180, reservation_time=HOUR)
    assert blocks(back) == {"a": "10.0.0.0/24", "aa": "10.0.3.0/24", "b": "10.0.1.0/24", "c": "10.0.2.0/24"}
    assert back.ledger.reserved == ()


def test_reservation_keeps_its_first_time_across_later_plans_and_ends_after_the_reservation_time() -> None:
    gone = allocate(nodes("a"), POOL, start("a", "b"), now=T0, reservation_time=HOUR).ledger
    later = allocate(nodes("a"), POOL, gone, now=T0 + HOUR - 1, reservation_time=HOUR)
    assert [(r.node, r.missing_since) for r in later.ledger.reserved] == [("b", T0)]
    assert blocks(
        allocate(nodes("a", "new"), POOL, later.ledger, now=T0 + HOUR - 1, reservation_time=HOUR)
    ) == {
        "a": "10.0.0.0/24",
        "new": "10.0.2.0/24",
    }
    expired = allocate(nodes("a", "new"), POOL, later.ledger, now=T0 + HOUR, reservation_time=HOUR)
    assert expired.ledger.reserved == ()
    assert blocks(expired)["new"] == "10.0.1.0/24"  # free again: the lowest block


def test_zero_reservation_time_frees_a_missing_nodes_block_at_once() -> None:
    result = allocate(nodes("a", "new"), POOL, start("a", "b"), now=T0, reservation_time=0)
    assert blocks(result)["new"] == "10.0.1.0/24" and result.ledger.reserved == ()


def test_a_clock_that_went_backwards_never_ends_a_reservation_early() -> None:
    gone = allocate(nodes("a"), POOL, start("a", "b"), now=T0, reservation_time=HOUR).ledger
    earlier = allocate(nodes("a"), POOL, gone, now=T0 - 10 * HOUR, reservation_time=HOUR)
    assert [r.node for r in earlier.ledger.reserved] == ["b"]


def test_released_reservation_frees_the_block() -> None:
    gone = allocate(nodes("a"), POOL, start("a", "b"), now=T0, reservation_time=HOUR).ledger
    result = allocate(nodes("a", "new"), POOL, gone.release("b"), now=T0 + 1, reservation_time=HOUR)
    assert blocks(result)["new"] == "10.0.1.0/24"


def test_reserved_blocks_count_as_used_when_configs_are_full() -> None:
    tiny = [CidrConfig("tiny", (), CidrRange("10.0.0.0/23", 24), None)]
    ledger = allocate(nodes("a", "b"), tiny, Ledger.empty(), now=T0, reservation_time=HOUR).ledger
    result = allocate(nodes("a", "c"), tiny, ledger, now=T0, reservation_time=HOUR)
    assert blocks(result) == {"a": "10.0.0.0/24"}
    assert "no free pod CIDR block" in problems(result)["c"]


# --- pinned blocks (Node documents) ---------------------------------------------------------------


def test_pinned_blocks_win_over_the_ledger_and_the_contradiction_names_both_cidrs() -> None:
    ledger = Ledger.of(
        [NodeAllocation("n3", "pool", "10.0.1.0/24", None), NodeAllocation("n4", "pool", "10.0.2.0/24", None)]
    )
    pinned = {"n3": ("10.0.2.0/24", None), "n4": ("10.0.1.0/24", None)}
    result = allocate(nodes("n3", "n4"), POOL, ledger, now=T0, reservation_time=HOUR, pinned=pinned)
    assert blocks(result) == {"n3": "10.0.2.0/24", "n4": "10.0.1.0/24"}
    said = "this gateway's ledger contradicts the file: ipv4 ledger {}, Node document {}: " + (
        "the file wins (announced and recorded as in the file)"
    )
    assert problems(result) == {
        "n3": said.format("10.0.1.0/24", "10.0.2.0/24"),
        "n4": said.format("10.0.2.0/24", "10.0.1.0/24"),
    }
    assert result.ledger.entries == result.allocations
    again = allocate(nodes("n3", "n4"), POOL, result.ledger, now=T0, reservation_time=HOUR, pinned=pinned)
    assert again.problems == ()  # the ledger now agrees: said once


def test_pinned_node_gets_no_block_beyond_its_node_document() -> None:
    result = allocate(nodes("n1"), DUAL, Ledger.empty(), pinned={"n1": ("10.0.5.0/24", None)})
    assert result.allocations == (NodeAllocation("n1", "pool", "10.0.5.0/24", None),)
    dropped = Ledger.of([NodeAllocation("n1", "pool", "10.0.5.0/24", "fd00::/120")])
    result = allocate(nodes("n1"), DUAL, dropped, pinned={"n1": ("10.0.5.0/24", None)})
    assert result.allocations == (NodeAllocation("n1", "pool", "10.0.5.0/24", None),)
    assert "ipv6 ledger fd00::/120, Node document none" in problems(result)["n1"]


def test_block_pinned_to_one_node_is_taken_from_another_in_the_ledger() -> None:
    ledger = Ledger.of(
        [NodeAllocation("n1", "pool", "10.0.0.0/24", None)],
        [Reservation(NodeAllocation("gone", "pool", "10.0.1.0/24", None), T0)],
    )
    pinned = {"n2": ("10.0.0.0/24", None), "n3": ("10.0.1.0/24", None)}
    result = allocate(nodes("n1", "n2", "n3"), POOL, ledger, now=T0, reservation_time=HOUR, pinned=pinned)
    assert blocks(result) == {"n1": "10.0.2.0/24", "n2": "10.0.0.0/24", "n3": "10.0.1.0/24"}
    assert result.ledger.reserved == ()
    reasons = problems(result)
    assert (
        "overlaps ipv4 10.0.0.0/24, which this gateway's ledger gave to node 'n1' (present)" in reasons["n2"]
    )
    assert (
        "overlaps ipv4 10.0.1.0/24, which this gateway's ledger gave to node 'gone' (reserved since "
        "2025-03-01T12:00:00Z): the file wins, taken from 'gone'" in reasons["n3"]
    )


def test_pinned_block_covering_part_of_another_block_takes_it_too() -> None:
    ledger = Ledger.of([NodeAllocation("n1", "old", "10.0.0.0/23", None)])
    result = allocate(nodes("n1", "n2"), POOL, ledger, pinned={"n2": ("10.0.1.0/24", None)})
    assert blocks(result) == {"n1": "10.0.0.0/24", "n2": "10.0.1.0/24"}
    assert "taken from 'n1'" in problems(result)["n2"]


def test_pinned_node_that_was_reserved_comes_back_with_the_file_blocks() -> None:
    ledger = Ledger.of([], [Reservation(NodeAllocation("n1", "pool", "10.0.1.0/24", None), T0)])
    result = allocate(
        nodes("n1"), POOL, ledger, now=T0, reservation_time=HOUR, pinned={"n1": ("10.0.1.0/24", None)}
    )
    assert blocks(result) == {"n1": "10.0.1.0/24"} and result.problems == () and result.ledger.reserved == ()


@pytest.mark.parametrize(
    ("pinned", "message"),
    [
        ({"ghost": ("10.0.0.0/24", None)}, "pinned node(s) 'ghost' are not in the node list"),
        (
            {"a": ("10.0.0.0/24", None), "b": ("10.0.0.0/25", None)},
            "pinned blocks: block 10.0.0.0/25 of node 'b' overlaps block 10.0.0.0/24 of node 'a'",
        ),
        ({"a": ("10.0.0.1/24", None)}, "pinned blocks: ledger entry for node 'a'"),
        ({"a": (None, None)}, "pinned node(s) 'a' are pinned to no block"),
    ],
)
def test_pinned_blocks_that_validation_must_refuse_are_a_value_error(
    pinned: dict[str, tuple[str | None, str | None]], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        allocate(nodes("a", "b"), POOL, Ledger.empty(), pinned=pinned)


def test_reservations_are_kept_sorted_so_equal_ledgers_compare_equal() -> None:
    gone_b = allocate(nodes("a", "c"), POOL, start("a", "b", "c"), now=T0, reservation_time=HOUR).ledger
    gone_a = allocate(nodes("c"), POOL, gone_b, now=T0 + 1, reservation_time=HOUR).ledger
    assert [r.node for r in gone_a.reserved] == ["a", "b"]
    assert Ledger.from_json(gone_a.to_json()) == gone_a
