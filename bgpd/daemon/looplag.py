"""How late the event loop runs what is due: the one number that says whether a hold timer is at risk.

Every session, timer and request shares one asyncio loop, and the project's budget is that nothing
may hold it for more than 50 ms (a hold timer of 3 s fires on time only if the loop is free). The
probe schedules a callback every ``interval`` seconds with ``loop.call_at`` and, when it runs,
records how much later than its deadline that was: the loop's scheduling lag at that moment. It
costs one timer per interval and measures the real loop (uvloop or asyncio alike), not a model.

API: ``start()`` / ``stop()``; ``current`` is the lag of the latest tick, ``max`` the largest since
start, ``ticks`` how many were measured. Readers (metrics, logs, status) only read these numbers.
"""

from __future__ import annotations

import asyncio
from typing import Final

__all__ = ["DEFAULT_INTERVAL", "LoopLagProbe"]

DEFAULT_INTERVAL: Final = 0.25  # seconds between ticks: fine enough to see a 50 ms stall, cheap


class LoopLagProbe:
    """Measures the running loop's scheduling lag (see the module docstring)."""

    def __init__(self, interval: float = DEFAULT_INTERVAL) -> None:
        if interval <= 0:
            raise ValueError("the probe interval must be positive")
        self.interval = interval
        self.current = 0.0  # seconds late, the latest tick
        self.max = 0.0  # seconds late, the worst tick since start
        self.ticks = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._deadline = 0.0

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        """Start ticking on the running loop (call from inside it)."""
        if self._handle is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._schedule(self._loop.time())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self, now: float) -> None:
        assert self._loop is not None
        self._deadline = now + self.interval
        self._handle = self._loop.call_at(self._deadline, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        lag = max(0.0, now - self._deadline)
        self.current = lag
        self.max = max(self.max, lag)
        self.ticks += 1
        self._schedule(now)
