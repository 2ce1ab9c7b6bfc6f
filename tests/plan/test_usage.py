"""Pool usage per ClusterCIDRConfig family: allocations, free blocks, ledger blocks parsed once."""

from __future__ import annotations

import pytest

from bgpd.plan import usage
from bgpd.plan.usage import PoolUsage, PoolUsageCounter
from bgpd.rib.cidr import Block
from bgpd.rib.ledger import Ledger, NodeAllocation
from tests.plan._fixtures import DUAL, SINGLE, manifests, plan


def test_the_single_stack_example_uses_four_of_256_blocks() -> None:
    usage = PoolUsageCounter().usage(manifests(), plan().ledger)
    assert usage == (PoolUsage("cluster-wide-1", "ipv4", 256, 4, 4),)
    assert usage[0].free == 252


def test_dual_stack_counts_each_family() -> None:
    usage = PoolUsageCounter().usage(manifests(DUAL), plan(DUAL).ledger)
    assert [(u.family, u.allocations, u.taken) for u in usage] == [("ipv4", 4, 4), ("ipv6", 4, 4)]
    assert usage[1].capacity == 1 << (120 - 112)


def test_a_block_recorded_under_another_name_is_taken_but_not_allocated_to_the_config() -> None:
    base = plan().ledger
    renamed = Ledger.of(
        [*base.entries[1:], NodeAllocation(base.entries[0].node, "old-name", base.entries[0].ipv4, None)]
    )
    (usage,) = PoolUsageCounter().usage(manifests(SINGLE), renamed)
    assert (usage.taken, usage.allocations) == (4, 3)


def test_blocks_are_placed_once_and_the_memory_follows_the_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = PoolUsageCounter()
    ledger = plan().ledger
    before = counter.usage(manifests(), ledger)
    assert set(counter._places) == {e.ipv4 for e in ledger.entries}
    placed: list[str] = []
    monkeypatch.setattr(usage, "_range_of", lambda block, ranges: placed.append(str(block)))
    assert counter.usage(manifests(), ledger) == before  # nothing placed again
    assert placed == []
    shorter = counter.usage(manifests(), Ledger.of(ledger.entries[1:]))
    assert (shorter[0].taken, placed) == (3, [])
    assert set(counter._places) == {e.ipv4 for e in ledger.entries[1:]}


def test_other_ranges_place_every_block_again(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = PoolUsageCounter()
    counter.usage(manifests(DUAL), plan(DUAL).ledger)
    placed: list[Block] = []
    place = usage._range_of

    def placing(block: Block, ranges: tuple[usage._Range, ...]) -> int | None:
        placed.append(block)
        return place(block, ranges)

    monkeypatch.setattr(usage, "_range_of", placing)
    ledger = plan(SINGLE).ledger
    (single,) = counter.usage(manifests(SINGLE), ledger)
    assert (single.family, single.taken) == ("ipv4", 4)
    assert sorted(map(str, placed)) == sorted(e.ipv4 for e in ledger.entries if e.ipv4)
