"""The metrics listener: the least HTTP that a Prometheus scrape needs, on the daemon's own loop.

It answers ``GET /metrics`` (a query string is ignored) with the exposition text and anything else
with 404; it is off unless the settings turn it on, and binds to one address (127.0.0.1 unless set).
Written on asyncio streams rather than with an HTTP framework, because it must never cost a
session anything (design: "Nothing may cost a session"), and every bound is visible here:

- at most ``max_clients`` connections at once; one more is answered 503 and closed at once;
- the request head (request line and headers) at most ``max_request_bytes``, read within
  ``request_timeout`` seconds, else 431 or the connection is closed (a slow or silent client
  holds a slot for seconds, never longer);
- the reply is rendered in chunks that give the loop back between them (``bgpd.daemon.metrics``),
  and written within ``write_timeout`` seconds, else the connection is dropped;
- one request per connection (``Connection: close``): nothing to keep alive, nothing to pipeline;
  after the reply our side is shut and what the client still sends is read and dropped for at most
  ``LINGER`` seconds (a lingering close, as HTTP servers do), so a close never resets the
  connection before the client has read the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Final

import structlog

from bgpd.control.server import stop_serving
from bgpd.daemon.metrics import Format

__all__ = ["MetricsListener"]

_log = structlog.get_logger("bgpd.metrics")

PATH: Final = "/metrics"
LINGER: Final = 1.0
_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


class MetricsListener:
    """Serves ``scrape(format) -> text`` on ``host``:``port`` (see the module docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        scrape: Callable[[Format], Awaitable[str]],
        *,
        max_clients: int = 8,
        max_request_bytes: int = 8192,
        request_timeout: float = 5.0,
        write_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self._scrape = scrape
        self._max_clients = max_clients
        self._max_request_bytes = max_request_bytes
        self._request_timeout = request_timeout
        self._write_timeout = write_timeout
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    @property
    def bound_port(self) -> int:
        """The port actually bound (``port`` 0 picks a free one, for tests)."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Bind and listen; OSError (address in use, not local) goes to the caller."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=self._max_request_bytes, reuse_address=True
        )
        _log.info("metrics_listening", address=self.host, port=self.bound_port)

    async def close(self) -> None:
        await stop_serving(self._server, self._clients)
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        try:
            if task is None or len(self._clients) >= self._max_clients:
                await self._reply(reader, writer, 503, b"too many scrapes at once\n")
                return
            self._clients.add(task)
            status, body, content_type = await self._answer(reader)
            if status:
                await self._reply(reader, writer, status, body, content_type)
        except (ConnectionError, OSError, TimeoutError):
            pass  # the client went away or stalled: nothing to tell anyone
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, bytes, str]:
        """The status, body and content type for one request; status 0: close without a reply."""
        try:
            async with asyncio.timeout(self._request_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            return 431, b"request head too large\n", "text/plain"
        except (asyncio.IncompleteReadError, TimeoutError):
            return 0, b"", ""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, b"not an HTTP/1.x request\n", "text/plain"
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method != "GET" or target != PATH:
            return 404, b"only GET /metrics is served here\n", "text/plain"
        accept = next(
            (
                value
                for name, _, value in (line.partition(":") for line in lines[1:])
                if name.lower() == "accept"
            ),
            None,
        )
        fmt = Format.negotiate(accept)
        return 200, (await self._scrape(fmt)).encode("utf-8"), fmt.content_type

    async def _reply(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str = "text/plain",
    ) -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        async with asyncio.timeout(self._write_timeout):
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER):
                while await reader.read(self._max_request_bytes):
                    pass
