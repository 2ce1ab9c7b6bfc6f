"""Session sockets: the options BGP connections need, for outgoing connections and listeners.

- Source address: every outgoing connection is bound to the session's floating IP before it
  connects, so the peer sees the address it is configured for. ``freebind`` (IP_FREEBIND) lets the
  bind succeed before the host holds the address (off by default: normally we only run sessions
  whose address is present).
- IP precedence: TOS / traffic class CS6 (0xC0, "network control", RFC 4594 §3.1), the class
  routers queue BGP in.
- TTL: 1 for a directly connected eBGP peer (RFC 4271 leaves it to practice; routers default to 1
  so a session cannot silently run over a multi-hop path), or the configured multihop TTL.
  Listeners carry the TTL and TOS too: Linux sends the SYN-ACK of an incoming connection with the
  listening socket's options, and the accepted socket inherits them, so a listener shared by
  several sessions uses the largest TTL among them (a multihop peer's handshake must reach it; a
  directly connected one is at most that many hops away anyway), and each accepted connection is
  then set to its own session's TTL when the session claims it.
- GTSM (RFC 5082 §3), per session: we send with TTL 255 and the kernel drops every segment from
  the peer whose TTL is below 256 - hops (``IP_MINTTL``; ``IPV6_MINHOPCOUNT`` for IPv6): 255 for a
  directly connected peer (TrustRadius 0), so a packet from one router hop further (254) or from
  anywhere off the link cannot reach the session, not even its SYN. A shared listener checks the
  lowest minimum of its sessions (none if one of them has no GTSM), and each accepted connection
  gets its own session's minimum when the session claims it, before it reads a byte.
- TCP-MD5 (RFC 2385), per session: ``TCP_MD5SIG`` with the peer's address and key, on the socket
  that connects (before the SYN) and on the listener (before the peer's SYN arrives; the accepted
  socket inherits the key). The kernel then drops every segment without the right signature, and
  sends none without one. The key is only ever passed to the kernel: it is a ``Secret``, which no
  log, table or exception renders. TCP-AO (RFC 5925) is not offered: the kernels we run on are
  built without ``CONFIG_TCP_AO`` (``TCP_AO_ADD_KEY`` answers ENOPROTOOPT).
- TCP_NODELAY: messages are written whole and coalesced by the writer; Nagle would only delay
  KEEPALIVEs and the last UPDATE of a batch.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias, TypeVar

from bgpd.plan.secret import TCP_MD5_MAX_KEY, Secret

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
P = TypeVar("P", bound=asyncio.BaseProtocol)

TOS_CS6: Final = 0xC0  # DSCP 48 << 2
IP_FREEBIND: Final = 15  # linux/in.h; Python's socket module does not export it; v6 sockets honour it too
LISTEN_BACKLOG: Final = 64
# Linux option numbers the socket module does not export: linux/in.h, linux/in6.h, linux/tcp.h.
IP_MINTTL: Final = 21
IPV6_MINHOPCOUNT: Final = 73
TCP_MD5SIG: Final = 14
GTSM_TTL: Final = 255  # RFC 5082 §3: every GTSM packet leaves with the largest TTL
# struct tcp_md5sig (linux/tcp.h): a 128-octet sockaddr_storage with the peer's address, then
# u8 flags, u8 prefixlen (both unused without TCP_MD5SIG_EXT), u16 keylen, int ifindex, 80 key octets.
_MD5SIG: Final = struct.Struct("=128sBBHi80s")
_SOCKADDR_IN: Final = struct.Struct("=H2s4s")  # family (host order), port, address
_SOCKADDR_IN6: Final = struct.Struct("=H2s4s16sI")  # family, port, flow info, address, scope id


@dataclass(frozen=True, slots=True)
class SocketOptions:
    """What one session asks of its sockets beyond the defaults (see the module docstring)."""

    ttl: int = 1  # TTL / hop limit of what we send
    min_ttl: int = 0  # GTSM: the lowest TTL / hop limit accepted from the peer; 0: no check
    md5_key: Secret | None = field(default=None, repr=False)  # RFC 2385 key for the peer's address

    @classmethod
    def for_session(cls, hops: int, gtsm: bool, md5_key: Secret | None) -> SocketOptions:
        """``hops``: 1 for a directly connected peer, the multihop count otherwise. Plain: TTL
        ``hops``. GTSM (RFC 5082 §3): TTL 255, and accept only what left the peer with 255 and
        crossed at most ``hops - 1`` routers, i.e. a TTL of at least ``256 - hops``."""
        if gtsm:
            return cls(GTSM_TTL, GTSM_TTL + 1 - hops, md5_key)
        return cls(hops, 0, md5_key)


def apply_session_options(sock: Any, version: int, options: SocketOptions) -> None:
    """TOS/traffic class CS6, the TTL/hop limit and GTSM minimum, TCP_NODELAY (see the module
    docstring). The MD5 key is not set here: it must be on the socket before the handshake
    (``session_socket``, ``set_md5_key`` on the listener), and an accepted socket inherits it.

    ``sock`` is a socket or what a transport's ``get_extra_info("socket")`` gives (uvloop's
    PseudoSocket), for accepted connections."""
    apply_ip_options(sock, version, options.ttl)
    set_min_ttl(sock, version, options.min_ttl)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def apply_ip_options(sock: Any, version: int, ttl: int) -> None:
    """TOS/traffic class CS6 and the unicast TTL/hop limit: what listeners need as well."""
    if version == 4:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS_CS6)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, TOS_CS6)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)


def set_min_ttl(sock: Any, version: int, min_ttl: int) -> None:
    """GTSM's receive check (RFC 5082 §3): the kernel drops segments with a lower TTL/hop limit
    (0: no check). On a listener it also guards the handshake."""
    if version == 4:
        sock.setsockopt(socket.IPPROTO_IP, IP_MINTTL, min_ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MINHOPCOUNT, min_ttl)


def set_md5_key(sock: Any, peer: IPAddress, key: Secret | None) -> None:
    """Sign (and require signatures on) every segment to and from ``peer`` with ``key`` (RFC 2385);
    None removes the key (a key that is not there is no error)."""
    if peer.version == 4:
        address = _SOCKADDR_IN.pack(socket.AF_INET, b"\0\0", peer.packed)
    else:
        address = _SOCKADDR_IN6.pack(socket.AF_INET6, b"\0\0", b"\0" * 4, peer.packed, 0)
    octets = b"" if key is None else key.reveal()
    if len(octets) > TCP_MD5_MAX_KEY:
        raise ValueError(f"a TCP-MD5 key is at most {TCP_MD5_MAX_KEY} octets")
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, _MD5SIG.pack(address, 0, 0, len(octets), 0, octets))
    except OSError as err:
        if key is not None or err.errno != errno.ENOENT:
            raise OSError(err.errno, f"TCP-MD5 key for {peer}: {err.strerror}") from None


def _new_socket(local: IPAddress, freebind: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET if local.version == 4 else socket.AF_INET6, socket.SOCK_STREAM)
    sock.setblocking(False)
    if freebind:
        sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
    return sock


def session_socket(
    local: IPAddress, peer: IPAddress, options: SocketOptions, freebind: bool = False
) -> socket.socket:
    """A non-blocking TCP socket bound to ``local`` (ephemeral port) for a connection to ``peer``,
    options applied (the MD5 key, if any, for ``peer``)."""
    sock = _new_socket(local, freebind)
    try:
        apply_session_options(sock, local.version, options)
        if options.md5_key is not None:
            set_md5_key(sock, peer, options.md5_key)
        sock.bind((str(local), 0))
    except BaseException:
        sock.close()
        raise
    return sock


async def connect(
    local: IPAddress,
    peer: IPAddress,
    port: int,
    protocol_factory: Callable[[], P],
    *,
    options: SocketOptions,
    freebind: bool = False,
) -> tuple[asyncio.Transport, P]:
    """Open an outgoing session connection from ``local`` to ``peer``:``port``."""
    if local.version != peer.version:
        raise OSError(f"cannot connect from {local} to {peer}: address families differ")
    loop = asyncio.get_running_loop()
    sock = session_socket(local, peer, options, freebind)
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


def listening_socket(
    local: IPAddress,
    port: int,
    *,
    freebind: bool = False,
    ttl: int = 1,
    min_ttl: int = 0,
    md5_keys: Mapping[IPAddress, Secret] | None = None,
) -> socket.socket:
    """A listening socket on ``local``:``port`` with TOS CS6 and ``ttl`` for the SYN-ACKs it sends,
    the GTSM minimum ``min_ttl`` and the peers' MD5 keys, all set before ``listen`` so that no
    handshake gets in without them (SO_REUSEADDR so a restart does not wait for TIME_WAIT; IPv6
    sockets are v6-only, the IPv4 addresses have listeners of their own)."""
    sock = _new_socket(local, freebind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if local.version == 6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        apply_ip_options(sock, local.version, ttl)
        set_min_ttl(sock, local.version, min_ttl)
        for peer, key in (md5_keys or {}).items():
            set_md5_key(sock, peer, key)
        sock.bind((str(local), port))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
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
