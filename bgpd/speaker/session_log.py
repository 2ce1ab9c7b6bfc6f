"""What one session writes to the log, and what it keeps to itself (OpenBGPD's ``logmsg.c`` habit).

Every line must be worth reading at 3 a.m. A session whose peer is down retries forever, and a
line or two per retry would bury everything else, so:

- **Retry churn is not news.** A state change between Idle, Connect and Active that the session
  made by itself (connect-retry, connect-failed, automatic-start, ...) is logged at debug only:
  that is the constant Connect <-> Active (here also Idle <-> Connect) cycle of a peer that is not
  there. A start or stop by the operator (or a reload) is logged.
- **Once per episode.** Any other state change is logged at info the first time it happens in an
  *episode*; the same change (same states, same reason) again in that episode goes to debug, so a
  peer that refuses our OPEN at every retry is reported once, not at every retry. An episode ends
  when the session enters or leaves Established, or when the operator starts or stops it: a flap
  is news every time.
- **A repeated problem is logged once, then counted.** Connect failures, NOTIFICATIONs and
  dropped connections are warnings. The same problem again (same event, same text) only counts;
  when a different problem of that kind comes, or the episode ends, the count is written as one
  more line of the same event with ``repeated=N`` ("connect failed ... (repeated N times)").

The record (``record.py``) keeps counting everything regardless; this module only decides lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from structlog.typing import FilteringBoundLogger

from bgpd.fsm import Reason, State, StateChanged

_CONNECTING: Final = frozenset({State.IDLE, State.CONNECT, State.ACTIVE})
_OPERATOR: Final = frozenset({Reason.MANUAL_START, Reason.ADMIN_SHUTDOWN})


@dataclass(slots=True)
class _Repeat:
    """The problem last logged for one event name, and how often it came again since."""

    fields: dict[str, Any]
    count: int = 0


class SessionLog:
    """The log lines of one session (see the module docstring)."""

    __slots__ = ("_log", "_repeats", "_seen")

    def __init__(self, log: FilteringBoundLogger) -> None:
        self._log = log
        self._seen: set[tuple[State, State, Reason]] = set()
        self._repeats: dict[str, _Repeat] = {}

    def state_changed(self, change: StateChanged) -> None:
        old, new, reason = change.old, change.new, change.reason
        if State.ESTABLISHED in (old, new) or reason in _OPERATOR:
            self.end_episode()
        fields = {"old": str(old), "new": str(new), "reason": str(reason)}
        key = (old, new, reason)
        churn = old in _CONNECTING and new in _CONNECTING and reason not in _OPERATOR
        if churn or key in self._seen:
            self._log.debug("state_changed", **fields)
            return
        self._seen.add(key)
        self._log.info("state_changed", **fields)

    def problem(self, event: str, **fields: Any) -> None:
        """A warning, unless it repeats the last ``event`` line exactly: then it is counted."""
        last = self._repeats.get(event)
        if last is not None and last.fields == fields:
            last.count += 1
            return
        if last is not None:
            self._flush(event, last)
        self._repeats[event] = _Repeat(fields)
        self._log.warning(event, **fields)

    def end_episode(self) -> None:
        """Write the counts of repeated problems and forget what was logged (a new episode)."""
        for event, repeat in self._repeats.items():
            self._flush(event, repeat)
        self._repeats.clear()
        self._seen.clear()

    def _flush(self, event: str, repeat: _Repeat) -> None:
        if repeat.count:
            self._log.warning(event, **repeat.fields, repeated=repeat.count)
