"""A scripted BGP peer for speaker tests: plain sockets and the wire codecs, no FSM.

It does exactly what a test tells it (send an OPEN, send bytes one at a time, stop reading, reset
mid-message), which a correct BGP implementation would never do on its own. All its I/O is
awaited with timeouts, so a test that goes wrong fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from typing import Final

from bgpd.wire import Framer, Keepalive, Message, Open, decode_message, encode_message
from bgpd.wire.capabilities import Capability, FourOctetAs, Multiprotocol, RouteRefreshCapability
from bgpd.wire.context import CodecContext

TIMEOUT: Final = 10.0
CTX: Final = CodecContext()


def peer_open(
    asn: int,
    router_id: str,
    hold_time: int = 9,
    families: tuple[tuple[int, int], ...] = ((1, 1), (2, 1)),
    extra: tuple[Capability, ...] = (),
) -> Open:
    """The peer's OPEN; ``extra`` capabilities (e.g. graceful restart) are appended."""
    caps = (
        *(Multiprotocol(afi, safi) for afi, safi in families),
        RouteRefreshCapability(),
        FourOctetAs(asn),
        *extra,
    )
    return Open(
        min(asn, 23456) if asn > 0xFFFF else asn, hold_time, int(ipaddress.IPv4Address(router_id)), caps
    )


class ScriptedPeer:
    """One TCP connection driven by a test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = Framer()
        self.received: list[Message] = []

    @classmethod
    async def connect(cls, host: str, port: int, source: str, *, rcvbuf: int | None = None) -> ScriptedPeer:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the advertised window stays small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((source, 0))
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), TIMEOUT)
        reader, writer = await asyncio.open_connection(sock=sock)
        return cls(reader, writer)

    def send(self, message: Message) -> None:
        self.writer.write(encode_message(message, CTX))

    async def send_bytewise(self, message: Message) -> None:
        """Send a message one octet per write, yielding to the loop in between."""
        for octet in encode_message(message, CTX):
            self.writer.write(bytes((octet,)))
            await self.writer.drain()
            await asyncio.sleep(0)

    async def next_message(self, timeout: float = TIMEOUT) -> Message:
        """The next message from the speaker (decoded with the default context)."""

        async def read() -> Message:
            while not self.received:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("speaker closed the connection")
                for msg_type, body in self.framer.feed(data):
                    self.received.append(decode_message(msg_type, body, CTX))
            return self.received.pop(0)

        return await asyncio.wait_for(read(), timeout)

    async def expect(
        self, kind: type[Message], timeout: float = TIMEOUT, skip: tuple[type[Message], ...] = (Keepalive,)
    ) -> Message:
        """Skip messages of the ``skip`` kinds until a message of ``kind`` arrives."""

        async def find() -> Message:
            while True:
                message = await self.next_message(timeout)
                if isinstance(message, kind):
                    return message
                if not isinstance(message, skip):
                    raise AssertionError(f"expected {kind.__name__}, got {message!r}")

        return await asyncio.wait_for(find(), timeout)

    async def handshake(self, open_message: Open) -> Open:
        """OPEN both ways, KEEPALIVE both ways: the speaker is Established after this."""
        self.send(open_message)
        theirs = await self.expect(Open)
        assert isinstance(theirs, Open)
        self.send(Keepalive())
        await self.expect(Keepalive)
        return theirs

    async def closed(self, timeout: float = TIMEOUT) -> bytes:
        """Wait for the speaker to close; returns whatever it still sent."""

        async def drain() -> bytes:
            rest = b""
            while data := await self.reader.read(65536):
                rest += data
            return rest

        try:
            return await asyncio.wait_for(drain(), timeout)
        except ConnectionResetError:
            return b""

    def reset(self) -> None:
        """Abort with RST (SO_LINGER 0)."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def close(self) -> None:
        self.writer.transport.abort()


class ScriptedListener:
    """Accepts connections from the speaker under test and queues them as ``ScriptedPeer``s."""

    def __init__(self) -> None:
        self.accepted: asyncio.Queue[ScriptedPeer] = asyncio.Queue()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self.accepted.put(ScriptedPeer(reader, writer))

        self._server = await asyncio.start_server(on_connect, host, port)

    async def accept(self, timeout: float = TIMEOUT) -> ScriptedPeer:
        return await asyncio.wait_for(self.accepted.get(), timeout)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


def free_port() -> int:
    """A TCP port free on the loopback addresses the tests use (bound on 127.0.0.1, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
