"""Incoming connections leave like outgoing ones: the listener's TTL and TOS reach the SYN-ACK and
the accepted socket, before any session has touched it."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from bgpd.speaker.connection import Connection
from bgpd.speaker.listener import Listener
from bgpd.speaker.sockets import TOS_CS6

V4 = (socket.IPPROTO_IP, socket.IP_TTL, socket.IP_TOS)
V6 = (socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, socket.IPV6_TCLASS)


async def accepted_options(local: str, set_ttl: int | None = None) -> tuple[int, int]:
    """(TTL, TOS) of a socket the listener accepted, read in the admit callback."""
    level, ttl_opt, tos_opt = V4 if "." in local else V6
    seen: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()

    def admit(conn: Connection) -> bool:
        assert conn.transport is not None
        sock = conn.transport.get_extra_info("socket")
        seen.set_result((sock.getsockopt(level, ttl_opt), sock.getsockopt(level, tos_opt)))
        conn.abort()
        return True

    listener = Listener(ipaddress.ip_address(local), 0, admit)
    await listener.start()
    try:
        if set_ttl is not None:
            listener.tune(set_ttl)
        _, writer = await asyncio.open_connection(local, listener.port)
        try:
            return await asyncio.wait_for(seen, 5)
        finally:
            writer.close()
    finally:
        listener.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("local", ["127.0.0.1", "::1"])
async def test_accepted_socket_has_ttl_1_and_tos_cs6(local: str) -> None:
    assert await accepted_options(local) == (1, TOS_CS6)


@pytest.mark.asyncio
@pytest.mark.parametrize("local", ["127.0.0.1", "::1"])
async def test_listener_ttl_can_be_raised_for_multihop_peers(local: str) -> None:
    assert await accepted_options(local, set_ttl=5) == (5, TOS_CS6)
