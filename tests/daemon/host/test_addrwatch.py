"""Address watching: netlink parsing from hand-built bytes, the set bookkeeping, and a real namespace."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bgpd.daemon.host import addrwatch
from bgpd.daemon.host.addrwatch import (
    AddressEvent,
    AddressWatcher,
    AddrMessage,
    Change,
    DumpDone,
    HostAddress,
    NetlinkError,
    build_dump_request,
    parse_messages,
)

ROOT = Path(__file__).resolve().parents[3]


def _attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _msg(kind: int, body: bytes, flags: int = 0, seq: int = 0) -> bytes:
    raw = struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body
    return raw + b"\0" * (-len(raw) % 4)


def _addr_msg(
    kind: int,
    address: str,
    prefixlen: int,
    ifindex: int,
    *,
    flags: int = 0,
    local: str | None = None,
    extra: bytes = b"",
    seq: int = 0,
) -> bytes:
    ip = ipaddress.ip_address(address)
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    body = struct.pack("=BBBBI", family, prefixlen, flags & 0xFF, 0, ifindex) + _attr(
        addrwatch.IFA_ADDRESS, ip.packed
    )
    if local is not None:
        body += _attr(addrwatch.IFA_LOCAL, ipaddress.ip_address(local).packed)
    return _msg(kind, body + extra, seq=seq)


def _host(address: str, prefixlen: int, ifindex: int) -> HostAddress:
    return HostAddress(ipaddress.ip_address(address), prefixlen, ifindex)


def test_ipv4_new_address_prefers_ifa_local() -> None:
    # Point-to-point: IFA_ADDRESS is the far end, IFA_LOCAL is ours.
    data = _addr_msg(addrwatch.RTM_NEWADDR, "10.0.1.1", 24, 3, local="10.0.1.100", extra=_attr(3, b"eth0\0"))
    (msg,) = parse_messages(data)
    assert msg == AddrMessage(new=True, address=_host("10.0.1.100", 24, 3), ifa_flags=0, nl_flags=0, seq=0)
    assert msg.usable
    assert msg.address.interface == ipaddress.ip_interface("10.0.1.100/24")


def test_ipv6_flags_attribute_supersedes_the_byte_and_marks_tentative() -> None:
    flags_attr = _attr(addrwatch.IFA_FLAGS, struct.pack("=I", addrwatch.IFA_F_TENTATIVE | 0x100))
    data = _addr_msg(addrwatch.RTM_NEWADDR, "2001:db8::64", 64, 7, extra=flags_attr)
    (msg,) = parse_messages(data)
    assert isinstance(msg, AddrMessage)
    assert msg.address == _host("2001:db8::64", 64, 7)
    assert msg.ifa_flags == addrwatch.IFA_F_TENTATIVE | 0x100
    assert not msg.usable
    (failed,) = parse_messages(_addr_msg(addrwatch.RTM_NEWADDR, "2001:db8::65", 64, 7, flags=0x08))
    assert isinstance(failed, AddrMessage) and not failed.usable  # DAD failed


def test_several_messages_in_one_datagram() -> None:
    data = (
        _addr_msg(addrwatch.RTM_NEWADDR, "10.0.3.100", 24, 4, local="10.0.3.100", seq=9)
        + _addr_msg(addrwatch.RTM_DELADDR, "fd00::1", 128, 5, seq=9)
        + _msg(99, b"\1\2\3")  # a message type we do not care about
        + _msg(addrwatch.RTM_NEWADDR, struct.pack("=BBBBI", 99, 8, 0, 0, 1))  # another family
        + _msg(addrwatch.NLMSG_DONE, struct.pack("=i", 0), flags=addrwatch.NLM_F_MULTI, seq=9)
        + _msg(addrwatch.NLMSG_ERROR, struct.pack("=i", -1) + b"\0" * 16, seq=10)
    )
    messages = parse_messages(data)
    assert [type(m) for m in messages] == [AddrMessage, AddrMessage, DumpDone, NetlinkError]
    first, second, done, error = messages
    assert isinstance(first, AddrMessage) and first.new and first.seq == 9
    assert isinstance(second, AddrMessage) and not second.new and second.address == _host("fd00::1", 128, 5)
    assert done == DumpDone(nl_flags=addrwatch.NLM_F_MULTI, seq=9)
    assert error == NetlinkError(errno=1, seq=10)


def test_address_of_the_wrong_size_is_ignored() -> None:
    body = struct.pack("=BBBBI", socket.AF_INET, 24, 0, 0, 2) + _attr(addrwatch.IFA_ADDRESS, b"\1\2\3")
    assert parse_messages(_msg(addrwatch.RTM_NEWADDR, body)) == []


@pytest.mark.parametrize(
    "data",
    [
        struct.pack("=IHHII", 8, 20, 0, 0, 0),  # length shorter than the header
        struct.pack("=IHHII", 64, 20, 0, 0, 0),  # length beyond the datagram
        _msg(addrwatch.RTM_NEWADDR, b"\2\3"),  # truncated ifaddrmsg
        _msg(addrwatch.RTM_NEWADDR, struct.pack("=BBBBI", 2, 24, 0, 0, 1) + struct.pack("=HH", 40, 1)),
        _msg(addrwatch.NLMSG_ERROR, b"\0"),
    ],
)
def test_broken_framing_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_messages(data)


def test_dump_request_bytes() -> None:
    raw = build_dump_request(42)
    length, kind, flags, seq, pid = struct.unpack_from("=IHHII", raw)
    assert (length, kind, seq, pid) == (len(raw), addrwatch.RTM_GETADDR, 42, 0)
    assert flags == addrwatch.NLM_F_REQUEST | addrwatch.NLM_F_DUMP
    assert raw[16] == socket.AF_UNSPEC and len(raw) == 24


def _drain(watcher: AddressWatcher) -> list[AddressEvent]:
    events = []
    while not watcher._queue.empty():
        events.append(watcher._queue.get_nowait())
    return events


def test_apply_tracks_the_set_and_emits_only_real_changes() -> None:
    watcher = AddressWatcher()
    v6 = "2001:db8::64"
    tentative = parse_messages(_addr_msg(addrwatch.RTM_NEWADDR, v6, 64, 7, flags=addrwatch.IFA_F_TENTATIVE))
    ready = parse_messages(_addr_msg(addrwatch.RTM_NEWADDR, v6, 64, 7))
    gone = parse_messages(_addr_msg(addrwatch.RTM_DELADDR, v6, 64, 7))
    watcher.apply(tentative)
    assert _drain(watcher) == [] and not watcher.holds(v6)  # not bindable yet
    watcher.apply(ready + ready)
    assert _drain(watcher) == [AddressEvent(Change.ADDED, _host(v6, 64, 7))]
    assert watcher.holds(v6) and watcher.current == {_host(v6, 64, 7)}
    watcher.apply(gone + gone)
    assert _drain(watcher) == [AddressEvent(Change.REMOVED, _host(v6, 64, 7))]
    assert watcher.current == frozenset()
    watcher.apply(ready + tentative)  # DAD restarted (e.g. link flap): no longer usable
    assert [e.change for e in _drain(watcher)] == [Change.ADDED, Change.REMOVED]


@pytest.mark.asyncio
async def test_watcher_starts_with_this_hosts_addresses() -> None:
    """Read-only in the test's own namespace: the dump must contain loopback."""
    async with AddressWatcher() as watcher:
        assert watcher.holds("127.0.0.1")
        assert any(
            a.address == ipaddress.ip_address("127.0.0.1") and a.prefixlen == 8 for a in watcher.current
        )
    assert watcher.current == addrwatch.dump_addresses()


# --- a real network namespace -------------------------------------------------------------------


def _prerequisites() -> None:
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    if shutil.which("ip") is None:
        missing.append("iproute2")
    if missing:
        reason = f"needs {' and '.join(missing)} for a network namespace"
        if os.environ.get("BGPD_REQUIRE_INTEROP") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10).stdout


@pytest.fixture
def namespace() -> Any:
    _prerequisites()
    name = f"bgpd-aw-{secrets.token_hex(4)}"
    _ip("netns", "add", name)
    try:
        # A veth pair kept inside the namespace (the dummy module may be missing on CI kernels).
        _ip("-n", name, "link", "add", "aw0", "type", "veth", "peer", "name", "aw1")
        for link in ("aw0", "aw1"):
            _ip("-n", name, "link", "set", link, "addrgenmode", "none")  # no link-local address racing us
            _ip("-n", name, "link", "set", link, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)


@pytest_asyncio.fixture
async def watcher_in(namespace: str) -> AsyncIterator[tuple[str, asyncio.subprocess.Process, dict[str, Any]]]:
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        namespace,
        sys.executable,
        "-m",
        "bgpd.daemon.host.addrwatch",
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        snapshot = json.loads(await asyncio.wait_for(proc.stdout.readline(), 20))
        yield namespace, proc, snapshot
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _next_event_for(proc: asyncio.subprocess.Process, address: str, deadline: float) -> dict[str, Any]:
    """The watcher's next line about ``address``, which must arrive before ``deadline`` (monotonic)."""
    assert proc.stdout is not None
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no event for {address} in time"
        line = await asyncio.wait_for(proc.stdout.readline(), remaining)
        assert line, "watcher exited"
        event: dict[str, Any] = json.loads(line)
        if event.get("address") == address:
            return event


@pytest.mark.interop
@pytest.mark.asyncio
async def test_address_changes_in_a_namespace_are_seen_within_a_second(
    watcher_in: tuple[str, asyncio.subprocess.Process, dict[str, Any]],
) -> None:
    namespace, proc, snapshot = watcher_in
    assert snapshot["event"] == "snapshot"
    assert all(a["address"] not in ("10.77.0.1", "2001:db8:77::1") for a in snapshot["addresses"])
    ifindex = json.loads(_ip("-n", namespace, "-j", "link", "show", "aw0"))[0]["ifindex"]

    latencies = []
    for cidr, extra in (("10.77.0.1/24", ()), ("2001:db8:77::1/64", ("nodad",))):
        address, prefixlen = cidr.split("/")
        start = time.monotonic()
        _ip("-n", namespace, "addr", "add", cidr, "dev", "aw0", *extra)
        added = await _next_event_for(proc, address, start + 1.0)
        latencies.append(time.monotonic() - start)
        assert added == {
            "event": "added",
            "address": address,
            "prefixlen": int(prefixlen),
            "ifindex": ifindex,
        }

        start = time.monotonic()
        _ip("-n", namespace, "addr", "del", cidr, "dev", "aw0")
        removed = await _next_event_for(proc, address, start + 1.0)
        latencies.append(time.monotonic() - start)
        assert removed == {**added, "event": "removed"}
    assert max(latencies) < 1.0
    print(f"address change seen after {max(latencies) * 1000:.1f} ms at worst")


@pytest.mark.asyncio
async def test_resynchronise_reports_only_the_difference() -> None:
    """After lost notifications (ENOBUFS) a fresh dump replaces the set; events say what changed."""
    async with AddressWatcher() as watcher:
        real = watcher.current
        ghost = _host("192.0.2.99", 32, 999)
        dropped = next(iter(real))
        watcher._addresses = set(real - {dropped}) | {ghost}  # as if we had missed two notifications
        await watcher._resynchronise()
        assert watcher.current == real
        assert set(_drain(watcher)) == {
            AddressEvent(Change.REMOVED, ghost),
            AddressEvent(Change.ADDED, dropped),
        }
