"""Connection attempts to one peer, a few at a time: 500 sessions to one ToR come up in seconds.

A router accepts TCP connections from its listen queue one by one; BIRD's queue holds 8. When 500
sessions connected at once, the queue overflowed, SYNs were dropped and retransmitted after 1, 3,
7… seconds, handshakes that did get through waited in OpenSent behind the others, and whole runs
took two to four minutes instead of four seconds. So every attempt to connect to a peer (peer
address and port: all our floating IPs share it) passes its ``ConnectGate`` first:

- at most ``window`` attempts are in flight; an attempt holds its place from the moment it may
  connect until its session reaches OpenConfirm (the peer answered our OPEN: the handshake is
  done) or the attempt ends any other way;
- the window adapts like TCP's congestion window: it starts at ``INITIAL_WINDOW`` and grows by
  one per handshake done within ``FAST`` seconds (slow start) until a handshake takes longer than
  ``SLOW`` seconds; that halves it (at most once per ``SLOW`` seconds: one burst of drops is one
  signal), and from then on it grows by one per window's worth of fast handshakes (AIMD). A slow
  attempt stops counting against the window when it is found slow, so one stuck handshake cannot
  hold the gate. A refused or abandoned attempt says nothing about the peer's pace and leaves
  the window as it is;
- waiting attempts are admitted in the order they asked.

The RFC 4271 §10 jitter of the ConnectRetryTimer (``bgpd.fsm``) spreads the retries; the gate
spreads the first attempts, which all come at once when bgpd starts or a reload adds sessions.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Final

__all__ = ["FAST", "INITIAL_WINDOW", "MAX_WINDOW", "SLOW", "Admission", "ConnectGate"]

INITIAL_WINDOW: Final = 8.0  # attempts at once to a peer we know nothing about (BIRD's backlog)
MAX_WINDOW: Final = 64.0
FAST: Final = 0.5  # seconds: a handshake this quick widens the window
SLOW: Final = 2.0  # seconds: a handshake not done by then halves it (a SYN was dropped: 1 s retry)


class Admission:
    """One attempt's place at the gate: waiting, admitted (holding a place), or over."""

    __slots__ = ("_gate", "_start", "admitted_at", "counted", "over")

    def __init__(self, gate: ConnectGate, start: Callable[[], None]) -> None:
        self._gate = gate
        self._start = start
        self.admitted_at: float | None = None
        self.counted = False  # holds a place in the window now
        self.over = False

    def done(self) -> None:
        """The handshake is done (OpenConfirm): the peer took the connection."""
        self._gate._finish(self, handshake=True)

    def cancel(self) -> None:
        """The attempt ended otherwise (refused, abandoned, stopped), or never started."""
        self._gate._finish(self, handshake=False)


class ConnectGate:
    """The attempts to one peer (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, window: float = INITIAL_WINDOW) -> None:
        self._loop = loop
        self.window = window
        self._waiting: deque[Admission] = deque()
        self._in_flight = 0
        self._slow_handles: dict[Admission, asyncio.TimerHandle] = {}
        self._cut_at: float | None = None  # when the window was last halved (None: slow start)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def enter(self, start: Callable[[], None]) -> Admission:
        """Ask to connect: ``start`` is called when the attempt may (at once, or later)."""
        admission = Admission(self, start)
        self._waiting.append(admission)
        self._admit()
        return admission

    def _admit(self) -> None:
        while self._waiting and self._in_flight < int(self.window):
            admission = self._waiting.popleft()
            admission.admitted_at = self._loop.time()
            admission.counted = True
            self._in_flight += 1
            self._slow_handles[admission] = self._loop.call_later(SLOW, self._slow, admission)
            admission._start()

    def _slow(self, admission: Admission) -> None:
        """A handshake still not done after SLOW seconds: the peer is not keeping up."""
        self._slow_handles.pop(admission, None)
        if admission.counted:
            admission.counted = False
            self._in_flight -= 1
            now = self._loop.time()
            if self._cut_at is None or now - self._cut_at >= SLOW:
                self._cut_at = now
                self.window = max(1.0, self.window / 2)
            self._admit()

    def _finish(self, admission: Admission, *, handshake: bool) -> None:
        if admission.over:
            return
        admission.over = True
        handle = self._slow_handles.pop(admission, None)
        if handle is not None:
            handle.cancel()
        if admission.admitted_at is None:  # still waiting
            self._waiting.remove(admission)
            return
        if admission.counted:
            admission.counted = False
            self._in_flight -= 1
            took = self._loop.time() - admission.admitted_at
            if handshake and took <= FAST:
                step = 1.0 if self._cut_at is None else 1.0 / self.window
                self.window = min(MAX_WINDOW, self.window + step)
        self._admit()
