"""Max-prefix (RFC 4486 §4): how many prefixes of a family one peer may send us, checked after
every UPDATE the session applied to its Adj-RIB-In.

Who does what: the Adj-RIB-In counts (``AdjRibIn.count``, after RFC 7606 treat-as-withdraw, so an
UPDATE we turned into withdrawals never counts), this module decides, and the FSM acts
(``PrefixLimitReached``: Cease 6/1 with AFI, SAFI and the limit, then its hold-down). The RIB stays a
plain table and the FSM never sees a route count.

- **Over the limit** is more prefixes of one family than ``limit`` (the limit itself is allowed, as
  in FRR and OpenBGPD): the session is stopped with the family that went over.
- **The warning** comes when a family reaches ``warning_percent`` of the limit. It is a problem in
  the quiet-log sense (``session_log``): logged once, and the same warning again (the count fell
  below the threshold and rose again) only counted until the episode ends.
- The state an operator sees (``describe``) is per family: ``ok``, ``warning`` or ``over-limit``,
  with the count, and what the last stop was.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from bgpd.speaker.status import rfc3339
from bgpd.wire.constants import Family


class LimitState(enum.Enum):
    OK = "ok"
    WARNING = "warning"  # at or above the warning threshold
    OVER = "over-limit"  # more than the limit: the session was stopped


@dataclass(frozen=True, slots=True)
class PrefixLimit:
    """One session's limit. ``limit`` 0: none. ``restart_after`` None: stay down until reset."""

    limit: int
    warning_percent: int
    restart_after: float | None

    @property
    def warning_at(self) -> int:
        """The count from which the warning is given (rounded up, at least 1)."""
        return max(1, -(-self.limit * self.warning_percent // 100))

    def state(self, count: int) -> LimitState:
        if self.limit and count > self.limit:
            return LimitState.OVER
        if self.limit and count >= self.warning_at:
            return LimitState.WARNING
        return LimitState.OK


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a check found for one family: a warning to log, or the limit exceeded."""

    family: Family
    count: int
    state: LimitState


@dataclass(frozen=True, slots=True)
class Stop:
    """The last time the limit stopped the session."""

    family: Family
    count: int
    at: float  # wall-clock, for display


class PrefixGuard:
    """The limit of one session and which families already crossed the warning threshold."""

    __slots__ = ("_warned", "last_stop", "limit")

    def __init__(self, limit: PrefixLimit) -> None:
        self.limit = limit
        self._warned: set[Family] = set()
        self.last_stop: Stop | None = None

    def check(self, counts: dict[Family, int]) -> Verdict | None:
        """The first family over the limit, else a family that has just reached the warning
        threshold (once until its count falls below it again), else None."""
        warning: Verdict | None = None
        for family in sorted(counts):
            count = counts[family]
            state = self.limit.state(count)
            if state is LimitState.OVER:
                return Verdict(family, count, state)
            if state is LimitState.OK:
                self._warned.discard(family)
            elif family not in self._warned and warning is None:
                self._warned.add(family)
                warning = Verdict(family, count, state)
        return warning

    def stopped(self, verdict: Verdict, at: float) -> None:
        self.last_stop = Stop(verdict.family, verdict.count, at)
        self._warned.clear()

    def session_down(self) -> None:
        """The routes are gone: every family starts below the threshold again."""
        self._warned.clear()

    def to_control(
        self, counts: dict[Family, int], stopped: bool, restart_in: float | None
    ) -> dict[str, Any]:
        """The limit and its state for ``describe``. ``stopped``: the session is down because of
        the limit (its routes are gone, so the counts no longer show it); ``restart_in``: seconds
        until the hold-down restarts it, None when only an operator's reset will."""
        limit = self.limit
        states = [limit.state(count) for count in counts.values()]
        worst = max(states, key=_SEVERITY.index, default=LimitState.OK)
        state = LimitState.OVER if stopped else worst
        data: dict[str, Any] = {
            "limit": limit.limit or None,
            "warningAt": limit.warning_at if limit.limit else None,
            "restartAfterSeconds": limit.restart_after,
            "state": state.value,
            "received": {str(family): count for family, count in sorted(counts.items())},
        }
        if stopped:
            data["restart"] = "bgpctl reset" if restart_in is None else f"in {restart_in:.0f}s"
        stop = self.last_stop
        if stop is not None:
            data["lastStop"] = {"family": str(stop.family), "received": stop.count, "at": rfc3339(stop.at)}
        return data


_SEVERITY = (LimitState.OK, LimitState.WARNING, LimitState.OVER)
