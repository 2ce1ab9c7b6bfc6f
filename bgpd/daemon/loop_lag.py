"""How late the event loop runs its timers: the measure behind "nothing may cost a session".

Every session's hold, keepalive and connect-retry timers are timers of the one event loop. A
callback that keeps the loop busy makes every timer due meanwhile fire late by as long, so the
loop's *lag* is what threatens hold timers (budget: ``BUDGET``, 50 ms). The probe is one more loop
timer, re-armed every ``INTERVAL``: how late it fires is the lag. A stall shorter than the
interval can go unseen, one longer is seen less the interval at worst, so the interval is well
under the budget; the probe itself costs one callback per interval.

What it keeps (``LoopLag``, a plain value the control socket and metrics read): the last lag, the
worst of the last ``WINDOW`` seconds, the worst since start, how many probes fired more than the
budget late, and how many fired how late (a histogram in ``BUCKETS``: two readings a while apart
tell the worst of the time between them, which is how the benchmarks cut a run into phases).
Beside each lag it takes the CPU time the loop's thread used between two probes (``busy``): a
long callback shows as a lag with as much CPU, a host that starves bgpd of CPU (an
overloaded machine, a cgroup limit) as a lag with little, and which of the two it was decides
where to look. A lag over the budget is a warning in the log, quietly (OpenBGPD's ``logmsg.c``
habit, as the session logs): the first one at once, then at most one line per ``WINDOW`` that
counts the others and names the worst, so a loaded machine does not flood the journal.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

import structlog

__all__ = ["BUCKETS", "BUDGET", "INTERVAL", "WINDOW", "LoopLag", "LoopLagProbe"]

BUDGET: Final = 0.050  # seconds: no timer may fire later than this (the brief's rule 2)
INTERVAL: Final = 0.020  # seconds between probes: under the budget, so a stall over it is seen
WINDOW: Final = 60.0  # seconds: the "recent" worst, and the least time between two log lines
# upper bounds (seconds) of the histogram's buckets; a last one takes everything later
BUCKETS: Final = (0.005, 0.010, 0.020, 0.050, 0.100, 0.200, 0.500, 1.0)

_log = structlog.get_logger("bgpd.daemon")


@dataclass(frozen=True, slots=True)
class LoopLag:
    """The loop's lag in seconds (see the module docstring)."""

    last: float
    recent_max: float  # the worst of the last WINDOW seconds
    worst: float  # since the probe started
    over_budget: int  # probes more than ``budget`` late since the start
    budget: float
    worst_busy: float = 0.0  # the most CPU the loop's thread used between two probes, since start
    lags: tuple[int, ...] = ()  # probes per bucket of lateness (``BUCKETS``, then later), since start
    busies: tuple[int, ...] = ()  # probes per bucket of the CPU used since the one before

    def to_control(self) -> dict[str, Any]:
        return {
            "lastMs": _ms(self.last),
            "maxMs": _ms(self.recent_max),
            "windowSeconds": int(WINDOW),
            "worstMs": _ms(self.worst),
            "overBudget": self.over_budget,
            "budgetMs": _ms(self.budget),
            "worstBusyMs": _ms(self.worst_busy),
            "lateHistogram": _histogram(self.lags),
            "busyHistogram": _histogram(self.busies),
        }


def _histogram(counts: tuple[int, ...]) -> dict[str, int]:
    """Probes per bucket, keyed by its upper bound in milliseconds (``"+Inf"`` the last)."""
    bounds = [f"{bound * 1000:g}" for bound in BUCKETS] + ["+Inf"]
    return dict(zip(bounds, counts or (0,) * len(bounds), strict=True))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class LoopLagProbe:
    """Measures the running loop's lag until ``stop`` (see the module docstring)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        interval: float = INTERVAL,
        budget: float = BUDGET,
        window: float = WINDOW,
    ) -> None:
        if interval <= 0:
            raise ValueError("the probe interval must be positive")
        self._loop = loop  # the running loop's, from ``start`` on, unless given
        self._interval = interval
        self._budget = budget
        self._window = window
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._cpu = 0.0  # the loop thread's CPU time at the last probe
        self._worst_busy = 0.0
        self._lags = [0] * (len(BUCKETS) + 1)
        self._busies = [0] * (len(BUCKETS) + 1)
        self._last = 0.0
        self._worst = 0.0
        self._over = 0
        self._recent: deque[tuple[float, float]] = deque()  # (when, lag), lags decreasing
        self._logged_at: float | None = None  # when the last warning was written
        self._unlogged = 0  # over-budget probes since that line
        self._unlogged_worst = 0.0

    @property
    def lag(self) -> LoopLag:
        """The measures so far (each probe drops what left the window, so this only reads)."""
        recent = self._recent[0][1] if self._recent else 0.0
        return LoopLag(
            self._last,
            recent,
            self._worst,
            self._over,
            self._budget,
            self._worst_busy,
            tuple(self._lags),
            tuple(self._busies),
        )

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        """Probe the running loop (call from inside it) until ``stop``."""
        if self._handle is None:
            self._loop = self._loop or asyncio.get_running_loop()
            self._arm(self._loop.time())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._flush()

    def _arm(self, now: float) -> None:
        assert self._loop is not None
        self._due = now + self._interval
        self._cpu = time.thread_time()
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        self.record(max(0.0, now - self._due), now, time.thread_time() - self._cpu)
        self._arm(now)

    def record(self, lag: float, now: float, busy: float = 0.0) -> None:
        """Take one measurement: how late the probe fired, and the CPU the loop's thread used
        since the one before (the probe's own; tests feed their own)."""
        self._last = lag
        self._worst_busy = max(self._worst_busy, busy)
        self._lags[bisect_left(BUCKETS, lag)] += 1
        self._busies[bisect_left(BUCKETS, busy)] += 1
        self._worst = max(self._worst, lag)
        while self._recent and self._recent[-1][1] <= lag:
            self._recent.pop()
        self._recent.append((now, lag))
        self._expire(now)
        if lag > self._budget:
            self._over += 1
            self._late(lag, busy, now)
        elif self._unlogged and self._logged_at is not None and now - self._logged_at >= self._window:
            self._flush(now)

    def _expire(self, now: float) -> None:
        while self._recent and now - self._recent[0][0] > self._window:
            self._recent.popleft()

    def _late(self, lag: float, busy: float, now: float) -> None:
        if self._logged_at is None or (now - self._logged_at >= self._window and not self._unlogged):
            self._logged_at = now
            _log.warning("event_loop_late", late_ms=_ms(lag), cpu_ms=_ms(busy), budget_ms=_ms(self._budget))
            return
        self._unlogged += 1
        self._unlogged_worst = max(self._unlogged_worst, lag)
        if now - self._logged_at >= self._window:
            self._flush(now)

    def _flush(self, now: float | None = None) -> None:
        """Write the count of over-budget probes not logged yet, as one line."""
        if not self._unlogged:
            return
        _log.warning(
            "event_loop_late",
            late_ms=_ms(self._unlogged_worst),
            budget_ms=_ms(self._budget),
            repeated=self._unlogged,
        )
        self._logged_at = now if now is not None else self._loop.time() if self._loop is not None else 0.0
        self._unlogged = 0
        self._unlogged_worst = 0.0
