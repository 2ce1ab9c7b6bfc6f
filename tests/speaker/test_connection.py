"""The connection writer: coalescing, back-pressure, the pending cap, the send-hold watchdog; the
listener's admission check; how a failed connect is reported."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from typing import Any

import pytest
from structlog.testing import capture_logs

from bgpd.speaker import Speaker
from bgpd.speaker.connection import Connection
from bgpd.speaker.listener import Listener, RateLimitedLog
from bgpd.speaker.sockets import TOS_CS6, SocketOptions, connect, connect_error_text, session_socket
from tests.speaker.scripted_peer import free_port
from tests.speaker.test_speaker import ASN_A, ASN_B, config

LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


class FakeTransport(asyncio.Transport):
    """Records writes; pause/resume are driven by the test through the protocol."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.aborted = False
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 179), "peername": ("127.0.0.2", 40000)}.get(name, default)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing or self.aborted


class Owner:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.stalled = asyncio.Event()

    def on_data(self, conn: Connection, data: bytes) -> None:
        self.events.append(f"data:{data!r}")

    def on_closed(self, conn: Connection, exc: Exception | None) -> None:
        self.events.append("closed")

    def on_writable(self, conn: Connection) -> None:
        self.events.append("writable")

    def on_overflow(self, conn: Connection) -> None:
        self.events.append("overflow")
        conn.abort()

    def on_send_stalled(self, conn: Connection) -> None:
        self.events.append("stalled")
        self.stalled.set()


async def next_iteration() -> None:
    await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_messages_of_one_iteration_become_one_write() -> None:
    conn, transport = Connection(Owner()), FakeTransport()
    conn.connection_made(transport)
    for part in (b"a", b"b", b"c"):
        conn.send(part)
    assert transport.writes == []  # nothing until the loop turns
    await next_iteration()
    assert transport.writes == [b"abc"]
    assert conn.bytes_out == 3


@pytest.mark.asyncio
async def test_paused_connection_queues_then_flushes_on_resume() -> None:
    owner = Owner()
    conn, transport = Connection(owner), FakeTransport()
    conn.connection_made(transport)
    conn.pause_writing()
    assert not conn.writable
    conn.send(b"keepalive")
    await next_iteration()
    assert transport.writes == [] and conn.pending == len(b"keepalive")
    conn.resume_writing()
    assert transport.writes == [b"keepalive"] and conn.writable
    assert owner.events == ["writable"]


@pytest.mark.asyncio
async def test_pending_output_is_capped() -> None:
    owner = Owner()
    conn, transport = Connection(owner, max_pending=1000), FakeTransport()
    conn.connection_made(transport)
    conn.pause_writing()
    for _ in range(20):
        conn.send(b"x" * 100)
        assert conn.pending <= 1000
    assert owner.events == ["overflow"]  # once: the owner aborted, later sends are dropped
    assert transport.aborted


@pytest.mark.asyncio
async def test_send_hold_timer_fires_while_paused_and_stops_on_resume() -> None:
    owner = Owner()
    conn, transport = Connection(owner, send_hold_time=0.05), FakeTransport()
    conn.connection_made(transport)
    conn.pause_writing()
    conn.resume_writing()  # progress: the watchdog is cancelled
    await asyncio.sleep(0.1)
    assert "stalled" not in owner.events
    conn.pause_writing()
    await asyncio.wait_for(owner.stalled.wait(), 2)


@pytest.mark.asyncio
async def test_close_flushes_last_words_even_when_paused() -> None:
    conn, transport = Connection(Owner()), FakeTransport()
    conn.connection_made(transport)
    conn.pause_writing()
    conn.send(b"notification")
    conn.close()
    assert transport.writes == [b"notification"] and transport.closing
    conn.send(b"late")  # nothing is queued after close
    assert conn.pending == 0


@pytest.mark.asyncio
async def test_outgoing_socket_options_and_source_address() -> None:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[tuple[str, int]] = loop.create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(writer.get_extra_info("peername"))
        await reader.read()
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    source = ipaddress.IPv4Address("127.0.0.7")
    transport, conn = await connect(source, LOOPBACK, port, Connection, options=SocketOptions())
    try:
        peer_seen = await asyncio.wait_for(accepted, 5)
        assert peer_seen[0] == "127.0.0.7"  # bound to the floating address
        sock = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 1
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == TOS_CS6
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert conn.local == source
    finally:
        transport.abort()
        server.close()


@pytest.mark.asyncio
async def test_freebind_binds_an_address_the_host_does_not_hold() -> None:
    absent = ipaddress.IPv4Address("192.0.2.77")  # TEST-NET-1: never configured here
    with pytest.raises(OSError):
        await connect(absent, ipaddress.IPv4Address("192.0.2.78"), 1, Connection, options=SocketOptions())
    listener = Listener(absent, 0, lambda conn: False, freebind=True)
    await listener.start()  # the same bind succeeds with IP_FREEBIND
    assert listener.port != 0
    listener.close()


@pytest.mark.asyncio
async def test_listener_rejects_unconfigured_peers_and_admits_configured_ones() -> None:
    claimed: list[Connection] = []
    allowed = ipaddress.IPv4Address("127.0.0.2")

    def admit(conn: Connection) -> bool:
        if conn.peer != allowed:
            return False
        conn.owner = Owner()
        claimed.append(conn)
        return True

    listener = Listener(LOOPBACK, 0, admit)
    await listener.start()
    try:
        with capture_logs() as logs:
            for _ in range(3):
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", listener.port, local_addr=("127.0.0.3", 0)
                )
                with pytest.raises(ConnectionResetError):  # aborted: RST, no BGP message
                    await asyncio.wait_for(reader.read(), 5)
                writer.close()
        assert listener.rejected == 3 and not claimed
        rejected_logs = [e for e in logs if e["event"] == "connection_rejected"]
        assert len(rejected_logs) == 1  # rate limited
        assert rejected_logs[0]["peer"] == "127.0.0.3"
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", listener.port, local_addr=("127.0.0.2", 0)
        )
        writer.write(b"hello")
        for _ in range(100):
            if claimed and claimed[0].bytes_in:
                break
            await asyncio.sleep(0.01)
        assert claimed and claimed[0].peer == allowed and listener.rejected == 3
        writer.close()
    finally:
        listener.close()


def test_rate_limited_log_counts_suppressed_events() -> None:
    log = RateLimitedLog("x", interval=10)
    with capture_logs() as logs:
        assert log(0.0)
        assert not log(1.0)
        assert not log(9.9)
        assert log(10.0)
    assert [e["suppressed"] for e in logs] == [0, 2]


def test_ipv6_session_socket_options() -> None:
    loopback = ipaddress.IPv6Address("::1")
    sock = session_socket(loopback, loopback, SocketOptions(ttl=5))
    try:
        assert sock.getsockname()[0] == "::1"
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS) == TOS_CS6
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) == 5  # multihop TTL
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
            "connection refused by 127.0.1.254:17999",
        ),
        (TimeoutError(errno.ETIMEDOUT, "Connection timed out"), "connection to 127.0.1.254:17999 timed out"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "no route to host 127.0.1.254:17999"),
        (
            OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"),
            "cannot connect from 127.0.1.100: the address is not on this host",
        ),
        (
            OSError(errno.EACCES, "Permission denied"),
            "cannot connect to 127.0.1.254:17999: permission denied",
        ),
        (OSError("address families differ"), "cannot connect to 127.0.1.254:17999: address families differ"),
    ],
)
def test_connect_errors_read_as_an_operator_says_them(error: OSError, text: str) -> None:
    local, peer = ipaddress.ip_address("127.0.1.100"), ipaddress.ip_address("127.0.1.254")
    assert connect_error_text(error, local, peer, 17999) == text


def test_ipv6_endpoints_are_bracketed() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    v6 = ipaddress.ip_address("fd00::1")
    assert connect_error_text(refused, v6, ipaddress.ip_address("fd00::fe"), 179) == (
        "connection refused by [fd00::fe]:179"
    )


@pytest.mark.asyncio
async def test_a_refused_session_reports_who_refused_it() -> None:
    port = free_port()  # nobody listens there
    speaker = Speaker()
    try:
        cfg = config("127.0.0.1", "127.0.0.2", ASN_A, ASN_B, port)
        await speaker.add_session(cfg)
        status = await speaker.wait_for(cfg.name, lambda s: s.last_error is not None, 5)
        assert status.last_error == f"connection refused by 127.0.0.2:{port}"
    finally:
        await speaker.close()
