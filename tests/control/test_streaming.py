"""Streamed replies: a listing goes out in parts as it is made, the client joins them, an error
ends them, and a slow listing or a slow reader never holds the loop or other clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from bgpd.control import client
from bgpd.control.protocol import ControlError, ErrorCode, parse_reply
from bgpd.control.server import PART_ITEMS, CommandSpec, ControlServer, Streamed
from tests.control.test_server import COMMANDS, Client


def _numbers(count: int, pauses: int = 0) -> Iterator[Any]:
    for n in range(count):
        for _ in range(pauses):
            yield None
        yield {"n": n}


class Tracked:
    """A listing that records how far it was read and whether it was closed."""

    def __init__(self, count: int) -> None:
        self.made = 0
        self.closed = False
        self.count = count

    def items(self) -> Iterator[Any]:
        try:
            for n in range(self.count):
                self.made += 1
                yield {"n": n}
        finally:
            self.closed = True


async def _listing(args: Mapping[str, Any]) -> Any:
    return Streamed(_numbers(int(args.get("count", 0)), int(args.get("pauses", 0))))


async def _broken(args: Mapping[str, Any]) -> Any:
    def items() -> Iterator[Any]:
        yield from _numbers(PART_ITEMS + 5)
        raise ControlError(ErrorCode.NOT_FOUND, "the session went away")

    return Streamed(items())


async def _unencodable(args: Mapping[str, Any]) -> Any:
    return Streamed(iter([{"ok": 1}, {"when": object()}]))


STREAMING = {
    **COMMANDS,
    "listing": CommandSpec(_listing),
    "broken": CommandSpec(_broken),
    "unencodable": CommandSpec(_unencodable),
}


async def _lines(conn: Client) -> list[dict[str, Any]]:
    """Reply lines up to and including the one that ends the answer."""
    lines = []
    while True:
        line = await conn.reply()
        lines.append(line)
        if not line.get("more") or not line["ok"]:
            return lines


@pytest.mark.asyncio
async def test_a_long_listing_comes_in_parts_that_join_to_the_list(short_dir: Path) -> None:
    count = 2 * PART_ITEMS + 7
    async with ControlServer(short_dir / "c.sock", STREAMING) as srv:
        conn = await Client.connect(srv.path)
        await conn.send_raw(b'{"id": 4, "cmd": "listing", "args": {"count": %d, "pauses": 2}}\n' % count)
        lines = await _lines(conn)
        assert len(lines) == 3
        assert [line.get("more") for line in lines] == [True, True, None]
        assert all(line["id"] == 4 and line["ok"] for line in lines)
        assert [item["n"] for line in lines for item in line["data"]] == list(range(count))
        assert (await conn.ask("sessions"))["ok"]  # the connection serves the next request after
        await conn.close()
        joined = await asyncio.to_thread(client.request, srv.path, "listing", {"count": count})
        assert joined.ok and not joined.more and [item["n"] for item in joined.data] == list(range(count))


@pytest.mark.asyncio
async def test_short_and_empty_listings_are_one_plain_reply(short_dir: Path) -> None:
    async with ControlServer(short_dir / "c.sock", STREAMING) as srv:
        conn = await Client.connect(srv.path)
        assert await conn.ask("listing", {"count": 3}) == {
            "id": 1,
            "ok": True,
            "data": [{"n": 0}, {"n": 1}, {"n": 2}],
        }
        assert await conn.ask("listing", {"count": 0}) == {"id": 1, "ok": True, "data": []}
        await conn.close()


@pytest.mark.asyncio
async def test_an_error_while_listing_ends_the_stream_and_the_client_sees_only_it(short_dir: Path) -> None:
    async with ControlServer(short_dir / "c.sock", STREAMING) as srv:
        conn = await Client.connect(srv.path)
        await conn.send_raw(b'{"id": 9, "cmd": "broken"}\n')
        lines = await _lines(conn)
        assert lines[0]["more"] is True and len(lines[0]["data"]) == PART_ITEMS
        assert lines[-1] == {
            "id": 9,
            "ok": False,
            "error": {"code": "not_found", "message": "the session went away"},
        }
        assert (await conn.ask("sessions"))["ok"]
        await conn.close()
        reply = await asyncio.to_thread(client.request, srv.path, "broken")
        assert not reply.ok and reply.error_code == "not_found"
        odd = await asyncio.to_thread(client.request, srv.path, "unencodable")
        assert not odd.ok and odd.error_code == "internal_error" and "produced no JSON" in odd.error_message


@pytest.mark.asyncio
async def test_a_client_that_does_not_read_stops_the_listing_and_a_hang_up_closes_it(short_dir: Path) -> None:
    tracked = Tracked(1_000_000)

    async def big(args: Mapping[str, Any]) -> Any:
        return Streamed(tracked.items())

    async with ControlServer(short_dir / "c.sock", {**COMMANDS, "big": CommandSpec(big)}) as srv:
        conn = await Client.connect(srv.path)
        await conn.send_raw(b'{"id": 1, "cmd": "big"}\n')
        await asyncio.sleep(0.5)  # the reader reads nothing: the socket buffers fill, then drain() waits
        made = tracked.made
        assert 0 < made < tracked.count
        other = await Client.connect(srv.path)
        assert (await other.ask("sessions"))["ok"]  # the daemon is not busy with the listing
        await asyncio.sleep(0.2)
        assert tracked.made == made  # nothing more was made while nobody read
        conn.writer.transport.abort()
        for _ in range(200):
            if tracked.closed:
                break
            await asyncio.sleep(0.01)
        assert tracked.closed and tracked.made < tracked.count
        await other.close()


@pytest.mark.asyncio
async def test_a_listing_that_works_without_items_still_gives_the_loop_turns(short_dir: Path) -> None:
    def sorting() -> Iterator[Any]:
        for _ in range(60):
            time.sleep(0.002)  # a slice of work that yields no item, e.g. sorting keys
            yield None
        yield {"n": 1}

    async def slow(args: Mapping[str, Any]) -> Any:
        return Streamed(sorting())

    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(1000):
            ticks.append(time.perf_counter())
            await asyncio.sleep(0)

    async with ControlServer(short_dir / "c.sock", {**COMMANDS, "slow": CommandSpec(slow)}) as srv:
        conn = await Client.connect(srv.path)
        await conn.send_raw(b'{"id": 1, "cmd": "slow"}\n')
        task = asyncio.create_task(ticker())
        assert await conn.reply() == {"id": 1, "ok": True, "data": [{"n": 1}]}
        task.cancel()
        await conn.close()
    assert len(ticks) > 10  # other work ran while the listing was being made


def test_a_part_without_a_list_or_with_a_bad_more_is_unreadable() -> None:
    assert parse_reply(b'{"id":1,"ok":true,"data":[1],"more":true}').more
    for bad in (b'{"id":1,"ok":true,"data":{},"more":true}', b'{"id":1,"ok":true,"data":[],"more":1}'):
        with pytest.raises(ValueError):
            parse_reply(bad)
