"""Control-socket fairness over real unix sockets, with clients running as other uids.

The tests run as root, so the unprivileged clients are forked children that drop to another uid
(``os.setuid``) before connecting: the server sees them through the real SO_PEERCRED, exactly as it
would see a member of the socket's group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog

from bgpd.control.server import CommandSpec, ControlServer, Streamed
from tests.control.test_server import COMMANDS, Client

NOBODY = 65534  # nobody:nogroup on Debian; the socket's group is set to it, as for a group member
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run clients as other uids")


@dataclass
class Holder:
    """A forked child running as ``uid`` that opened connections and holds them until released."""

    pid: int
    outcomes: list[str]  # per connection attempt: "ok" or the error code of the reply
    messages: list[str]  # per connection attempt: the error message, or ""
    release_fd: int

    def release(self) -> None:
        os.close(self.release_fd)  # EOF on the child's pipe: it closes everything and exits
        os.waitpid(self.pid, 0)


def _child(uid: int, path: Path, attempts: int, report: int, release: int) -> None:
    """Runs in the forked child only; never returns."""
    held: list[socket.socket] = []
    try:
        # Drop every inherited descriptor (the server's, other children's pipe ends): otherwise an
        # earlier child would never see EOF on its release pipe while this one lives.
        for name in os.listdir("/proc/self/fd"):
            if int(name) not in (0, 1, 2, report, release):
                with contextlib.suppress(OSError):
                    os.close(int(name))
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(uid)
        outcomes = []
        for n in range(attempts):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(10)
            sock.connect(str(path))
            with contextlib.suppress(BrokenPipeError):  # a refused connection is already closed
                sock.sendall(json.dumps({"id": n, "cmd": "sessions"}).encode() + b"\n")
            reply = json.loads(sock.makefile("rb").readline())
            outcomes.append(reply.get("error", {"code": "ok", "message": ""}))
            held.append(sock)
        os.write(report, json.dumps(outcomes).encode() + b"\n")
        os.read(release, 1)  # hold every connection until the parent closes its end
    except BaseException as err:  # report anything, so the parent fails with a reason
        os.write(report, json.dumps([{"code": f"child error: {err!r}", "message": ""}]).encode() + b"\n")
    finally:
        os._exit(0)


def _read_line(fd: int) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data


async def hold_as(uid: int, path: Path, attempts: int) -> Holder:
    """Fork a client running as ``uid`` that makes ``attempts`` connections and keeps the admitted ones."""
    report_r, report_w = os.pipe()
    release_r, release_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        os.close(release_w)
        _child(uid, path, attempts, report_w, release_r)
    os.close(report_w)
    os.close(release_r)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(_read_line, report_r), 20)
    finally:
        os.close(report_r)
    replies = json.loads(line)
    return Holder(pid, [r["code"] for r in replies], [r["message"] for r in replies], release_w)


@contextlib.contextmanager
def released(*holders: Holder) -> Iterator[None]:
    try:
        yield
    finally:
        for holder in holders:
            holder.release()


@contextlib.asynccontextmanager
async def shared_server(path: Path, **limits: Any) -> AsyncIterator[ControlServer]:
    """A server on a socket reachable by group ``nogroup`` (mode 0660, as in production)."""
    path.parent.chmod(0o711)
    async with ControlServer(path, COMMANDS, **limits) as srv:
        os.chown(path, -1, NOBODY)
        yield srv


async def _eventually(condition: Any, seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return bool(condition())


@pytest.mark.asyncio
async def test_a_group_member_holding_connections_cannot_lock_root_out(short_dir: Path) -> None:
    """The reported attack: one unprivileged user opens as many connections as it can."""
    async with shared_server(short_dir / "f.sock") as srv:
        attacker = await hold_as(NOBODY, srv.path, attempts=16)
        with released(attacker):
            assert attacker.outcomes == ["ok"] * 4 + ["busy"] * 12
            root = await Client.connect(srv.path)
            assert await root.ask("reload") == {"id": 1, "ok": True, "data": {"message": "reloaded"}}
            await root.close()


@pytest.mark.asyncio
async def test_the_busy_reply_says_which_limit_was_hit(short_dir: Path) -> None:
    async with shared_server(short_dir / "m.sock", max_clients_per_uid=2) as srv:
        holder = await hold_as(NOBODY, srv.path, attempts=3)
        holder.release()
    assert holder.outcomes == ["ok", "ok", "busy"]
    assert holder.messages[2] == f"uid {NOBODY} already holds the 2 connections one user may hold"


@pytest.mark.asyncio
async def test_unprivileged_users_together_leave_the_reserve_to_root(short_dir: Path) -> None:
    limits = {"max_clients": 6, "reserved_clients": 2, "max_clients_per_uid": 2}
    async with shared_server(short_dir / "r.sock", **limits) as srv:
        first = await hold_as(NOBODY, srv.path, attempts=2)
        second = await hold_as(NOBODY - 1, srv.path, attempts=2)
        with released(first, second):
            assert first.outcomes == second.outcomes == ["ok", "ok"]
            third = await hold_as(NOBODY - 2, srv.path, attempts=1)  # 2 slots free, both reserved
            third.release()
            assert third.outcomes == ["busy"]
            roots = [await Client.connect(srv.path) for _ in range(2)]
            for root in roots:
                assert (await root.ask("reload"))["ok"] is True
            assert srv.client_count == 6
            for root in roots:
                await root.close()
        assert await _eventually(lambda: srv.client_count == 0)
        later = await hold_as(NOBODY - 2, srv.path, attempts=2)  # released slots are free again
        later.release()
        assert later.outcomes == ["ok", "ok"]


@pytest.mark.asyncio
async def test_idle_connections_give_their_slots_back(short_dir: Path) -> None:
    async with shared_server(short_dir / "i.sock", idle_timeout=0.3) as srv:
        holder = await hold_as(NOBODY, srv.path, attempts=4)
        with released(holder):
            assert holder.outcomes == ["ok"] * 4
            assert await _eventually(lambda: srv.client_count == 0)  # idle: closed by the server
            again = await hold_as(NOBODY, srv.path, attempts=4)  # while the first still holds its ends
            again.release()
            assert again.outcomes == ["ok"] * 4


@pytest.mark.asyncio
async def test_a_client_that_does_not_read_its_reply_is_dropped(short_dir: Path) -> None:
    async def huge(args: Mapping[str, Any]) -> Any:
        return "x" * (16 * 1024 * 1024)  # far more than the socket buffers hold

    commands = {**COMMANDS, "huge": CommandSpec(huge)}
    async with ControlServer(short_dir / "w.sock", commands, reply_timeout=0.3) as srv:
        with structlog.testing.capture_logs() as logs:
            stuck = await Client.connect(srv.path)
            await stuck.send_raw(b'{"id": 1, "cmd": "huge"}\n')  # and never read
            assert await _eventually(lambda: srv.client_count == 1)
            assert await _eventually(lambda: srv.client_count == 0)
        assert [e["event"] for e in logs] == ["control_client_not_reading"]
        stuck.writer.transport.abort()
        other = await Client.connect(srv.path)
        assert (await other.ask("sessions"))["ok"] is True
        await other.close()


@pytest.mark.asyncio
async def test_a_client_that_stops_reading_a_streamed_reply_is_dropped(short_dir: Path) -> None:
    made = 0

    def rows() -> Iterator[str]:
        nonlocal made
        for _ in range(1_000_000):
            made += 1
            yield "x" * 1000

    async def listing(args: Mapping[str, Any]) -> Any:
        return Streamed(rows())

    commands = {**COMMANDS, "listing": CommandSpec(listing)}
    async with ControlServer(short_dir / "s.sock", commands, reply_timeout=0.3) as srv:
        with structlog.testing.capture_logs() as logs:
            stuck = await Client.connect(srv.path)
            await stuck.send_raw(b'{"id": 1, "cmd": "listing"}\n')  # and never read
            assert await _eventually(lambda: srv.client_count == 1)
            assert await _eventually(lambda: srv.client_count == 0)
        assert [e["event"] for e in logs] == ["control_client_not_reading"]
        assert made < 100_000  # parts are made only as the client takes them
        stuck.writer.transport.abort()
