"""One TCP connection of a session: an asyncio protocol with a coalescing, bounded writer.

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
from typing import Final, Protocol, cast

from bgpd.speaker.sockets import IPAddress, endpoint

HIGH_WATER: Final = 256 * 1024  # transport buffer above which we stop producing
LOW_WATER: Final = 64 * 1024
MAX_PENDING: Final = 1024 * 1024  # octets queued by us while paused before the session is ended
CLOSE_GRACE: Final = 2.0  # seconds a closing connection may take to flush its last NOTIFICATION


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
        self._early: list[bytes] = []
        self._lost_exc: Exception | None = None

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's TCPTransport is not a subclass
        self.transport = transport
        self._loop = asyncio.get_running_loop()
        self.local = endpoint(transport.get_extra_info("sockname"))
        self.peer = endpoint(transport.get_extra_info("peername"))
        transport.set_write_buffer_limits(high=self.high_water, low=min(LOW_WATER, self.high_water // 4))

    def attach(self, owner: ConnectionOwner) -> None:
        """Make ``owner`` the receiver of this connection's events, replaying what came before."""
        self.owner = owner
        if self._early:
            data = b"".join(self._early)
            self._early.clear()
            if not self._closing:
                owner.on_data(self, data)
        if self.closed:
            owner.on_closed(self, self._lost_exc)

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if self.owner is None:
            self._early.append(data)
        elif not self._closing:
            self.owner.on_data(self, data)

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
        if self.owner is not None:
            self.owner.on_closed(self, exc)

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
        """Drop the connection now, discarding anything unsent."""
        self._closing = True
        self._out.clear()
        self._out_len = 0
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
