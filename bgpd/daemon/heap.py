"""The garbage collector and bgpd's large, long-lived state.

Reading a 10,000-node cluster file makes some hundreds of thousands of objects (YAML node trees
kept for error lines, models, facts per node), and nearly all of them live as long as the process
or until the next reload, where reference counting frees them. CPython's cyclic collector does not
know that: while they are being made it ran three full collections, each walking everything made
so far (0.2 s of a 0.45 s read), and later full collections walked all of it again, each holding
the interpreter lock for ~100 ms: long enough to hold back the first OPEN and to stall the event
loop while the first plan ran in its thread. So the start-up state is made with the collector
paused, and then frozen (``gc.freeze``: the collector leaves it out of every later walk). Cyclic
garbage among frozen objects is never collected; only what the start-up made is frozen, once, so
that cost is bounded.

What comes later (1 M received routes, a 200k-UPDATE flood's own paths, the plan) is not frozen,
and in a profile of ``bench/loop.py`` a full collection walked it in 40–70 ms, about once a
second while a listing of 1 M routes ran: each part of a listing lives across the default
700-allocation young generation, so nearly everything a listing made reached the old
generation, and CPython collects that whenever it grew by a quarter. With a young generation of
``YOUNG`` allocations a listing's parts and a burst's UPDATEs die young, and the old generation
is looked at rarely (``DAEMON_THRESHOLDS``); the same run had no full collection at all.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

__all__ = ["DAEMON_THRESHOLDS", "collect_as_a_daemon", "collector_paused", "long_lived"]

YOUNG: Final = 50_000  # allocations between two collections of the youngest generation (default 700)
DAEMON_THRESHOLDS: Final = (YOUNG, 20, 10)  # gc.set_threshold: young, middle (default 10), old (10)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off inside (as it was before, after): for one-shot work such as
    ``bgpd plan`` that makes many objects, keeps most of them, and ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def long_lived() -> Iterator[None]:
    """Make the process's long-lived state inside: the collector is paused while it is made, and
    every object alive at the end is frozen out of later collections."""
    with collector_paused():
        yield
        gc.freeze()


def collect_as_a_daemon() -> None:
    """The collector's thresholds for the daemon's life (``DAEMON_THRESHOLDS``, see above)."""
    gc.set_threshold(*DAEMON_THRESHOLDS)
