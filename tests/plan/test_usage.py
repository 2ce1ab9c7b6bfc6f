"""Pool usage per ClusterCIDRConfig family: allocations, free blocks, ledger blocks parsed once."""

from __future__ import annotations

from bgpd.plan.usage import PoolUsage, PoolUsageCounter
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


def test_blocks_are_parsed_once_and_the_cache_follows_the_ledger() -> None:
    counter = PoolUsageCounter()
    ledger = plan().ledger
    counter.usage(manifests(), ledger)
    first = dict(counter._blocks)
    counter.usage(manifests(), Ledger.of(ledger.entries[1:]))
    assert set(counter._blocks) == set(first) - {ledger.entries[0].ipv4}
    assert all(counter._blocks[k] is first[k] for k in counter._blocks)  # reused, not parsed again
