"""The control socket server: a unix stream socket answering JSON-lines requests (see ``protocol``).

Who may do what: anyone the socket's file permissions let in (mode 0660, so the daemon's user and
group) may run read-only commands; privileged ones (reload, reset) need the connecting process to
run as root or as the daemon's own uid, checked with SO_PEERCRED — the kernel's word, not the
client's. The socket is created under a restrictive umask so it is never, even briefly, more open
than 0660 (OpenBGPD's ``control.c`` sets the umask before ``bind`` for the same reason).

Fairness: the same credentials decide who gets a connection slot (``admission``): a few slots are
kept for root and the daemon's user, and each other uid gets a bounded share, so no group member can
lock the operator out. A connection holds its slot only while it is used: it is closed after
``idle_timeout`` without a whole request, and aborted when a reply is not read within
``reply_timeout`` (a client that stops reading would otherwise hold its slot for ever).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import struct
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import structlog

from bgpd.control.admission import Admission, ConnectionLimits
from bgpd.control.protocol import (
    MAX_REQUEST_BYTES,
    BadRequestError,
    ControlError,
    ErrorCode,
    Request,
    encode_error,
    encode_ok,
    encode_part,
    parse_request,
)

__all__ = [
    "CommandSpec",
    "ControlServer",
    "ControlSocketError",
    "Handler",
    "PeerCredentials",
    "SocketInUseError",
    "Streamed",
    "peer_credentials",
    "prepare_socket_path",
    "stop_serving",
]

_log = structlog.get_logger("bgpd.control")

Handler = Callable[[Mapping[str, Any]], Awaitable[Any]]
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid (socket(7))
SOCKET_MODE = 0o660
PARENT_MODE = 0o755
MAX_PATH_BYTES = 107  # sun_path is 108 bytes including the terminating NUL (unix(7))


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command: its handler, and whether it changes state (privileged) or only reads."""

    handler: Handler
    privileged: bool = False


@dataclass(frozen=True, slots=True)
class Streamed:
    """A handler's answer that is a list made as it is sent (``protocol``: a streamed reply).

    ``items`` is iterated on the loop in slices: the items so far go out as one part when
    ``PART_ITEMS`` are together or ``PART_BUDGET`` seconds were spent, and the loop gets a turn
    before the next slice; the next part is made only once the client took the last one, so a
    listing costs one part of memory however long it is. A producer yields ``None`` after each
    piece of work of its own that makes no item (sorting, filtering): it is not sent, only a
    point where the time is checked."""

    items: Iterable[Any]


PART_ITEMS: Final = 1000
PART_BUDGET: Final = 0.005  # seconds of work per slice


@dataclass(frozen=True, slots=True)
class _Streaming:
    request: Request
    reply: Streamed


@dataclass(frozen=True, slots=True)
class PeerCredentials:
    pid: int
    uid: int
    gid: int


class _HasGetsockopt(Protocol):
    def getsockopt(self, level: int, option: int, buflen: int, /) -> bytes: ...


def peer_credentials(sock: _HasGetsockopt | None) -> PeerCredentials | None:
    """The connecting process's credentials as the kernel recorded them at connect time."""
    if sock is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError:
        return None
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCredentials(pid=pid, uid=uid, gid=gid)


class ControlSocketError(Exception):
    """The control socket cannot be set up; the message says why and is meant for the operator."""


class SocketInUseError(ControlSocketError):
    """Another process is accepting connections on the socket path (most likely another bgpd)."""


def _someone_listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return True  # e.g. backlog full or timeout: something is there; do not steal its path
    return True


def prepare_socket_path(path: Path) -> None:
    """Make ``path`` bindable: create the parent directory, replace a stale socket, refuse a live one."""
    size = len(os.fsencode(path))
    if size > MAX_PATH_BYTES:
        raise ControlSocketError(f"socket path {path} is too long ({size} bytes, limit {MAX_PATH_BYTES})")
    parent = path.parent
    if not parent.exists():
        parent.mkdir(parents=True, exist_ok=True)
        parent.chmod(PARENT_MODE)  # mkdir's mode is filtered by the umask; say what we mean
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ControlSocketError(f"{path} exists and is not a socket; refusing to replace it")
    if _someone_listening(path):
        raise SocketInUseError(f"another bgpd is already listening on {path}")
    path.unlink()  # stale: left behind by a bgpd that did not exit cleanly


def _bind(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old_umask = os.umask(0o777 & ~SOCKET_MODE)  # the socket is born 0660, never wider
    try:
        sock.bind(str(path))
    except OSError as err:
        sock.close()
        raise ControlSocketError(f"cannot create control socket {path}: {err.strerror or err}") from None
    finally:
        os.umask(old_umask)
    os.chmod(path, SOCKET_MODE)
    sock.setblocking(False)
    return sock


async def stop_serving(server: asyncio.Server | None, clients: set[asyncio.Task[None]]) -> None:
    """Stop accepting on ``server`` and end the tasks serving its connections, waiting for both."""
    if server is not None:
        server.close()
    for task in list(clients):
        task.cancel()
    for task in list(clients):
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if server is not None:
        await server.wait_closed()


class ControlServer:
    """Serves ``commands`` on ``path``; at most ``max_clients`` connections at a time.

    Requests on one connection are answered in order. ``reserved_clients`` of the slots are kept
    for root and the daemon's user, and another uid holds at most ``max_clients_per_uid``. An idle
    connection is closed after ``idle_timeout`` seconds and one whose reply is not read within
    ``reply_timeout`` is aborted, so forgotten or stuck clients cannot hold their slots forever.
    """

    def __init__(
        self,
        path: Path,
        commands: Mapping[str, CommandSpec],
        *,
        max_clients: int = 16,
        reserved_clients: int = 4,
        max_clients_per_uid: int = 4,
        idle_timeout: float = 60.0,
        reply_timeout: float = 30.0,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        credentials: Callable[[Any], PeerCredentials | None] = peer_credentials,
        daemon_uid: int | None = None,
    ) -> None:
        self.path = path
        self._commands = dict(commands)
        self._admission = Admission(ConnectionLimits(max_clients, reserved_clients, max_clients_per_uid))
        self._idle_timeout = idle_timeout
        self._reply_timeout = reply_timeout
        self._max_request_bytes = max_request_bytes
        self._credentials = credentials
        self._daemon_uid = os.geteuid() if daemon_uid is None else daemon_uid
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._inode: int | None = None

    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def start(self) -> None:
        prepare_socket_path(self.path)
        sock = _bind(self.path)
        self._inode = self.path.stat().st_ino
        self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=self._max_request_bytes)
        _log.info("control_listening", socket=str(self.path))

    async def close(self) -> None:
        """Stop accepting, drop connected clients, and remove the socket file if it is still ours."""
        await stop_serving(self._server, self._clients)
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            if self._inode is not None and self.path.stat().st_ino == self._inode:
                self.path.unlink()
        self._inode = None

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _privileged(self, creds: PeerCredentials | None) -> bool:
        return creds is not None and creds.uid in (0, self._daemon_uid)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # asyncio runs each connection's callback as a task
        creds = self._credentials(writer.get_extra_info("socket"))
        uid = None if creds is None else creds.uid
        privileged = self._privileged(creds)
        refusal = self._admission.admit(uid, privileged)
        if refusal is not None:
            await self._send_and_close(writer, ErrorCode.BUSY, refusal)
            return
        self._clients.add(task)
        try:
            await self._converse(reader, writer, creds)
        except TimeoutError:  # caught before OSError, its base class: a reply unread for reply_timeout
            _log.info("control_client_not_reading", uid=uid, timeout_s=self._reply_timeout)
            writer.transport.abort()  # close() would wait for the client to read the rest
        except (ConnectionError, OSError):
            pass  # the client went away mid-reply; nothing to tell anyone
        finally:
            self._admission.release(uid, privileged)
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, creds: PeerCredentials | None
    ) -> None:
        while True:
            last = False
            try:
                async with asyncio.timeout(self._idle_timeout):
                    line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as eof:
                line, last = eof.partial, True  # a final request without newline still counts
            except asyncio.LimitOverrunError:
                limit = self._max_request_bytes
                await self._reply(
                    writer, encode_error(None, ErrorCode.REQUEST_TOO_LARGE, f"request exceeds {limit} bytes")
                )
                return
            except TimeoutError:
                return
            if line.strip():
                answer = await self._dispatch(line, creds)
                if isinstance(answer, _Streaming):
                    await self._stream(writer, answer)
                else:
                    await self._reply(writer, answer)
            if last:
                return

    async def _reply(self, writer: asyncio.StreamWriter, reply: bytes) -> None:
        """Write one reply (or one part of a streamed one); TimeoutError when the client does not
        take it within ``reply_timeout``."""
        writer.write(reply)
        async with asyncio.timeout(self._reply_timeout):
            await writer.drain()

    async def _dispatch(self, line: bytes, creds: PeerCredentials | None) -> bytes | _Streaming:
        try:
            request = parse_request(line)
        except BadRequestError as err:
            return encode_error(err.request_id, err.code, err.message)
        spec = self._commands.get(request.cmd)
        if spec is None:
            known = ", ".join(sorted(self._commands))
            return encode_error(
                request.id, ErrorCode.UNKNOWN_COMMAND, f"unknown command {request.cmd!r} (known: {known})"
            )
        if spec.privileged and not self._privileged(creds):
            who = "unknown user" if creds is None else f"uid {creds.uid}"
            return encode_error(
                request.id,
                ErrorCode.PERMISSION_DENIED,
                f"{request.cmd!r} changes state and needs root or the daemon's user ({who} is neither)",
            )
        try:
            data = await spec.handler(request.args)
        except Exception as err:
            return _failure(request, err)
        if isinstance(data, Streamed):
            return _Streaming(request, data)
        try:
            return encode_ok(request.id, data)
        except (TypeError, ValueError) as err:
            return _unserialisable(request, err)

    async def _stream(self, writer: asyncio.StreamWriter, streaming: _Streaming) -> None:
        """Write a streamed reply part by part (see ``Streamed``); a part that cannot be made ends
        the stream with an error reply."""
        request = streaming.request
        items = iter(streaming.reply.items)
        try:
            while True:
                part, done = _next_part(items)
                if part or done:
                    line, ends = _encoded_part(request, part, last=done)
                    await self._reply(writer, line)
                    if ends:
                        return
                await asyncio.sleep(0)  # the loop's turn between slices
        except (ConnectionError, OSError):
            raise
        except Exception as err:
            await self._reply(writer, _failure(request, err))
        finally:
            closing = getattr(items, "close", None)
            if closing is not None:
                closing()  # a generator's finally blocks run now, not at garbage collection

    @staticmethod
    async def _send_and_close(writer: asyncio.StreamWriter, code: ErrorCode, message: str) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(encode_error(None, code, message))
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


def _failure(request: Request, err: Exception) -> bytes:
    """The error reply for a handler (or a streamed part) that raised ``err``."""
    if isinstance(err, ControlError):
        return encode_error(request.id, err.code, err.message)
    _log.error("control_handler_failed", cmd=request.cmd, exc_info=err)
    return encode_error(request.id, ErrorCode.INTERNAL_ERROR, f"{request.cmd!r} failed: {err}")


def _unserialisable(request: Request, err: Exception) -> bytes:
    _log.error("control_reply_unserialisable", cmd=request.cmd, error=str(err))
    return encode_error(request.id, ErrorCode.INTERNAL_ERROR, f"{request.cmd!r} produced no JSON: {err}")


def _next_part(items: Iterator[Any]) -> tuple[list[Any], bool]:
    """The items of one slice of ``items`` (see ``Streamed``), and whether ``items`` ended."""
    part: list[Any] = []
    deadline = time.perf_counter() + PART_BUDGET
    for item in items:
        if item is not None:
            part.append(item)
            if len(part) >= PART_ITEMS:
                return part, False
        if time.perf_counter() >= deadline:
            return part, False
    return part, True


def _encoded_part(request: Request, part: list[Any], *, last: bool) -> tuple[bytes, bool]:
    """The reply line of a part, and whether it ends the stream (the last part, or an error
    reply when the part cannot be encoded)."""
    try:
        return (encode_ok(request.id, part) if last else encode_part(request.id, part)), last
    except (TypeError, ValueError) as err:
        return _unserialisable(request, err), True
