"""Input in bounded slices, shared fairly between connections: no peer's burst can hold the loop.

Every session's timers run on the one event loop, so handling input must leave the loop often:
a peer that sends 200,000 UPDATEs at once used to be decoded in callbacks of a quarter megabyte
each, back to back, and another session's hold timer expired meanwhile. Here a connection only
queues what it reads (``Connection.data_received``) and asks the loop's one ``ReadPacer`` for a
turn. The pacer hands each waiting connection one slice (``SLICE`` octets) at a time, round-robin,
until ``BUDGET`` seconds of input handling were spent in this loop iteration, and then yields: the
timers due meanwhile and the output pumps run before the next slices. So one iteration spends at
most about ``BUDGET`` plus one slice on input, however many peers send at once, and each
connection's bytes still reach its session in the order they came (the slices are cut from its
own queue). Reading stops while a connection's queue is long (``Connection``'s read limits), so
what a peer sends faster than we handle waits in its socket, not in our memory.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from typing import Final, Protocol

__all__ = ["BUDGET", "SLICE", "ReadPacer", "Reader", "pacer_for"]

BUDGET: Final = 0.010  # seconds of input handling per loop iteration, over all connections
SLICE: Final = 8 * 1024  # octets handed to a session at once (a few hundred small UPDATEs at most)


class Reader(Protocol):
    """A connection with queued input (``Connection``)."""

    def read_slice(self, size: int) -> bool:
        """Hand up to ``size`` queued octets on; True while more are queued."""
        ...


class ReadPacer:
    """Round-robin over the connections with queued input, ``budget`` seconds per loop iteration."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, *, budget: float = BUDGET, slice_size: int = SLICE
    ) -> None:
        self._loop = loop
        self._budget = budget
        self._slice = slice_size
        self._waiting: deque[Reader] = deque()
        self._queued: set[Reader] = set()
        self._handle: asyncio.Handle | None = None
        self.turns = 0  # loop iterations that handled input (for tests and curiosity)

    def want(self, reader: Reader) -> None:
        """``reader`` has queued input: give it slices from the next turn on."""
        if reader not in self._queued:
            self._queued.add(reader)
            self._waiting.append(reader)
        if self._handle is None:
            self._handle = self._loop.call_soon(self._turn)

    def forget(self, reader: Reader) -> None:
        """``reader`` closed: no more turns for it."""
        if reader in self._queued:
            self._queued.discard(reader)
            if reader in self._waiting:  # not while its own turn runs (it is out of the queue then)
                self._waiting.remove(reader)

    def _turn(self) -> None:
        self._handle = None
        self.turns += 1
        deadline = time.perf_counter() + self._budget
        waiting = self._waiting
        while waiting:
            reader = waiting.popleft()
            if reader.read_slice(self._slice) and reader in self._queued:
                waiting.append(reader)
            else:
                self._queued.discard(reader)
            if time.perf_counter() >= deadline:
                break
        if waiting and self._handle is None:
            self._handle = self._loop.call_soon(self._turn)


_PACERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReadPacer] = weakref.WeakKeyDictionary()


def pacer_for(loop: asyncio.AbstractEventLoop) -> ReadPacer:
    """The one pacer of ``loop`` (every connection on a loop shares it, or it would not be fair)."""
    pacer = _PACERS.get(loop)
    if pacer is None:
        pacer = _PACERS[loop] = ReadPacer(loop)
    return pacer
