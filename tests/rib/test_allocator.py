"""Pod-CIDR allocation: precedence, fall-through, exhaustion, stability, determinism, arithmetic, speed."""

from __future__ import annotations

import random
import re
import time
from dataclasses import replace

import pytest

from bgpd.rib.allocator import (
    AllocationProblem,
    AllocationResult,
    CidrConfig,
    CidrRange,
    Ledger,
    LedgerError,
    NodeAllocation,
    NodeSpec,
    allocate,
)

POOL = "baremetal.cluster.gke.io/node-pool"


def node(name: str, **labels: str) -> NodeSpec:
    return NodeSpec(name, tuple(sorted(labels.items())))


def config(
    name: str,
    v4: tuple[str, int] | None = None,
    v6: tuple[str, int] | None = None,
    **selector: str,
) -> CidrConfig:
    return CidrConfig(
        name=name,
        selector=tuple(sorted(selector.items())),
        ipv4=CidrRange(*v4) if v4 is not None else None,
        ipv6=CidrRange(*v6) if v6 is not None else None,
    )


def by_node(result: AllocationResult) -> dict[str, NodeAllocation]:
    return {a.node: a for a in result.allocations}


def problems(result: AllocationResult) -> dict[str, str]:
    return {p.node: p.reason for p in result.problems}


# --- which config serves a node -------------------------------------------------------------------

NODE_LABELS = {"pool": "a", "zone": "z", "rack": "r1"}

PRECEDENCE_CASES = [
    pytest.param(
        [
            config("one-label", ("10.0.0.0/24", 26), pool="a"),
            config("two-labels", ("10.1.0.0/16", 24), pool="a", zone="z"),
        ],
        "two-labels",
        "10.1.0.0/24",
        id="most-matching-labels-beats-smaller-capacity",
    ),
    pytest.param(
        [config("everyone", ("10.0.0.0/28", 30)), config("pool-a", ("10.1.0.0/16", 24), pool="a")],
        "pool-a",
        "10.1.0.0/24",
        id="empty-selector-is-only-the-fallback",
    ),
    pytest.param(
        [config("wrong-pool", ("10.0.0.0/28", 30), pool="b"), config("everyone", ("10.1.0.0/16", 24))],
        "everyone",
        "10.1.0.0/24",
        id="selector-that-does-not-match-is-never-used",
    ),
    pytest.param(
        [
            config("superset", ("10.0.0.0/28", 30), pool="a", gpu="yes"),
            config("everyone", ("10.1.0.0/16", 24)),
        ],
        "everyone",
        "10.1.0.0/24",
        id="every-selector-label-must-match",
    ),
    pytest.param(
        [config("big", ("10.0.0.0/16", 24), pool="a"), config("small", ("10.1.0.0/20", 24), zone="z")],
        "small",
        "10.1.0.0/24",
        id="equal-labels-fewer-allocatable-blocks-wins",
    ),
    pytest.param(
        [
            config("v4-only-16", ("10.0.0.0/20", 24), pool="a"),
            config("dual-cap-1", ("10.1.0.0/16", 24), ("fd00::/120", 120), zone="z"),
        ],
        "dual-cap-1",
        "10.1.0.0/24",
        id="capacity-is-the-smaller-family",
    ),
    pytest.param(
        [
            config("slash-24", ("10.0.0.0/16", 24), pool="a"),
            config("slash-25", ("10.1.0.0/17", 25), zone="z"),
        ],
        "slash-25",
        "10.1.0.0/25",
        id="equal-capacity-smaller-block-wins",
    ),
    pytest.param(
        [config("zone", ("10.0.0.0/16", 24), zone="z"), config("pool", ("10.1.0.0/16", 24), pool="a")],
        "pool",
        "10.1.0.0/24",
        id="then-lower-selector-text",
    ),
    pytest.param(
        [config("ten", ("10.0.0.0/16", 24), pool="a"), config("nine", ("9.0.0.0/16", 24), pool="a")],
        "nine",
        "9.0.0.0/24",
        id="then-lower-range-numerically-not-as-text",
    ),
    pytest.param(
        [config("b", ("10.0.0.0/16", 24), pool="a"), config("a", ("10.0.0.0/16", 24), pool="a")],
        "a",
        "10.0.0.0/24",
        id="then-name",
    ),
    pytest.param(
        [config("v6-only", v6=("fd00::/112", 120), pool="a"), config("v4", ("10.0.0.0/16", 24), pool="a")],
        "v4",
        "10.0.0.0/24",
        id="ranges-of-different-families-ordered-v4-first",
    ),
]


@pytest.mark.parametrize(("configs", "expected_config", "expected_block"), PRECEDENCE_CASES)
def test_precedence(configs: list[CidrConfig], expected_config: str, expected_block: str) -> None:
    for ordering in (configs, configs[::-1]):  # the order configs are listed in never matters
        result = allocate([node("n1", **NODE_LABELS)], ordering, Ledger.empty())
        assert result.problems == ()
        (allocation,) = result.allocations
        assert allocation.config == expected_config
        assert (allocation.ipv4 or allocation.ipv6) == expected_block


def test_node_gets_every_family_from_one_config() -> None:
    configs = [
        config("v4-pool", ("10.0.0.0/16", 24), pool="a"),
        config("dual-everyone", ("10.9.0.0/16", 24), ("fd00::/48", 64)),
    ]
    result = allocate([node("n1", pool="a"), node("n2", pool="b")], configs, Ledger.empty())
    assert by_node(result) == {
        "n1": NodeAllocation("n1", "v4-pool", "10.0.0.0/24", None),
        "n2": NodeAllocation("n2", "dual-everyone", "10.9.0.0/24", "fd00::/64"),
    }


# --- fall-through and exhaustion ------------------------------------------------------------------


def test_full_config_falls_through_to_next_match() -> None:
    configs = [config("tiny", ("10.0.0.0/24", 24), pool="a"), config("everyone", ("10.1.0.0/16", 24))]
    result = allocate([node("n1", pool="a"), node("n2", pool="a")], configs, Ledger.empty())
    assert by_node(result) == {
        "n1": NodeAllocation("n1", "tiny", "10.0.0.0/24", None),
        "n2": NodeAllocation("n2", "everyone", "10.1.0.0/24", None),
    }
    assert result.problems == ()


def test_one_full_family_makes_the_config_full_and_takes_nothing_from_it() -> None:
    configs = [
        config("v6-tiny", ("10.0.0.0/16", 24), ("fd00::/120", 120), pool="a"),
        config("fallback", ("10.1.0.0/16", 24), ("fd01::/112", 120)),
        config("v4-later", ("10.0.0.0/16", 24), pool="b"),  # shares v4 range: shows what stayed free
    ]
    nodes = [node("n1", pool="a"), node("n2", pool="a"), node("n3", pool="b")]
    result = allocate(nodes, configs, Ledger.empty())
    assert by_node(result) == {
        "n1": NodeAllocation("n1", "v6-tiny", "10.0.0.0/24", "fd00::/120"),
        "n2": NodeAllocation("n2", "fallback", "10.1.0.0/24", "fd01::/120"),
        "n3": NodeAllocation("n3", "v4-later", "10.0.1.0/24", None),  # n2 did not consume 10.0.1.0/24
    }


def test_exhaustion_is_reported_per_node_and_others_are_served() -> None:
    configs = [
        config("pool-a", ("10.0.0.0/23", 24), pool="a"),
        config("pool-b", ("10.1.0.0/16", 24), pool="b"),
    ]
    nodes = [node("a1", pool="a"), node("a2", pool="a"), node("a3", pool="a"), node("b1", pool="b")]
    result = allocate(nodes, configs, Ledger.empty())
    assert sorted(by_node(result)) == ["a1", "a2", "b1"]
    assert [p.node for p in result.problems] == ["a3"]
    reason = problems(result)["a3"]
    assert "no free pod CIDR block" in reason
    assert "'pool-a'" in reason and "10.0.0.0/23 has no free /24" in reason
    assert "pool-b" not in reason  # only configs that select the node were tried
    assert result.ledger.entries == result.allocations


def test_exhaustion_names_every_config_tried() -> None:
    configs = [config("first", ("10.0.0.0/24", 24), pool="a"), config("last", v6=("fd00::/64", 64))]
    nodes = [node("n1", pool="a"), node("n2", pool="a"), node("n3", pool="a")]
    result = allocate(nodes, configs, Ledger.empty())
    assert problems(result) == {
        "n3": "no free pod CIDR block in any matching ClusterCIDRConfig: "
        "'first' (ipv4 10.0.0.0/24 has no free /24 block), 'last' (ipv6 fd00::/64 has no free /64 block)"
    }


def test_node_matching_no_config_is_a_problem() -> None:
    result = allocate(
        [node("n1", pool="x")], [config("pool-a", ("10.0.0.0/16", 24), pool="a")], Ledger.empty()
    )
    assert result.allocations == ()
    assert result.problems == (
        AllocationProblem("n1", "no ClusterCIDRConfig nodeSelector matches this node's labels"),
    )


def test_exhausted_node_is_served_once_a_block_is_released() -> None:
    configs = [config("pool", ("10.0.0.0/24", 24))]
    first = allocate([node("a"), node("b")], configs, Ledger.empty())
    assert [p.node for p in first.problems] == ["b"]
    second = allocate([node("b")], configs, first.ledger)
    assert by_node(second) == {"b": NodeAllocation("b", "pool", "10.0.0.0/24", None)}


# --- stability ------------------------------------------------------------------------------------

CONFIGS = [config("pool", ("10.0.0.0/16", 24), ("fd00::/112", 120))]


def test_existing_nodes_keep_blocks_when_earlier_sorting_nodes_join() -> None:
    first = allocate([node("m"), node("n")], CONFIGS, Ledger.empty())
    second = allocate([node("a"), node("m"), node("n"), node("b")], CONFIGS, first.ledger)
    assert by_node(second)["m"] == by_node(first)["m"]
    assert by_node(second)["n"] == by_node(first)["n"]
    assert by_node(second)["a"].ipv4 == "10.0.2.0/24"
    assert by_node(second)["b"].ipv4 == "10.0.3.0/24"


def test_removed_node_is_released_and_its_block_reused_lowest_first() -> None:
    first = allocate([node("a"), node("b"), node("c")], CONFIGS, Ledger.empty())
    second = allocate([node("a"), node("c")], CONFIGS, first.ledger)
    assert [e.node for e in second.ledger.entries] == ["a", "c"]
    third = allocate([node("a"), node("c"), node("d")], CONFIGS, second.ledger)
    assert by_node(third)["d"] == NodeAllocation("d", "pool", "10.0.1.0/24", "fd00::100/120")
    assert by_node(third)["a"] == by_node(first)["a"] and by_node(third)["c"] == by_node(first)["c"]


def test_block_stays_when_selectors_change() -> None:
    before = [config("pool-a", ("10.0.0.0/16", 24), pool="a"), config("rest", ("10.1.0.0/16", 24))]
    first = allocate([node("n1", pool="a")], before, Ledger.empty())
    after = [config("pool-a", ("10.0.0.0/16", 24), pool="renamed"), config("rest", ("10.1.0.0/16", 24))]
    second = allocate([node("n1", pool="a"), node("n2", pool="renamed")], after, first.ledger)
    assert by_node(second)["n1"] == NodeAllocation("n1", "pool-a", "10.0.0.0/24", None)
    assert by_node(second)["n2"].ipv4 == "10.0.1.0/24"  # the kept block is not handed out again
    assert second.problems == ()


def test_renamed_config_keeps_blocks_and_records_new_name() -> None:
    first = allocate([node("n1")], [config("old", ("10.0.0.0/16", 24))], Ledger.empty())
    second = allocate([node("n1")], [config("new", ("10.0.0.0/16", 24))], first.ledger)
    assert second.allocations == (NodeAllocation("n1", "new", "10.0.0.0/24", None),)
    assert second.problems == ()


def test_block_under_two_identical_ranges_stays_with_its_recorded_config() -> None:
    ledger = Ledger.of([NodeAllocation("n1", "second", "10.0.0.0/24", None)])
    configs = [config("first", ("10.0.0.0/16", 24)), config("second", ("10.0.0.0/16", 24), ("fd00::/48", 64))]
    result = allocate([node("n1")], configs, ledger)
    assert result.allocations == (NodeAllocation("n1", "second", "10.0.0.0/24", "fd00::/64"),)


KEPT = "kept, because a node is never renumbered while it is in the file (docs/allocation.md)"


def test_removed_config_keeps_the_block_and_reports() -> None:
    first = allocate([node("n1")], [config("old", ("10.0.0.0/16", 24))], Ledger.empty())
    second = allocate([node("n1"), node("n2")], [config("new", ("10.0.0.0/8", 16))], first.ledger)
    assert by_node(second) == {
        "n1": NodeAllocation("n1", "old", "10.0.0.0/24", None),
        "n2": NodeAllocation("n2", "new", "10.1.0.0/16", None),  # 10.0.0.0/16 would cover n1's block
    }
    assert problems(second) == {
        "n1": "ipv4 10.0.0.0/24 (recorded under 'old') is no longer a per-node block of any "
        f"ClusterCIDRConfig: {KEPT}"
    }
    assert second.ledger.entries == second.allocations


def test_removed_config_with_no_config_for_the_node_keeps_the_block() -> None:
    first = allocate([node("n1", pool="a")], [config("old", ("10.0.0.0/16", 24))], Ledger.empty())
    second = allocate([node("n1", pool="a")], [config("other", ("10.5.0.0/16", 24), pool="b")], first.ledger)
    assert second.allocations == (NodeAllocation("n1", "old", "10.0.0.0/24", None),)
    assert "10.0.0.0/24 (recorded under 'old') is no longer" in problems(second)["n1"]


def test_changed_per_node_mask_keeps_the_old_block_and_new_nodes_avoid_it() -> None:
    first = allocate([node("n1")], [config("pool", ("10.0.0.0/16", 24))], Ledger.empty())
    second = allocate([node("n1"), node("n2")], [config("pool", ("10.0.0.0/16", 26))], first.ledger)
    assert by_node(second) == {
        "n1": NodeAllocation("n1", "pool", "10.0.0.0/24", None),
        "n2": NodeAllocation("n2", "pool", "10.0.1.0/26", None),
    }
    assert KEPT in problems(second)["n1"]


def test_changed_ipv6_range_keeps_both_blocks_and_says_so() -> None:
    first = allocate([node("n1"), node("n2")], CONFIGS, Ledger.empty())
    changed = [config("pool", ("10.0.0.0/16", 24), ("fd99::/112", 120))]
    second = allocate([node("n1"), node("n2"), node("n3")], changed, first.ledger)
    assert by_node(second) == {
        "n1": NodeAllocation("n1", "pool", "10.0.0.0/24", "fd00::/120"),
        "n2": NodeAllocation("n2", "pool", "10.0.1.0/24", "fd00::100/120"),
        "n3": NodeAllocation("n3", "pool", "10.0.2.0/24", "fd99::/120"),
    }
    assert problems(second)["n1"] == (
        "ipv6 fd00::/120 (recorded under 'pool') is no longer a per-node block of any "
        f"ClusterCIDRConfig: {KEPT}"
    )


def test_block_outside_every_config_still_fills_a_missing_family_from_the_selecting_config() -> None:
    ledger = Ledger.of([NodeAllocation("n1", "gone", "10.0.0.0/24", None)])
    result = allocate([node("n1")], [config("dual", ("10.5.0.0/16", 24), ("fd00::/112", 120))], ledger)
    assert result.allocations == (NodeAllocation("n1", "dual", "10.0.0.0/24", "fd00::/120"),)


def test_family_removed_from_config_keeps_that_block() -> None:
    first = allocate([node("n1")], CONFIGS, Ledger.empty())
    second = allocate([node("n1")], [config("pool", ("10.0.0.0/16", 24))], first.ledger)
    assert second.allocations == (NodeAllocation("n1", "pool", "10.0.0.0/24", "fd00::/120"),)
    assert "ipv6 fd00::/120" in problems(second)["n1"]


def test_family_added_to_config_is_filled_without_moving_the_other() -> None:
    first = allocate([node("n1")], [config("pool", ("10.0.0.0/16", 24))], Ledger.empty())
    second = allocate([node("n1")], [config("pool", ("10.0.0.0/16", 24), ("fd00::/64", 64))], first.ledger)
    assert second.allocations == (NodeAllocation("n1", "pool", "10.0.0.0/24", "fd00::/64"),)
    assert second.problems == ()


def test_family_added_but_full_keeps_what_the_node_has_and_reports() -> None:
    first = allocate([node("n1"), node("n2")], [config("pool", ("10.0.0.0/16", 24))], Ledger.empty())
    second = allocate(
        [node("n1"), node("n2")], [config("pool", ("10.0.0.0/16", 24), ("fd00::/64", 64))], first.ledger
    )
    assert by_node(second) == {
        "n1": NodeAllocation("n1", "pool", "10.0.0.0/24", "fd00::/64"),
        "n2": NodeAllocation("n2", "pool", "10.0.1.0/24", None),
    }
    assert problems(second) == {
        "n2": "no ipv6 block: in ClusterCIDRConfig 'pool', ipv6 fd00::/64 has no free /64 block"
    }


def test_blocks_split_across_configs_are_both_kept() -> None:
    first = allocate([node("n1")], CONFIGS, Ledger.empty())
    split = [config("v4", ("10.0.0.0/16", 24)), config("v6", v6=("fd00::/112", 120))]
    second = allocate([node("n1")], split, first.ledger)
    assert second.allocations == (NodeAllocation("n1", "v4", "10.0.0.0/24", "fd00::/120"),)
    assert second.problems == ()


def test_kept_blocks_leave_holes_that_new_nodes_skip_and_fill() -> None:
    ledger = Ledger.of(
        [
            NodeAllocation("keep-1", "pool", "10.0.1.0/24", "fd00::100/120"),
            NodeAllocation("keep-3", "pool", "10.0.3.0/24", "fd00::300/120"),
        ]
    )
    nodes = [node("keep-1"), node("keep-3"), node("new-a"), node("new-b"), node("new-c")]
    result = allocate(nodes, CONFIGS, ledger)
    assert [(a.node, a.ipv4, a.ipv6) for a in result.allocations] == [
        ("keep-1", "10.0.1.0/24", "fd00::100/120"),
        ("keep-3", "10.0.3.0/24", "fd00::300/120"),
        ("new-a", "10.0.0.0/24", "fd00::/120"),
        ("new-b", "10.0.2.0/24", "fd00::200/120"),
        ("new-c", "10.0.4.0/24", "fd00::400/120"),
    ]


# --- determinism ----------------------------------------------------------------------------------


def test_same_ledger_and_input_give_the_same_result_in_any_input_order() -> None:
    configs = [
        config(f"pool-{p}", (f"10.{p}.0.0/22", 24), (f"fd0{p}::/118", 120), pool=str(p)) for p in range(3)
    ] + [config("rest", ("10.9.0.0/16", 24), ("fd09::/112", 120))]
    nodes = [node(f"n{i:02}", pool=str(i % 4)) for i in range(20)]
    base = allocate(nodes, configs, Ledger.empty())
    rng = random.Random(7)
    for _ in range(5):
        shuffled_nodes, shuffled_configs = nodes[:], configs[:]
        rng.shuffle(shuffled_nodes)
        rng.shuffle(shuffled_configs)
        assert allocate(shuffled_nodes, shuffled_configs, Ledger.empty()) == base
    assert [a.node for a in base.allocations] == sorted(a.node for a in base.allocations)
    assert base.problems == ()
    # pool 0 has four blocks per family for its five nodes: the last by name falls through
    assert [(a.node, a.config) for a in base.allocations if a.node in {"n00", "n12", "n16"}] == [
        ("n00", "pool-0"),
        ("n12", "pool-0"),
        ("n16", "rest"),
    ]


# --- address arithmetic ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("v6_range", "mask", "expected"),
    [
        ("2222:3::/112", 120, ["2222:3::/120", "2222:3::100/120", "2222:3::200/120"]),
        ("fd00:1::/48", 64, ["fd00:1::/64", "fd00:1:0:1::/64", "fd00:1:0:2::/64"]),
        ("::/0", 128, ["::/128", "::1/128", "::2/128"]),
        ("2001:db8::/32", 33, ["2001:db8::/33", "2001:db8:8000::/33"]),
    ],
)
def test_ipv6_blocks(v6_range: str, mask: int, expected: list[str]) -> None:
    nodes = [node(f"n{i}") for i in range(len(expected))]
    result = allocate(nodes, [config("v6", v6=(v6_range, mask))], Ledger.empty())
    assert [a.ipv6 for a in result.allocations] == expected


def test_host_bits_in_a_range_are_masked_like_kubernetes() -> None:
    result = allocate([node("n1")], [config("pool", ("10.0.3.7/16", 24))], Ledger.empty())
    assert result.allocations[0].ipv4 == "10.0.0.0/24"


def test_whole_range_as_one_block() -> None:
    result = allocate([node("a"), node("b")], [config("pool", ("10.0.0.0/24", 24))], Ledger.empty())
    assert [a.ipv4 for a in result.allocations] == ["10.0.0.0/24"]
    assert [p.node for p in result.problems] == ["b"]


@pytest.mark.parametrize("preferred", ["small", "big"])
def test_overlapping_ranges_never_yield_overlapping_blocks(preferred: str) -> None:
    """Manifest validation refuses overlapping ranges; the allocator stays safe even so."""
    small, big = config("small", ("10.0.0.0/23", 24)), config("big", ("10.0.0.0/8", 16))
    if preferred == "small":
        small = replace(small, selector=(("pool", "a"),))
    else:
        big = replace(big, selector=(("pool", "a"),))
    nodes = [node(f"n{i}", pool="a") for i in range(4)] + [node("x")]  # x matches only an empty selector
    result = allocate(nodes, [small, big], Ledger.empty())
    blocks = {a.node: a.ipv4 for a in result.allocations}
    if preferred == "small":
        assert blocks == {
            "n0": "10.0.0.0/24",
            "n1": "10.0.1.0/24",
            "n2": "10.1.0.0/16",
            "n3": "10.2.0.0/16",
            "x": "10.3.0.0/16",
        }
    else:
        assert blocks == {"n0": "10.0.0.0/16", "n1": "10.1.0.0/16", "n2": "10.2.0.0/16", "n3": "10.3.0.0/16"}
        assert "'small' (ipv4 10.0.0.0/23 has no free /24 block)" in problems(result)["x"]


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configs", "nodes", "message"),
    [
        (
            [config("a", ("10.0.0.0/16", 24)), config("a", ("10.1.0.0/16", 24))],
            [],
            "'a' is listed more than once",
        ),
        ([config("a")], [], "defines neither an ipv4 nor an ipv6 range"),
        ([config("a", ("fd00::/64", 64))], [], "'fd00::/64' is an IPv6 range"),
        ([config("a", v6=("10.0.0.0/8", 24))], [], "'10.0.0.0/8' is an IPv4 range"),
        ([config("a", ("10.0.0.0/16", 8))], [], "per-node mask /8 does not fit range 10.0.0.0/16"),
        ([config("a", ("10.0.0.0/16", 33))], [], "per-node mask /33"),
        ([config("a", ("10.0.0/16", 24))], [], "ClusterCIDRConfig 'a' ipv4: '10.0.0/16' is not a CIDR"),
        ([config("a", ("10.0.0.0/16", 24))], [node("n"), node("n")], "node 'n' is listed more than once"),
    ],
)
def test_invalid_input_is_a_value_error(
    configs: list[CidrConfig], nodes: list[NodeSpec], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        allocate(nodes, configs, Ledger.empty())


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([NodeAllocation("a", "p", "10.0.0.0/24", None)] * 2, "'a' appears more than once"),
        (
            [NodeAllocation("a", "p", "10.0.0.0/24", None), NodeAllocation("b", "p", "10.0.0.0/24", None)],
            "overlaps",
        ),
        ([NodeAllocation("a", "p", "10.0.0.1/24", None)], "host bits"),
        ([NodeAllocation("a", "p", None, "10.0.0.0/24")], "not an IPv6 CIDR"),
    ],
)
def test_hand_built_broken_ledger_is_a_ledger_error(entries: list[NodeAllocation], message: str) -> None:
    live = [node("a"), node("b")]
    with pytest.raises(LedgerError, match=re.escape(message)):
        allocate(live, [config("p", ("10.0.0.0/8", 24))], Ledger(tuple(entries)))


# --- speed ----------------------------------------------------------------------------------------


def _cluster(pools: int, per_pool: int) -> tuple[list[NodeSpec], list[CidrConfig]]:
    configs = [config("cluster-wide", ("10.0.0.0/8", 24), ("fd00::/48", 64))]
    nodes = []
    for p in range(pools):
        configs.append(
            config(f"pool-{p}", (f"172.{16 + p}.0.0/16", 24), (f"2222:{p}::/112", 120), **{POOL: f"p{p}"})
        )
        nodes += [
            node(f"node-{p:02}-{i:03}", **{POOL: f"p{p}", "bgpd.io/node": f"{p}-{i}"})
            for i in range(per_pool)
        ]
    return nodes, configs


def test_5000_nodes_in_20_pools_allocate_and_restart_identically() -> None:
    """Speed lives in bench/plan.py; here the large cluster must allocate fully and restart stably."""
    nodes, configs = _cluster(20, 250)
    fresh = allocate(nodes, configs, Ledger.empty())
    restart = allocate(nodes, configs, fresh.ledger)
    assert len(fresh.allocations) == 5000 and fresh.problems == ()
    assert restart == fresh


def test_cursor_jumps_over_a_held_block_without_enumerating_it() -> None:
    """2**47 /64 slots lie under the held /17; the search skips them in one step.

    The time bound is a termination guard (enumerating the slots would never finish), not a benchmark.
    """
    configs = [config("halves", v6=("2001::/16", 17), pool="a"), config("small", v6=("2001::/16", 64))]
    ledger = Ledger.of([NodeAllocation("held", "halves", None, "2001::/17")])
    start = time.perf_counter()
    result = allocate([node("held", pool="a"), node("new")], configs, ledger)
    assert time.perf_counter() - start < 0.5
    assert by_node(result)["new"] == NodeAllocation("new", "small", None, "2001:8000::/64")
