"""The allocator's held intervals: adjacent blocks merge, a freed block splits its interval, and
every answer is the one a plain set of held blocks gives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgpd.rib.allocator import Intervals
from bgpd.rib.cidr import Block

SLOTS = 32  # /28 blocks of 10.0.0.0/23
BASE = 0x0A000000
SIZE = 16


def _block(slot: int) -> Block:
    return Block(4, BASE + slot * SIZE, 28)


def _spans(held: set[int]) -> list[tuple[int, int]]:
    """The merged intervals a set of held slots makes."""
    spans: list[tuple[int, int]] = []
    for slot in sorted(held):
        start = BASE + slot * SIZE
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], start + SIZE)
        else:
            spans.append((start, start + SIZE))
    return spans


@given(st.lists(st.integers(0, SLOTS - 1), max_size=80), st.sets(st.integers(0, SLOTS - 1)))
def test_adding_and_removing_blocks_is_a_set_of_held_blocks(toggles: list[int], first: set[int]) -> None:
    intervals = Intervals.of(_block(slot) for slot in sorted(first))
    held = set(first)
    assert intervals.spans() == _spans(held)
    for slot in toggles:
        if slot in held:
            intervals.remove(_block(slot))
            held.discard(slot)
        else:
            intervals.add(_block(slot))
            held.add(slot)
        assert intervals.spans() == _spans(held)
    for slot in range(SLOTS):
        block = _block(slot)
        until = intervals.blocked_until(block.first, block.end)
        if slot not in held:
            assert until is None
        else:  # the end of the run of held blocks this one is in
            run_end = slot
            while run_end + 1 in held:
                run_end += 1
            assert until == _block(run_end).end


def test_a_copy_is_independent() -> None:
    intervals = Intervals.of([_block(0), _block(1)])
    copied = intervals.copy()
    copied.add(_block(2))
    assert intervals.spans() == [(BASE, BASE + 2 * SIZE)]
    assert copied.spans() == [(BASE, BASE + 3 * SIZE)]


def test_freeing_a_block_not_held_is_refused() -> None:
    intervals = Intervals.of([_block(0)])
    with pytest.raises(ValueError, match="not held"):
        intervals.remove(_block(5))
