"""The session's timers as data: deadlines on the caller's clock, never a sleep or a clock read.

The driver asks ``next_deadline()`` for the one loop timer it arms, and reports expiry back to the
session (``Session.handle_timers(now)``), like aioquic's ``get_timer()`` / ``handle_timer(now)``.

Jitter (RFC 4271 §10): "jitter SHOULD be applied to the timers associated with ... KeepaliveTimer
... and ConnectRetryTimer", each start multiplied by a factor uniform in 0.75..1.0, so peers that
came down together do not retry, and sessions that came up together do not send, in lockstep. The
IdleHoldTimer gets it too (ours): after a failed connection it is the wait before the next
attempt, which is what the ConnectRetryTimer paces. The factor comes from the driver (the FSM
reads no random source, so a test without one gets exact deadlines).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Final


class Timer(Enum):
    """RFC 4271 §8 (mandatory: ConnectRetry, Hold, Keepalive) and §8.1.1 (DelayOpen, IdleHold);
    RFC 4724 §4.2 for a peer that restarts gracefully (Restart, Stale). PrefixLimitRestart is ours:
    the hold-down after a prefix limit (RFC 4486 §4)."""

    CONNECT_RETRY = "connect-retry"  # event 9
    HOLD = "hold"  # event 10
    KEEPALIVE = "keepalive"  # event 11
    DELAY_OPEN = "delay-open"  # event 12
    IDLE_HOLD = "idle-hold"  # event 13
    PREFIX_LIMIT_RESTART = "prefix-limit-restart"  # restarts a session a prefix limit stopped
    RESTART = "restart"  # the peer's Restart Time: it must be back (Established) before this
    STALE = "stale"  # our bound on its stale routes once it is back: its End-of-RIB before this


# When two timers are due at the same instant, the one earlier here fires first: a hold timer that
# ran out must end the session before a keepalive would be sent on it.
_FIRE_ORDER = (
    Timer.HOLD,
    Timer.CONNECT_RETRY,
    Timer.DELAY_OPEN,
    Timer.IDLE_HOLD,
    Timer.PREFIX_LIMIT_RESTART,
    Timer.KEEPALIVE,
    Timer.RESTART,
    Timer.STALE,
)

SESSION_TIMERS: Final = frozenset({Timer.RESTART, Timer.STALE})
"""Timers of the session rather than of one connection: a peer's graceful restart spans the end of
one connection and the next one, so these outlive ``stop_connection_timers``."""


_JITTERED = frozenset({Timer.CONNECT_RETRY, Timer.KEEPALIVE, Timer.IDLE_HOLD})


class Timers:
    """Running timers and their deadlines. A stopped timer simply has no deadline."""

    __slots__ = ("_deadlines", "_jitter")

    def __init__(self, jitter: Callable[[], float] | None = None) -> None:
        self._deadlines: dict[Timer, float] = {}
        self._jitter = jitter

    def start(self, timer: Timer, now: float, duration: float) -> None:
        """(Re)start ``timer`` to fire ``duration`` seconds after ``now`` (jittered, see above)."""
        if self._jitter is not None and timer in _JITTERED:
            duration *= self._jitter()
        self._deadlines[timer] = now + duration

    def stop(self, timer: Timer) -> None:
        self._deadlines.pop(timer, None)

    def stop_all(self) -> None:
        self._deadlines.clear()

    def stop_connection_timers(self) -> None:
        """Stop every timer but the ``SESSION_TIMERS``: what a connection ending or starting resets."""
        for timer in [t for t in self._deadlines if t not in SESSION_TIMERS]:
            del self._deadlines[timer]

    def running(self, timer: Timer) -> bool:
        return timer in self._deadlines

    def deadline(self, timer: Timer) -> float | None:
        return self._deadlines.get(timer)

    def next_deadline(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    def due(self, now: float) -> Timer | None:
        """The timer to fire first among those whose deadline is ``now`` or earlier, else None."""
        expired = [t for t, deadline in self._deadlines.items() if deadline <= now]
        if not expired:
            return None
        return min(expired, key=lambda t: (self._deadlines[t], _FIRE_ORDER.index(t)))

    def snapshot(self) -> dict[Timer, float]:
        """A copy of the running deadlines, for status and tests."""
        return dict(self._deadlines)
