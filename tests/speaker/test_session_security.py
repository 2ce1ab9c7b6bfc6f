"""TCP-MD5 (RFC 2385) and GTSM (RFC 5082) on session sockets, over loopback.

A handshake the kernel refuses never completes: the SYN is dropped, so the client only sees its
connect hang. Each refusal is therefore checked twice: the connect does not complete within a
short wait, and the kernel's own drop counter for that reason (``/proc/net/netstat``: TCPMD5NotFound,
TCPMD5Unexpected, TCPMD5Failure, TCPMinTTLDrop) went up.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bgpd.plan.secret import Secret
from bgpd.speaker.sockets import (
    IP_MINTTL,
    IPV6_MINHOPCOUNT,
    SocketOptions,
    listening_socket,
    session_socket,
    set_md5_key,
)

REFUSED_WAIT = 1.0  # a dropped SYN is retransmitted after 1 s: nothing can complete before that
KEY = Secret(b"tor-1 shared secret")
OTHER_KEY = Secret(b"another secret")


def netstat(name: str) -> int:
    """A TcpExt counter of this network namespace."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=True):
        row = dict(zip(header.split(), values.split(), strict=True))
        if name in row:
            return int(row[name])
    raise KeyError(name)


@contextlib.contextmanager
def dropped(counter: str) -> Iterator[None]:
    before = netstat(counter)
    yield
    assert netstat(counter) > before, f"the kernel counted no {counter}"


@contextlib.asynccontextmanager
async def listening(
    local: str, *, ttl: int = 1, min_ttl: int = 0, keys: dict[str, Secret] | None = None
) -> AsyncIterator[socket.socket]:
    address = ipaddress.ip_address(local)
    md5 = {ipaddress.ip_address(peer): key for peer, key in (keys or {}).items()}
    sock = listening_socket(address, 0, ttl=ttl, min_ttl=min_ttl, md5_keys=md5)
    try:
        yield sock
    finally:
        sock.close()


async def handshake(server: socket.socket, local: str, options: SocketOptions) -> bool:
    """Whether a connection from ``local`` with ``options`` to ``server`` completes (and is accepted)."""
    server_ip, port = server.getsockname()[:2]
    client = session_socket(ipaddress.ip_address(local), ipaddress.ip_address(server_ip), options)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.sock_connect(client, (server_ip, port)), REFUSED_WAIT)
    except TimeoutError:
        return False
    finally:
        client.close()
    accepted, _ = server.accept()
    accepted.close()
    return True


SERVER = {4: "127.0.0.2", 6: "::1"}
CLIENT = {4: "127.0.0.3", 6: "::1"}


@pytest.mark.asyncio
@pytest.mark.parametrize("version", [4, 6])
async def test_md5_matching_keys_connect(version: int) -> None:
    async with listening(SERVER[version], keys={CLIENT[version]: KEY}) as server:
        assert await handshake(server, CLIENT[version], SocketOptions(md5_key=KEY))


@pytest.mark.asyncio
@pytest.mark.parametrize("version", [4, 6])
async def test_md5_wrong_key_is_dropped(version: int) -> None:
    async with listening(SERVER[version], keys={CLIENT[version]: KEY}) as server:
        with dropped("TCPMD5Failure"):
            assert not await handshake(server, CLIENT[version], SocketOptions(md5_key=OTHER_KEY))


@pytest.mark.asyncio
async def test_md5_missing_on_either_side_is_dropped() -> None:
    async with listening(SERVER[4], keys={CLIENT[4]: KEY}) as server:
        with dropped("TCPMD5NotFound"):  # the listener wants a signature, the SYN has none
            assert not await handshake(server, CLIENT[4], SocketOptions())
    async with listening(SERVER[4]) as server:
        with dropped("TCPMD5Unexpected"):  # a signed SYN to a listener without a key for it
            assert not await handshake(server, CLIENT[4], SocketOptions(md5_key=KEY))


@pytest.mark.asyncio
async def test_md5_key_removed_from_the_listener_admits_plain_connections() -> None:
    async with listening(SERVER[4], keys={CLIENT[4]: KEY}) as server:
        set_md5_key(server, ipaddress.ip_address(CLIENT[4]), None)
        set_md5_key(server, ipaddress.ip_address(CLIENT[4]), None)  # again: no key is no error
        assert await handshake(server, CLIENT[4], SocketOptions())


@pytest.mark.asyncio
async def test_md5_key_of_another_peer_does_not_affect_this_one() -> None:
    async with listening(SERVER[4], keys={"127.0.0.9": KEY}) as server:
        assert await handshake(server, CLIENT[4], SocketOptions())


def test_an_md5_key_longer_than_the_kernel_takes_is_refused_without_showing_it() -> None:
    sock = socket.socket()
    try:
        with pytest.raises(ValueError, match="at most 80 octets") as info:
            set_md5_key(sock, ipaddress.IPv4Address("127.0.0.2"), Secret(b"s3cr3t" * 20))
        assert "s3cr3t" not in str(info.value)
    finally:
        sock.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("version", [4, 6])
async def test_gtsm_listener_drops_a_ttl_below_255(version: int) -> None:
    """RFC 5082 §3 with TrustRadius 0: a directly connected peer's packets arrive with TTL 255;
    254 is one router away and must not reach the session, not even its SYN."""
    gtsm = SocketOptions.for_session(1, gtsm=True, md5_key=None)
    assert (gtsm.ttl, gtsm.min_ttl) == (255, 255)
    async with listening(SERVER[version], ttl=gtsm.ttl, min_ttl=gtsm.min_ttl) as server:
        with dropped("TCPMinTTLDrop"):
            assert not await handshake(server, CLIENT[version], SocketOptions(ttl=254))
        assert await handshake(server, CLIENT[version], gtsm)


@pytest.mark.asyncio
async def test_gtsm_client_drops_a_syn_ack_below_its_minimum() -> None:
    """The connecting side checks too: a SYN-ACK that left with a low TTL (a listener without
    GTSM) never completes our connect."""
    gtsm = SocketOptions.for_session(1, gtsm=True, md5_key=None)
    async with listening(SERVER[4]) as server:  # SYN-ACKs leave with TTL 1
        with dropped("TCPMinTTLDrop"):
            assert not await handshake(server, CLIENT[4], gtsm)


def test_gtsm_multihop_accepts_the_configured_number_of_hops() -> None:
    assert SocketOptions.for_session(3, gtsm=True, md5_key=None) == SocketOptions(255, 253)
    assert SocketOptions.for_session(3, gtsm=False, md5_key=None) == SocketOptions(3, 0)


@pytest.mark.parametrize(
    ("local", "level", "option"),
    [("127.0.0.2", socket.IPPROTO_IP, IP_MINTTL), ("::1", socket.IPPROTO_IPV6, IPV6_MINHOPCOUNT)],
)
def test_session_socket_carries_the_gtsm_minimum(local: str, level: int, option: int) -> None:
    address = ipaddress.ip_address(local)
    sock = session_socket(address, address, SocketOptions.for_session(1, gtsm=True, md5_key=KEY))
    try:
        assert sock.getsockopt(level, option) == 255
    finally:
        sock.close()


def test_socket_options_never_show_the_key() -> None:
    options = SocketOptions.for_session(1, gtsm=False, md5_key=Secret(b"hunter2", "passwordFile /k"))
    assert "hunter2" not in repr(options) and "hunter2" not in str(options.md5_key)
