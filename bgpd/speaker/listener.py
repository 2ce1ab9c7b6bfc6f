"""Listeners: one per local (floating) address and port, admitting only configured peers.

An incoming connection is checked before anything else sees it: its (local address, peer address)
pair must belong to a configured session. Anything else is reset at once (RST, no BGP message:
an unknown host gets no information from us), counted, and logged at most once per
``LOG_INTERVAL`` seconds with the number of rejections in between, so a scan cannot flood the log.

The listening socket has TOS CS6 and a TTL (the speaker keeps it at the largest TTL of the sessions
sharing the listener, 1 for directly connected eBGP), so the SYN-ACK of an incoming connection
leaves like our own SYNs do and the accepted socket inherits both. It also carries the GTSM minimum
TTL (the lowest of its sessions', none if one has no GTSM) and the TCP-MD5 key of every peer that
has one (``tune``), so the kernel drops a handshake without the right TTL or signature before
anything here sees it; the accepted socket inherits those as well.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable, Mapping
from typing import Final

import structlog

from bgpd.plan.secret import Secret
from bgpd.speaker.connection import Connection
from bgpd.speaker.sockets import IPAddress, apply_ip_options, listening_socket, set_md5_key, set_min_ttl

LOG_INTERVAL: Final = 10.0
_LINGER_RESET: Final = struct.pack("ii", 1, 0)

Admit = Callable[[Connection], bool]
"""Called with a just-accepted connection (its ``local``/``peer`` filled in): True if a session
claimed it (and set itself as the owner), False to reject it."""


class RateLimitedLog:
    """Log an event at most once per ``interval`` seconds, reporting how many were suppressed."""

    def __init__(self, event: str, interval: float = LOG_INTERVAL) -> None:
        self.event = event
        self.interval = interval
        self._next = float("-inf")
        self._suppressed = 0

    def __call__(self, now: float, **fields: object) -> bool:
        """Log (returns True) or count silently (False)."""
        if now < self._next:
            self._suppressed += 1
            return False
        structlog.get_logger().warning(self.event, suppressed=self._suppressed, **fields)
        self._suppressed = 0
        self._next = now + self.interval
        return True


class Listener:
    """A listening socket on ``local``:``port`` that hands admitted connections to their session."""

    def __init__(
        self,
        local: IPAddress,
        port: int,
        admit: Admit,
        *,
        freebind: bool = False,
        ttl: int = 1,
        min_ttl: int = 0,
        md5_keys: Mapping[IPAddress, Secret] | None = None,
    ) -> None:
        self.local = local
        self.port = port
        self.freebind = freebind
        self.ttl = ttl
        self.min_ttl = min_ttl
        self.md5_keys: dict[IPAddress, Secret] = dict(md5_keys or {})
        self.rejected = 0
        self._admit = admit
        self._server: asyncio.Server | None = None  # uvloop's Server has the same API
        self._log = RateLimitedLog("connection_rejected")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = listening_socket(
            self.local,
            self.port,
            freebind=self.freebind,
            ttl=self.ttl,
            min_ttl=self.min_ttl,
            md5_keys=self.md5_keys,
        )
        try:
            self._server = await loop.create_server(self._new_connection, sock=sock)
        except BaseException:
            sock.close()
            raise
        if self.port == 0:  # tests: learn the ephemeral port
            self.port = self._server.sockets[0].getsockname()[1]

    def tune(self, ttl: int, min_ttl: int = 0, md5_keys: Mapping[IPAddress, Secret] | None = None) -> None:
        """From now on: the TTL (hop limit) of SYN-ACKs and of the sockets accepted from them, the
        GTSM minimum TTL of incoming segments, and the TCP-MD5 keys by peer address (keys of peers
        no longer listed are removed). Only what changed is set."""
        keys = dict(md5_keys or {})
        sockets = self._server.sockets if self._server is not None else ()
        version = self.local.version
        if ttl != self.ttl:
            self.ttl = ttl
            for sock in sockets:
                apply_ip_options(sock, version, ttl)
        if min_ttl != self.min_ttl:
            self.min_ttl = min_ttl
            for sock in sockets:
                set_min_ttl(sock, version, min_ttl)
        for peer in set(self.md5_keys) | set(keys):
            key = keys.get(peer)
            if key != self.md5_keys.get(peer):
                for sock in sockets:
                    set_md5_key(sock, peer, key)
        self.md5_keys = keys

    def _new_connection(self) -> Connection:
        return _Incoming(self)

    def accepted(self, conn: Connection) -> None:
        if conn.peer is not None and self._admit(conn):
            return
        self.rejected += 1
        self._log(
            asyncio.get_running_loop().time(), local=str(self.local), peer=str(conn.peer), total=self.rejected
        )
        reset(conn)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


def reset(conn: Connection) -> None:
    """Abort with a TCP RST (SO_LINGER 0): no FIN handshake, no TIME_WAIT kept for a stranger."""
    sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    conn.abort()


class _Incoming(Connection):
    """A connection accepted by a listener: checked the moment it exists."""

    def __init__(self, listener: Listener) -> None:
        super().__init__()
        self._listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._listener.accepted(self)
