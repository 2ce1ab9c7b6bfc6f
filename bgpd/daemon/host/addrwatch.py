"""Watch the host's IP addresses through rtnetlink, so sessions follow floating IPs as they move.

keepalived/VRRP (or an operator) adds and deletes the floating IPs; the kernel multicasts each
change as RTM_NEWADDR / RTM_DELADDR to the RTMGRP_IPV4_IFADDR / RTMGRP_IPV6_IFADDR groups
(rtnetlink(7)). We subscribe with a plain ``AF_NETLINK`` socket from the stdlib, read it from the
event loop (``loop.add_reader``), and take the starting set from an RTM_GETADDR dump. Reading
addresses needs no capability. When the kernel drops notifications because we were slow (ENOBUFS)
we re-dump and report the difference, so the set never silently drifts from the truth.

An IPv6 address still doing duplicate address detection (``tentative``) or that failed it cannot be
bound, so it does not count as held until the kernel announces it usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import ipaddress
import itertools
import json
import os
import signal
import socket
import struct
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

__all__ = [
    "AddrMessage",
    "AddressEvent",
    "AddressWatcher",
    "Change",
    "DumpDone",
    "HostAddress",
    "NetlinkError",
    "build_dump_request",
    "dump_addresses",
    "parse_messages",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP_INTR = 0x1, 0x2, 0x10
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x10, 0x100
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x08, 0x40

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTATTR = struct.Struct("=HH")  # len, type
_U32 = struct.Struct("=I")
_ERRNO = struct.Struct("=i")


def _align4(n: int) -> int:
    return (n + 3) & ~3


class Change(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class HostAddress:
    """One address on one interface, as the kernel keys it."""

    address: IPAddress
    prefixlen: int
    ifindex: int

    @property
    def interface(self) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        """The address with its on-link prefix (which tells which peers share its segment)."""
        return ipaddress.ip_interface(f"{self.address}/{self.prefixlen}")


@dataclass(frozen=True, slots=True)
class AddressEvent:
    change: Change
    address: HostAddress


@dataclass(frozen=True, slots=True)
class AddrMessage:
    """An RTM_NEWADDR (``new``) or RTM_DELADDR, decoded."""

    new: bool
    address: HostAddress
    ifa_flags: int
    nl_flags: int
    seq: int

    @property
    def usable(self) -> bool:
        return not self.ifa_flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)


@dataclass(frozen=True, slots=True)
class DumpDone:
    nl_flags: int
    seq: int


@dataclass(frozen=True, slots=True)
class NetlinkError:
    """NLMSG_ERROR; ``errno`` 0 is an acknowledgement."""

    errno: int
    seq: int


NetlinkMessage = AddrMessage | DumpDone | NetlinkError


def _parse_addr(msg_type: int, nl_flags: int, seq: int, body: bytes) -> AddrMessage | None:
    if len(body) < _IFADDRMSG.size:
        raise ValueError("truncated ifaddrmsg")
    family, prefixlen, ifa_flags, _scope, index = _IFADDRMSG.unpack_from(body)
    size = {socket.AF_INET: 4, socket.AF_INET6: 16}.get(family)
    if size is None:
        return None  # another family (e.g. DECnet, MPLS): not ours
    attrs: dict[int, bytes] = {}
    pos = _IFADDRMSG.size
    while pos + _RTATTR.size <= len(body):
        rta_len, rta_type = _RTATTR.unpack_from(body, pos)
        if rta_len < _RTATTR.size or pos + rta_len > len(body):
            raise ValueError("malformed rtattr")
        attrs[rta_type & 0x3FFF] = body[pos + _RTATTR.size : pos + rta_len]  # strip NLA_F_* bits
        pos += _align4(rta_len)
    if IFA_FLAGS in attrs and len(attrs[IFA_FLAGS]) >= 4:
        ifa_flags = _U32.unpack_from(attrs[IFA_FLAGS])[0]  # the 32-bit flags supersede the u8 field
    # IPv4: IFA_LOCAL is our address; IFA_ADDRESS is the far end on point-to-point links (rtnetlink(7)).
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if raw is None or len(raw) != size:
        return None
    address = ipaddress.ip_address(raw)
    return AddrMessage(
        new=msg_type == RTM_NEWADDR,
        address=HostAddress(address=address, prefixlen=prefixlen, ifindex=index),
        ifa_flags=ifa_flags,
        nl_flags=nl_flags,
        seq=seq,
    )


def parse_messages(data: bytes) -> list[NetlinkMessage]:
    """Decode one datagram of netlink messages; ``ValueError`` if the framing is broken."""
    out: list[NetlinkMessage] = []
    pos = 0
    while pos + _NLMSGHDR.size <= len(data):
        length, msg_type, flags, seq, _pid = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size or pos + length > len(data):
            raise ValueError(f"malformed netlink header at offset {pos}")
        body = data[pos + _NLMSGHDR.size : pos + length]
        if msg_type in (RTM_NEWADDR, RTM_DELADDR):
            parsed = _parse_addr(msg_type, flags, seq, body)
            if parsed is not None:
                out.append(parsed)
        elif msg_type == NLMSG_DONE:
            out.append(DumpDone(nl_flags=flags, seq=seq))
        elif msg_type == NLMSG_ERROR:
            if len(body) < _ERRNO.size:
                raise ValueError("truncated nlmsgerr")
            out.append(NetlinkError(errno=-_ERRNO.unpack_from(body)[0], seq=seq))
        pos += _align4(length)
    return out


def build_dump_request(seq: int) -> bytes:
    """RTM_GETADDR with NLM_F_DUMP for all families."""
    payload = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    return header + payload


_seqs = itertools.count(1)


def _open_netlink(groups: int = 0, *, blocking: bool = True) -> socket.socket:
    flags = socket.SOCK_RAW | socket.SOCK_CLOEXEC | (0 if blocking else socket.SOCK_NONBLOCK)
    sock = socket.socket(socket.AF_NETLINK, flags, socket.NETLINK_ROUTE)
    try:
        sock.bind((0, groups))
    except OSError:
        sock.close()
        raise
    return sock


def dump_addresses(timeout: float = 5.0, attempts: int = 3) -> frozenset[HostAddress]:
    """The usable addresses right now (blocking; milliseconds, the kernel answers from memory)."""
    for _ in range(attempts):
        interrupted = False
        found: set[HostAddress] = set()
        seq = next(_seqs)
        with _open_netlink() as sock:
            sock.settimeout(timeout)
            sock.sendto(build_dump_request(seq), (0, 0))
            done = False
            while not done:
                for msg in parse_messages(sock.recv(1 << 16)):
                    if msg.seq != seq:
                        continue
                    if isinstance(msg, NetlinkError):
                        if msg.errno:
                            raise OSError(msg.errno, os.strerror(msg.errno))
                        continue
                    interrupted |= bool(msg.nl_flags & NLM_F_DUMP_INTR)
                    if isinstance(msg, DumpDone):
                        done = True
                    elif msg.new and msg.usable:
                        found.add(msg.address)
        if not interrupted:  # addresses changed while the kernel walked them: the dump may be torn
            return frozenset(found)
    raise OSError(errno.EAGAIN, "address dump kept being interrupted by changes")


class AddressWatcher:
    """The host's current addresses, kept up to date from netlink, plus a stream of their changes.

    Use as ``async with AddressWatcher() as watcher:``; ``current`` is the set now, ``changes()``
    yields each ``AddressEvent`` (starting after the initial dump, which is not replayed).
    """

    def __init__(self) -> None:
        self._addresses: set[HostAddress] = set()
        self._queue: asyncio.Queue[AddressEvent] = asyncio.Queue()
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resync: asyncio.Task[None] | None = None

    @property
    def current(self) -> frozenset[HostAddress]:
        return frozenset(self._addresses)

    def holds(self, address: str | IPAddress) -> bool:
        ip = ipaddress.ip_address(address)
        return any(a.address == ip for a in self._addresses)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Subscribe first, dump second: changes racing the dump queue up on the subscription and are
        # applied after it, and each message states the final truth for its address.
        sock = _open_netlink(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, blocking=False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        try:
            self._addresses = set(await loop.run_in_executor(None, dump_addresses))
        except BaseException:
            sock.close()
            raise
        self._sock, self._loop = sock, loop
        loop.add_reader(sock.fileno(), self._readable)

    async def close(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync
            self._resync = None
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> AddressWatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def changes(self) -> AsyncIterator[AddressEvent]:
        """Every change, in order, for one consumer (two consumers would split the events between them)."""
        while True:
            yield await self._queue.get()

    def _emit(self, change: Change, address: HostAddress) -> None:
        if change is Change.ADDED:
            self._addresses.add(address)
        else:
            self._addresses.discard(address)
        self._queue.put_nowait(AddressEvent(change, address))

    def apply(self, messages: Iterable[NetlinkMessage]) -> None:
        """Fold kernel messages into the set, emitting an event for each real change."""
        for msg in messages:
            if not isinstance(msg, AddrMessage):
                continue
            present = msg.address in self._addresses
            if msg.new and msg.usable and not present:
                self._emit(Change.ADDED, msg.address)
            elif (not msg.new or not msg.usable) and present:
                self._emit(Change.REMOVED, msg.address)

    def _readable(self) -> None:
        assert self._sock is not None
        for _ in range(256):  # bounded per wake-up; the reader fires again if more is queued
            try:
                data, (sender, _groups) = self._sock.recvfrom(1 << 16)
            except BlockingIOError:
                return
            except OSError as err:
                if err.errno == errno.ENOBUFS and self._resync is None:
                    self._resync = asyncio.ensure_future(self._resynchronise())
                return
            if sender != 0:
                continue  # only the kernel speaks for the kernel's addresses
            try:
                self.apply(parse_messages(data))
            except ValueError:
                if self._resync is None:
                    self._resync = asyncio.ensure_future(self._resynchronise())

    async def _resynchronise(self) -> None:
        """Notifications were lost: take a fresh dump and report only the difference."""
        try:
            assert self._loop is not None
            fresh = await self._loop.run_in_executor(None, dump_addresses)
            for gone in self._addresses - fresh:
                self._emit(Change.REMOVED, gone)
            for new in fresh - self._addresses:
                self._emit(Change.ADDED, new)
        finally:
            self._resync = None


def _as_json(address: HostAddress) -> dict[str, object]:
    return {"address": str(address.address), "prefixlen": address.prefixlen, "ifindex": address.ifindex}


async def _print_changes() -> None:
    """``python -m bgpd.daemon.host.addrwatch``: print the address set, then one JSON line per change."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AddressWatcher() as watcher:
        snapshot = sorted(
            (_as_json(a) for a in watcher.current), key=lambda d: (str(d["address"]), d["ifindex"])
        )
        print(json.dumps({"event": "snapshot", "addresses": snapshot}), flush=True)

        async def pump() -> None:
            async for event in watcher.changes():
                print(json.dumps({"event": str(event.change), **_as_json(event.address)}), flush=True)

        printer = asyncio.ensure_future(pump())
        await stop.wait()
        printer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printer


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        asyncio.run(_print_changes())
    sys.exit(0)
