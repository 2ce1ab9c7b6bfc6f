"""Input in slices: a connection queues what it reads, the loop's pacer hands it on in order, a
bounded amount per loop iteration, round-robin between connections, and a close comes last."""

from __future__ import annotations

import asyncio
import time

import pytest

from bgpd.speaker.connection import READ_HIGH, Connection
from bgpd.speaker.read_pacer import SLICE, ReadPacer, pacer_for
from tests.speaker.test_connection import FakeTransport


class ReadingTransport(FakeTransport):
    """Records pause_reading/resume_reading too."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = True
        self.pauses = 0

    def pause_reading(self) -> None:
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading = True


class Collector:
    """An owner that keeps what it is handed."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.closed_after = -1  # how many pieces had come when the close was reported

    def on_data(self, conn: Connection, data: bytes) -> None:
        self.pieces.append(data)

    def on_closed(self, conn: Connection, exc: Exception | None) -> None:
        self.closed_after = len(self.pieces)

    def on_writable(self, conn: Connection) -> None:
        pass

    def on_overflow(self, conn: Connection) -> None:
        pass

    def on_send_stalled(self, conn: Connection) -> None:
        pass


def stream(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def connected() -> tuple[Collector, Connection, ReadingTransport]:
    owner = Collector()
    conn, transport = Connection(owner), ReadingTransport()
    conn.connection_made(transport)
    return owner, conn, transport


async def settle(turns: int = 200) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_input_reaches_the_owner_later_in_order_and_in_slices() -> None:
    owner, conn, _transport = connected()
    data = stream(5 * SLICE + 123)
    conn.data_received(data[:1000])
    conn.data_received(data[1000:])
    assert owner.pieces == []  # nothing while the reading callback runs
    await settle()
    assert b"".join(owner.pieces) == data
    assert all(len(piece) <= SLICE for piece in owner.pieces) and len(owner.pieces) >= 6


@pytest.mark.asyncio
async def test_a_close_is_reported_after_the_input_that_came_before_it() -> None:
    owner, conn, _transport = connected()
    conn.data_received(stream(3 * SLICE))
    conn.connection_lost(None)
    assert owner.closed_after == -1
    await settle()
    assert b"".join(owner.pieces) == stream(3 * SLICE) and owner.closed_after == len(owner.pieces)


@pytest.mark.asyncio
async def test_input_before_the_owner_is_attached_is_kept_and_so_is_the_close() -> None:
    conn, transport = Connection(), ReadingTransport()
    conn.connection_made(transport)
    conn.data_received(b"early")
    conn.connection_lost(None)
    await settle()
    owner = Collector()
    conn.attach(owner)
    await settle()
    assert owner.pieces == [b"early"] and owner.closed_after == 1


@pytest.mark.asyncio
async def test_our_own_close_drops_unread_input() -> None:
    owner, conn, _transport = connected()
    conn.data_received(stream(4 * SLICE))
    conn.abort()
    await settle()
    assert owner.pieces == []


@pytest.mark.asyncio
async def test_reading_stops_while_the_queue_is_long_and_resumes_once_it_drained() -> None:
    owner, conn, transport = connected()
    chunk = stream(64 * 1024)
    for _ in range(READ_HIGH // len(chunk) + 1):
        conn.data_received(chunk)
    assert not transport.reading and transport.pauses == 1
    await settle(500)
    assert transport.reading
    assert len(b"".join(owner.pieces)) == len(chunk) * (READ_HIGH // len(chunk) + 1)


class SlowReader:
    """A reader whose every slice takes ``cost`` seconds of the loop."""

    def __init__(self, name: str, slices: int, cost: float, log: list[str]) -> None:
        self.name, self.left, self.cost, self.log = name, slices, cost, log

    def read_slice(self, size: int) -> bool:
        time.sleep(self.cost)
        self.left -= 1
        self.log.append(self.name)
        return self.left > 0


@pytest.mark.asyncio
async def test_the_pacer_takes_turns_and_yields_to_timers_between_budgets() -> None:
    loop = asyncio.get_running_loop()
    pacer = ReadPacer(loop, budget=0.010)
    log: list[str] = []
    a, b = SlowReader("a", 20, 0.003, log), SlowReader("b", 20, 0.003, log)
    timer_fired_at: list[int] = []
    loop.call_later(0, lambda: timer_fired_at.append(len(log)))
    pacer.want(a)
    pacer.want(b)
    while a.left or b.left:
        await asyncio.sleep(0.001)
    assert log[:6] == ["a", "b", "a", "b", "a", "b"]  # round-robin
    assert sorted(log) == ["a"] * 20 + ["b"] * 20
    assert pacer.turns >= 4  # 40 slices of 3 ms do not fit one 10 ms budget
    assert timer_fired_at and timer_fired_at[0] < 40  # the timer ran while slices were still waiting


@pytest.mark.asyncio
async def test_one_pacer_per_loop() -> None:
    loop = asyncio.get_running_loop()
    assert pacer_for(loop) is pacer_for(loop)
    other = asyncio.new_event_loop()
    try:
        assert pacer_for(other) is not pacer_for(loop)
    finally:
        other.close()
