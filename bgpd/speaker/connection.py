"""One TCP connection of a session: an asyncio protocol with paced input and a coalescing,
bounded writer.

Reading. What arrives is queued and handed to the owner in slices, when the loop's ``ReadPacer``
gives this connection a turn (``read_pacer``): a burst from the peer never holds the loop, and
the other sessions' input and timers get their turns in between. The bytes reach the owner in the
order they came, and a close is reported only after everything that came before it was handed
on (the peer's last UPDATEs and its NOTIFICATION still count). Past ``READ_HIGH`` queued octets
the transport stops reading until the queue is below ``READ_LOW``: a fast sender waits in TCP.

Writing. Messages handed to ``send`` during one loop iteration are joined and written with a single
``transport.write`` (scheduled with ``call_soon``), so a burst of UPDATEs costs one system call.
The transport signals back-pressure with ``pause_writing`` once its buffer passes the high-water
mark; while paused nothing is written and the owner is told to stop producing (route UPDATEs are
pulled from the Adj-RIB-Out only while ``writable``, so the table itself is the backlog).

Never unbounded. What the FSM produces while paused (KEEPALIVEs, a NOTIFICATION) is queued, but
only up to ``max_pending`` octets; past that the owner gets ``on_overflow``. A peer that stops
reading altogether keeps the connection paused: after ``send_hold_time`` seconds of it the owner
gets ``on_send_stalled`` (the SendHoldTimer of RFC 9687 — the local mirror of the RFC 4271 §8 hold
timer, which only covers a peer that stops *sending*). Either way the owner aborts the connection
and the FSM sees it fail: RFC 9687 ("Changes to the FSM") makes the NOTIFICATION optional when it
would delay the close, and here it would sit behind the data the peer does not read. Aborting
frees the buffers at once instead of lingering while the kernel tries to deliver to a peer that
will not read. A peer that stops reading *and* sending is caught first by our hold timer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final, Protocol, cast

from bgpd.speaker.read_pacer import ReadPacer, pacer_for
from bgpd.speaker.sockets import IPAddress, endpoint

HIGH_WATER: Final = 256 * 1024  # transport buffer above which we stop producing
LOW_WATER: Final = 64 * 1024
MAX_PENDING: Final = 1024 * 1024  # octets queued by us while paused before the session is ended
CLOSE_GRACE: Final = 2.0  # seconds a closing connection may take to flush its last NOTIFICATION
READ_HIGH: Final = 256 * 1024  # queued input octets above which the transport stops reading
READ_LOW: Final = 64 * 1024  # ... and below which it reads again


class ConnectionOwner(Protocol):
    """What a connection reports to: the session driver that ``attach``ed it."""

    def on_data(self, conn: Connection, data: bytes) -> None: ...
    def on_closed(self, conn: Connection, exc: Exception | None) -> None: ...
    def on_writable(self, conn: Connection) -> None: ...
    def on_overflow(self, conn: Connection) -> None: ...
    def on_send_stalled(self, conn: Connection) -> None: ...


class Connection(asyncio.Protocol):
    """See the module docstring. Until an owner is attached, input (and a close) is held back:
    data can arrive before the code that opened or accepted the connection has resumed, and must
    not be lost or seen by the wrong state (``attach`` delivers it in order)."""

    def __init__(
        self,
        owner: ConnectionOwner | None = None,
        *,
        max_pending: int = MAX_PENDING,
        send_hold_time: float = 0.0,
        high_water: int = HIGH_WATER,
    ) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.local: IPAddress | None = None
        self.peer: IPAddress | None = None
        self.closed = False
        self.bytes_in = 0
        self.bytes_out = 0
        self.peak_buffered = 0  # most octets ever waiting here and in the transport together
        self.max_pending = max_pending
        self.send_hold_time = send_hold_time
        self.high_water = high_water
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out: list[bytes] = []
        self._out_len = 0
        self._flush_handle: asyncio.Handle | None = None
        self._stall_handle: asyncio.TimerHandle | None = None
        self._abort_handle: asyncio.TimerHandle | None = None
        self._paused = False
        self._closing = False
        self._lost: asyncio.Event | None = None
        self._inbox: deque[bytes | memoryview] = deque()  # read, not yet handed to the owner
        self._inbox_len = 0
        self._reading_paused = False
        self._pacer: ReadPacer | None = None
        self._lost_exc: Exception | None = None
        self._lost_unreported = False  # closed while input was queued: reported after it

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's TCPTransport is not a subclass
        self.transport = transport
        self._loop = asyncio.get_running_loop()
        self.local = endpoint(transport.get_extra_info("sockname"))
        self.peer = endpoint(transport.get_extra_info("peername"))
        transport.set_write_buffer_limits(high=self.high_water, low=min(LOW_WATER, self.high_water // 4))

    def attach(self, owner: ConnectionOwner) -> None:
        """Make ``owner`` the receiver of this connection's events; what came before follows in order."""
        self.owner = owner
        if self._inbox and not self._closing:
            self._want_turn()
        elif self._lost_unreported:
            self._report_lost()

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if self._closing:
            return
        self._inbox.append(data)
        self._inbox_len += len(data)
        if self._inbox_len > READ_HIGH and not self._reading_paused and self.transport is not None:
            # not closed here: data_received never follows connection_lost
            self._reading_paused = True
            self.transport.pause_reading()
        if self.owner is not None:
            self._want_turn()

    def read_slice(self, size: int) -> bool:
        """The pacer's turn: hand up to ``size`` queued octets to the owner; True while more wait."""
        owner = self.owner
        if self._closing or owner is None:  # no owner: the pacer is only asked once there is one
            self._drop_input()
            return False
        owner.on_data(self, self._take(size))
        if self._reading_paused and self._inbox_len < READ_LOW and not self.closed and not self._closing:
            self._reading_paused = False
            if self.transport is not None:
                self.transport.resume_reading()
        if self._inbox and not self._closing:
            return True
        if self._lost_unreported:
            self._report_lost()
        return False

    def _take(self, size: int) -> bytes:
        """Up to ``size`` octets from the head of the queue, in order."""
        inbox = self._inbox
        head = inbox[0]
        if len(head) <= size:
            inbox.popleft()
            parts = [head]
            taken = len(head)
            while inbox and taken + len(inbox[0]) <= size:
                part = inbox.popleft()
                parts.append(part)
                taken += len(part)
        else:
            view = head if isinstance(head, memoryview) else memoryview(head)
            parts = [view[:size]]
            inbox[0] = view[size:]
            taken = size
        self._inbox_len -= taken
        if len(parts) == 1:
            return parts[0] if isinstance(parts[0], bytes) else bytes(parts[0])
        return b"".join(parts)

    def _want_turn(self) -> None:
        if self._pacer is None:
            self._pacer = pacer_for(self._loop or asyncio.get_running_loop())
        self._pacer.want(self)

    def _drop_input(self) -> None:
        self._inbox.clear()
        self._inbox_len = 0
        if self._pacer is not None:
            self._pacer.forget(self)

    def _report_lost(self) -> None:
        self._lost_unreported = False
        if self.owner is not None:
            self.owner.on_closed(self, self._lost_exc)

    def eof_received(self) -> bool:
        return False  # a half-closed BGP connection is useless: let the transport close it

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._lost_exc = exc
        if self._lost is not None:
            self._lost.set()
        self._cancel_timers()
        self._out.clear()
        self._out_len = 0
        self._lost_unreported = True
        if self._inbox and not self._closing:
            return  # the owner hears of the close after the input queued before it
        self._drop_input()
        if self.owner is not None:
            self._report_lost()

    def pause_writing(self) -> None:
        self._paused = True
        if self.send_hold_time > 0 and self._stall_handle is None and self._loop is not None:
            self._stall_handle = self._loop.call_later(self.send_hold_time, self._stalled)

    def resume_writing(self) -> None:
        self._paused = False
        if self._stall_handle is not None:
            self._stall_handle.cancel()
            self._stall_handle = None
        self._flush()
        if self.owner is not None and not self._closing and not self.closed:
            self.owner.on_writable(self)

    # ------------------------------------------------------------------ writing
    @property
    def writable(self) -> bool:
        """True while the owner may produce more output (not paused, not closing)."""
        return not self._paused and not self._closing and not self.closed

    @property
    def closing(self) -> bool:
        """True once ``close`` or ``abort`` was called (or the connection is gone)."""
        return self._closing or self.closed

    @property
    def pending(self) -> int:
        """Octets queued here, not yet given to the transport."""
        return self._out_len

    def send(self, data: bytes) -> None:
        """Queue ``data``; it is written with everything else sent in this loop iteration."""
        if self.closed or self._closing:
            return
        self._out.append(data)
        self._out_len += len(data)
        if self._out_len > self.max_pending:
            self._out.clear()
            self._out_len = 0
            if self.owner is not None:
                self.owner.on_overflow(self)
            return
        if self._paused and self.transport is not None:
            waiting = self._out_len + self.transport.get_write_buffer_size()
            self.peak_buffered = max(self.peak_buffered, waiting)
        if self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        if self._paused or not self._out or self.transport is None or self.closed:
            return
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        self._out_len = 0
        self.bytes_out += len(data)
        self.transport.write(data)
        self.peak_buffered = max(self.peak_buffered, self.transport.get_write_buffer_size())

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Write what is queued (e.g. the NOTIFICATION just sent), then close; a peer that does
        not take it within ``CLOSE_GRACE`` seconds is aborted."""
        if self.closed or self._closing or self.transport is None:
            return
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._paused = False  # the last words go to the transport's buffer regardless
        self._flush()
        self._closing = True
        self._drop_input()  # we are done with this connection: what it still says is not read
        self.transport.close()
        if self._loop is not None:
            self._abort_handle = self._loop.call_later(CLOSE_GRACE, self.abort)

    async def wait_closed(self) -> None:
        """Return once the connection is closed (``close`` bounds that by ``CLOSE_GRACE``)."""
        if self.closed or self.transport is None:
            return
        if self._lost is None:
            self._lost = asyncio.Event()
        await self._lost.wait()

    def abort(self) -> None:
        """Drop the connection now, discarding anything unsent (and any input not handled yet)."""
        self._closing = True
        self._out.clear()
        self._out_len = 0
        self._drop_input()
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def _stalled(self) -> None:
        self._stall_handle = None
        if self.owner is not None and not self.closed:
            self.owner.on_send_stalled(self)

    def _cancel_timers(self) -> None:
        for handle in (self._flush_handle, self._stall_handle, self._abort_handle):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._stall_handle = self._abort_handle = None
