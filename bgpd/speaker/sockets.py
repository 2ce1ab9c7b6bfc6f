"""Session sockets: the options BGP connections need, for outgoing connections and listeners.

- Source address: every outgoing connection is bound to the session's floating IP before it
  connects, so the peer sees the address it is configured for. ``freebind`` (IP_FREEBIND) lets the
  bind succeed before the host holds the address (off by default: normally we only run sessions
  whose address is present).
- IP precedence: TOS / traffic class CS6 (0xC0, "network control", RFC 4594 §3.1), the class
  routers queue BGP in.
- TTL: 1 for a directly connected eBGP peer (RFC 4271 leaves it to practice; routers default to 1
  so a session cannot silently run over a multi-hop path), or the configured multihop TTL.
  This is the simple TTL, not GTSM (RFC 5082, which would send 255 and check the received TTL).
  Listeners carry the TTL and TOS too: Linux sends the SYN-ACK of an incoming connection with the
  listening socket's options, and the accepted socket inherits them, so a listener shared by
  several sessions uses the largest TTL among them (a multihop peer's handshake must reach it; a
  directly connected one is at most that many hops away anyway), and each accepted connection is
  then set to its own session's TTL when the session claims it.
- TCP_NODELAY: messages are written whole and coalesced by the writer; Nagle would only delay
  KEEPALIVEs and the last UPDATE of a batch.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
from collections.abc import Callable
from typing import Any, Final, TypeAlias, TypeVar

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
P = TypeVar("P", bound=asyncio.BaseProtocol)

TOS_CS6: Final = 0xC0  # DSCP 48 << 2
IP_FREEBIND: Final = 15  # linux/in.h; Python's socket module does not export it; v6 sockets honour it too
LISTEN_BACKLOG: Final = 64


def apply_session_options(sock: Any, version: int, ttl: int) -> None:
    """TOS/traffic class CS6, the unicast TTL/hop limit, TCP_NODELAY (see the module docstring).

    ``sock`` is a socket or what a transport's ``get_extra_info("socket")`` gives (uvloop's
    PseudoSocket), for accepted connections."""
    apply_ip_options(sock, version, ttl)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def apply_ip_options(sock: Any, version: int, ttl: int) -> None:
    """TOS/traffic class CS6 and the unicast TTL/hop limit: what listeners need as well."""
    if version == 4:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS_CS6)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, TOS_CS6)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)


def _new_socket(local: IPAddress, freebind: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET if local.version == 4 else socket.AF_INET6, socket.SOCK_STREAM)
    sock.setblocking(False)
    if freebind:
        sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
    return sock


def session_socket(local: IPAddress, ttl: int, freebind: bool = False) -> socket.socket:
    """A non-blocking TCP socket bound to ``local`` (ephemeral port), options applied."""
    sock = _new_socket(local, freebind)
    try:
        apply_session_options(sock, local.version, ttl)
        sock.bind((str(local), 0))
    except OSError:
        sock.close()
        raise
    return sock


async def connect(
    local: IPAddress,
    peer: IPAddress,
    port: int,
    protocol_factory: Callable[[], P],
    *,
    ttl: int,
    freebind: bool = False,
) -> tuple[asyncio.Transport, P]:
    """Open an outgoing session connection from ``local`` to ``peer``:``port``."""
    if local.version != peer.version:
        raise OSError(f"cannot connect from {local} to {peer}: address families differ")
    loop = asyncio.get_running_loop()
    sock = session_socket(local, ttl, freebind)
    try:
        await loop.sock_connect(sock, (str(peer), port))
        transport, protocol = await loop.create_connection(protocol_factory, sock=sock)
    except BaseException:
        sock.close()
        raise
    return transport, protocol


def address_text(address: IPAddress, port: int) -> str:
    """``10.0.1.254:179`` / ``[fd00::1]:179``, as operators write an endpoint."""
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


# errno of a failed connect -> what happened, in words (``{peer}`` is the endpoint, ``{local}`` our address)
_CONNECT_ERRORS: Final = {
    errno.ECONNREFUSED: "connection refused by {peer}",
    errno.ETIMEDOUT: "connection to {peer} timed out",
    errno.ECONNRESET: "connection reset by {peer}",
    errno.EHOSTUNREACH: "no route to host {peer}",
    errno.ENETUNREACH: "network unreachable for {peer}",
    errno.EADDRNOTAVAIL: "cannot connect from {local}: the address is not on this host",
    errno.EADDRINUSE: "cannot connect from {local}: address in use",
}


def connect_error_text(err: OSError, local: IPAddress, peer: IPAddress, port: int) -> str:
    """A failed connection attempt as an operator reads it (``connection refused by
    10.0.1.254:179``), not Python's rendering of it (``[Errno 111] Connect call failed (...)``)."""
    endpoint = address_text(peer, port)
    template = _CONNECT_ERRORS.get(err.errno or 0)
    if template is not None:
        return template.format(peer=endpoint, local=local)
    if err.errno:
        reason = os.strerror(err.errno)
        return f"cannot connect to {endpoint}: {reason[:1].lower()}{reason[1:]}"
    return f"cannot connect to {endpoint}: {err}"


def listening_socket(local: IPAddress, port: int, freebind: bool = False, ttl: int = 1) -> socket.socket:
    """A listening socket on ``local``:``port`` with TOS CS6 and ``ttl`` for the SYN-ACKs it sends
    (SO_REUSEADDR so a restart does not wait for TIME_WAIT; IPv6 sockets are v6-only, the IPv4
    addresses have listeners of their own)."""
    sock = _new_socket(local, freebind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if local.version == 6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        apply_ip_options(sock, local.version, ttl)
        sock.bind((str(local), port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def endpoint(address: tuple[Any, ...] | None) -> IPAddress | None:
    """The IP of a ``getpeername``/``getsockname`` tuple (v6 tuples have 4 items), or None."""
    if not address:
        return None
    try:
        return ipaddress.ip_address(address[0])
    except ValueError:
        return None
