"""The control server over a real unix socket: replies, every error case, permissions, socket file care."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import structlog
import uvloop

from bgpd.control.protocol import ControlError, ErrorCode
from bgpd.control.server import (
    CommandSpec,
    ControlServer,
    ControlSocketError,
    PeerCredentials,
    SocketInUseError,
    peer_credentials,
)
from tests.control.test_protocol import BAD_LINES, strict_json


async def _sessions(args: Mapping[str, Any]) -> Any:
    return [{"name": "s1", "state": "Established"}]


async def _echo(args: Mapping[str, Any]) -> Any:
    return dict(args)


async def _reload(args: Mapping[str, Any]) -> Any:
    return {"message": "reloaded"}


async def _not_found(args: Mapping[str, Any]) -> Any:
    raise ControlError(ErrorCode.NOT_FOUND, f"no session named {args.get('name')!r}")


async def _crash(args: Mapping[str, Any]) -> Any:
    raise RuntimeError("kaput")


async def _unserialisable(args: Mapping[str, Any]) -> Any:
    return {"when": object()}


COMMANDS = {
    "sessions": CommandSpec(_sessions),
    "echo": CommandSpec(_echo),
    "reload": CommandSpec(_reload, privileged=True),
    "describe-session": CommandSpec(_not_found),
    "crash": CommandSpec(_crash),
    "weird": CommandSpec(_unserialisable),
}


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, path: Path) -> Client:
        reader, writer = await asyncio.open_unix_connection(str(path))
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self) -> dict[str, Any]:
        line = await asyncio.wait_for(self.reader.readline(), 5)
        assert line.endswith(b"\n"), line
        obj: dict[str, Any] = json.loads(line)
        return obj

    async def ask(self, cmd: str, args: dict[str, Any] | None = None, request_id: Any = 1) -> dict[str, Any]:
        await self.send_raw(json.dumps({"id": request_id, "cmd": cmd, "args": args or {}}).encode() + b"\n")
        return await self.reply()

    async def at_eof(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 5) == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def _creds(uid: int | None) -> Any:
    return lambda _sock: None if uid is None else PeerCredentials(pid=1, uid=uid, gid=uid)


@pytest_asyncio.fixture
async def server(short_dir: Path) -> AsyncIterator[ControlServer]:
    srv = ControlServer(short_dir / "run" / "bgpd.sock", COMMANDS)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.close()


@pytest.mark.asyncio
async def test_read_only_query_and_id_echo(server: ControlServer) -> None:
    client = await Client.connect(server.path)
    assert await client.ask("sessions", request_id="abc") == {
        "id": "abc",
        "ok": True,
        "data": [{"name": "s1", "state": "Established"}],
    }
    await client.close()


@pytest.mark.asyncio
async def test_pipelined_requests_answered_in_order(server: ControlServer) -> None:
    client = await Client.connect(server.path)
    await client.send_raw(
        b"".join(json.dumps({"id": i, "cmd": "echo", "args": {"n": i}}).encode() + b"\n" for i in range(5))
    )
    replies = [await client.reply() for _ in range(5)]
    assert [(r["id"], r["data"]["n"]) for r in replies] == [(i, i) for i in range(5)]
    await client.close()


@pytest.mark.asyncio
async def test_bad_json_is_answered_and_the_connection_stays_usable(server: ControlServer) -> None:
    client = await Client.connect(server.path)
    await client.send_raw(b"{nope\n")
    reply = await client.reply()
    assert reply["ok"] is False and reply["id"] is None
    assert reply["error"]["code"] == "bad_request"
    await client.send_raw(b"\n   \n")  # blank lines are ignored, not answered
    assert (await client.ask("sessions", request_id=2))["ok"] is True
    await client.close()


@pytest.mark.asyncio
async def test_unknown_command_lists_the_known_ones(server: ControlServer) -> None:
    client = await Client.connect(server.path)
    reply = await client.ask("frobnicate", request_id=9)
    assert reply["id"] == 9
    assert reply["error"]["code"] == "unknown_command"
    assert "frobnicate" in reply["error"]["message"] and "sessions" in reply["error"]["message"]
    await client.close()


@pytest.mark.asyncio
async def test_handler_errors_become_error_replies(server: ControlServer) -> None:
    client = await Client.connect(server.path)
    reply = await client.ask("describe-session", {"name": "ghost"})
    assert reply["error"] == {"code": "not_found", "message": "no session named 'ghost'"}
    crash = await client.ask("crash")
    assert crash["error"]["code"] == "internal_error" and "kaput" in crash["error"]["message"]
    weird = await client.ask("weird")
    assert weird["error"]["code"] == "internal_error"
    assert (await client.ask("sessions"))["ok"] is True  # none of that broke the connection
    await client.close()


@pytest.mark.asyncio
async def test_oversized_request_is_refused_and_the_connection_closed(short_dir: Path) -> None:
    async with ControlServer(short_dir / "c.sock", COMMANDS, max_request_bytes=1024) as srv:
        client = await Client.connect(srv.path)
        await client.send_raw(b'{"cmd": "echo", "args": {"x": "' + b"a" * 2000 + b'"}}\n')
        reply = await client.reply()
        assert reply["error"]["code"] == "request_too_large"
        assert await client.at_eof()
        await client.close()
        ok = await Client.connect(srv.path)  # the server itself is fine
        assert (await ok.ask("echo", {"x": "a" * 900}))["ok"] is True
        await ok.close()


@pytest.mark.asyncio
async def test_final_request_without_newline_is_answered(server: ControlServer) -> None:
    client = await Client.connect(server.path)
    await client.send_raw(b'{"id": 1, "cmd": "sessions"}')
    client.writer.write_eof()
    assert (await client.reply())["ok"] is True
    assert await client.at_eof()
    await client.close()


@pytest.mark.parametrize(
    ("peer_uid", "daemon_uid", "allowed"),
    [(0, 1000, True), (1000, 1000, True), (4242, 1000, False), (None, 1000, False)],
)
@pytest.mark.asyncio
async def test_privileged_commands_need_root_or_the_daemon_uid(
    short_dir: Path, peer_uid: int | None, daemon_uid: int, allowed: bool
) -> None:
    srv = ControlServer(short_dir / "p.sock", COMMANDS, credentials=_creds(peer_uid), daemon_uid=daemon_uid)
    async with srv:
        client = await Client.connect(srv.path)
        assert (await client.ask("sessions"))["ok"] is True  # read-only: anyone the file mode lets in
        reply = await client.ask("reload", request_id=5)
        assert reply["id"] == 5
        if allowed:
            assert reply == {"id": 5, "ok": True, "data": {"message": "reloaded"}}
        else:
            assert reply["error"]["code"] == "permission_denied"
            assert "reload" in reply["error"]["message"]
        await client.close()


@pytest.mark.asyncio
async def test_real_so_peercred_sees_this_process(short_dir: Path) -> None:
    seen: list[PeerCredentials | None] = []

    def recording(sock: Any) -> PeerCredentials | None:
        creds = peer_credentials(sock)
        seen.append(creds)
        return creds

    async with ControlServer(short_dir / "r.sock", COMMANDS, credentials=recording) as srv:
        client = await Client.connect(srv.path)
        assert (await client.ask("reload"))["ok"] is True  # same uid as the daemon
        await client.close()
    assert seen == [PeerCredentials(pid=os.getpid(), uid=os.geteuid(), gid=os.getegid())]


@pytest.mark.asyncio
async def test_peer_credentials_without_a_socket_is_none() -> None:
    assert peer_credentials(None) is None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        creds = peer_credentials(udp)  # not a unix stream: the kernel answers with "nobody"
    assert creds is None or creds.pid == 0


@pytest.mark.asyncio
async def test_socket_mode_and_parent_directory(short_dir: Path) -> None:
    old = os.umask(0)  # even a permissive umask must not widen the socket
    try:
        srv = ControlServer(short_dir / "a" / "b" / "bgpd.sock", COMMANDS)
        await srv.start()
    finally:
        os.umask(old)
    try:
        assert stat.S_ISSOCK(srv.path.stat().st_mode)
        assert stat.S_IMODE(srv.path.stat().st_mode) == 0o660
        assert stat.S_IMODE(srv.path.parent.stat().st_mode) == 0o755
    finally:
        await srv.close()
    assert not srv.path.exists()


@pytest.mark.asyncio
async def test_stale_socket_is_replaced(short_dir: Path) -> None:
    path = short_dir / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(path))  # bound, never listening: what a crashed daemon leaves behind
    leftover.close()
    assert path.exists()
    async with ControlServer(path, COMMANDS) as srv:
        client = await Client.connect(srv.path)
        assert (await client.ask("sessions"))["ok"] is True
        await client.close()


@pytest.mark.asyncio
async def test_live_socket_is_refused(server: ControlServer) -> None:
    second = ControlServer(server.path, COMMANDS)
    with pytest.raises(SocketInUseError, match=f"another bgpd is already listening on {server.path}"):
        await second.start()
    client = await Client.connect(server.path)  # the first one is untouched
    assert (await client.ask("sessions"))["ok"] is True
    await client.close()


@pytest.mark.asyncio
async def test_a_regular_file_in_the_way_is_not_deleted(short_dir: Path) -> None:
    path = short_dir / "file.sock"
    path.write_text("precious")
    with pytest.raises(ControlSocketError, match="not a socket"):
        await ControlServer(path, COMMANDS).start()
    assert path.read_text() == "precious"


@pytest.mark.asyncio
async def test_close_leaves_a_socket_that_is_no_longer_ours(short_dir: Path) -> None:
    path = short_dir / "x.sock"
    srv = ControlServer(path, COMMANDS)
    await srv.start()
    path.unlink()
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(path))
    try:
        await srv.close()
        assert path.exists()
    finally:
        other.close()


@pytest.mark.asyncio
async def test_client_limit(short_dir: Path) -> None:
    async with ControlServer(short_dir / "l.sock", COMMANDS, max_clients=2, reserved_clients=1) as srv:
        first, second = await Client.connect(srv.path), await Client.connect(srv.path)
        for c in (first, second):
            assert (await c.ask("sessions"))["ok"] is True  # both are registered now
        assert srv.client_count == 2
        third = await Client.connect(srv.path)
        reply = await third.reply()
        assert reply["error"]["code"] == "busy"
        assert await third.at_eof()
        await third.close()
        await first.close()
        assert (await second.ask("sessions"))["ok"] is True
        fourth = await Client.connect(srv.path)  # a freed slot is usable again
        for _ in range(100):  # the server notices the first client's EOF on its next read
            if srv.client_count < 2:
                break
            await asyncio.sleep(0.01)
        assert (await fourth.ask("sessions"))["ok"] is True
        await fourth.close()
        await second.close()


@pytest.mark.asyncio
async def test_idle_clients_are_dropped(short_dir: Path) -> None:
    async with ControlServer(short_dir / "i.sock", COMMANDS, idle_timeout=0.2) as srv:
        client = await Client.connect(srv.path)
        assert await client.at_eof()
        await client.close()


@pytest.mark.asyncio
async def test_slow_handler_does_not_block_other_clients(short_dir: Path) -> None:
    gate = asyncio.Event()

    async def slow(args: Mapping[str, Any]) -> Any:
        await gate.wait()
        return "done"

    async with ControlServer(short_dir / "s.sock", {**COMMANDS, "slow": CommandSpec(slow)}) as srv:
        waiting = await Client.connect(srv.path)
        await waiting.send_raw(b'{"id": 1, "cmd": "slow"}\n')
        other = await Client.connect(srv.path)
        assert (await other.ask("sessions"))["ok"] is True
        gate.set()
        assert (await waiting.reply())["data"] == "done"
        await waiting.close()
        await other.close()


@pytest.mark.asyncio
async def test_close_drops_connected_clients(short_dir: Path) -> None:
    srv = ControlServer(short_dir / "d.sock", COMMANDS)
    await srv.start()
    client = await Client.connect(srv.path)
    assert (await client.ask("sessions"))["ok"] is True
    await srv.close()
    assert await client.at_eof()
    assert srv.client_count == 0
    await client.close()


def test_works_under_uvloop_too(short_dir: Path) -> None:
    """The daemon runs on uvloop, whose transports hand out a different socket object for SO_PEERCRED."""
    seen: list[PeerCredentials | None] = []

    def recording(sock: Any) -> PeerCredentials | None:
        seen.append(peer_credentials(sock))
        return seen[-1]

    async def scenario() -> list[dict[str, Any]]:
        async with ControlServer(short_dir / "u.sock", COMMANDS, credentials=recording) as srv:
            client = await Client.connect(srv.path)
            replies = [await client.ask("reload"), await client.ask("nope")]
            await client.close()
            return replies

    ok, unknown = uvloop.run(scenario())
    assert ok["data"] == {"message": "reloaded"}
    assert unknown["error"]["code"] == "unknown_command"
    assert seen == [PeerCredentials(pid=os.getpid(), uid=os.geteuid(), gid=os.getegid())]


@pytest.mark.asyncio
async def test_too_long_path_is_a_clear_error(short_dir: Path) -> None:
    path = short_dir / ("x" * 120)
    with pytest.raises(ControlSocketError, match="too long"):
        await ControlServer(path, COMMANDS).start()


@pytest.mark.asyncio
async def test_every_bad_request_gets_a_bad_request_reply_and_no_traceback(
    server: ControlServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Each line of the protocol tests' catalogue on one connection: a strict bad_request reply each,
    nothing logged, and the connection still answers afterwards."""
    lines = {name: case for name, case in BAD_LINES.items() if name != "too long"}
    client = await Client.connect(server.path)
    with structlog.testing.capture_logs() as logs:
        for name, (line, echoed_id, fragment) in lines.items():
            await client.send_raw(line + b"\n")
            raw = await asyncio.wait_for(client.reader.readline(), 5)
            assert raw, f"{name}: connection closed without a reply"
            reply = strict_json(raw)
            assert (reply["id"], reply["error"]["code"]) == (echoed_id, "bad_request"), name
            assert fragment in reply["error"]["message"], name
    assert (await client.ask("sessions"))["ok"] is True
    await client.close()
    assert logs == []
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
