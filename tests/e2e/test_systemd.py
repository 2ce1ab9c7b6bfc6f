"""``Type=notify``: what systemd hears from ``bgpd run`` over NOTIFY_SOCKET, in order."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import pytest

from bgpd.control.protocol import Command
from tests.e2e.harness import WAIT, Cluster

pytestmark = pytest.mark.asyncio


class Notifications:
    """A datagram socket standing in for systemd's notify socket; ``seen`` keeps every datagram."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.seen: list[str] = []

    async def next(self, prefix: str, start: int = 0) -> int:
        """The index of the first datagram at or after ``start`` that begins with ``prefix``."""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + WAIT
        position = start
        while True:
            for index in range(position, len(self.seen)):
                if self.seen[index].startswith(prefix):
                    return index
            position = max(position, len(self.seen))
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {prefix!r} from bgpd after #{start}; got {self.seen}"
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 4096), remaining)
            self.seen.append(data.decode())

    def close(self) -> None:
        self.sock.close()


async def test_ready_status_reloading_watchdog_and_stopping(short_dir: Path) -> None:
    notes = Notifications(short_dir / "notify")
    env = {"NOTIFY_SOCKET": str(notes.path), "WATCHDOG_USEC": "400000"}
    try:
        async with Cluster(short_dir, env=env) as cluster:
            ready = await notes.next("READY=1")
            first_watchdog = await notes.next("WATCHDOG=1", ready)
            await notes.next("WATCHDOG=1", first_watchdog + 1)  # pinged repeatedly, not once
            status = notes.seen[await notes.next("STATUS=", ready)]
            assert status in {f"STATUS=4 sessions, {n} established, 4 routes" for n in range(5)}, status
            mark = len(notes.seen)
            cluster.signal(signal.SIGHUP)
            reloading = await notes.next("RELOADING=1", mark)
            assert "\nMONOTONIC_USEC=" in notes.seen[reloading]
            await notes.next("READY=1", reloading + 1)
            cluster.signal(signal.SIGTERM)
            await notes.next("STOPPING=1", reloading + 1)
            assert cluster.daemon is not None
            assert await asyncio.get_running_loop().run_in_executor(None, cluster.daemon.wait, WAIT) == 0
    finally:
        notes.close()


async def test_a_notify_socket_nobody_reads_never_freezes_the_daemon(short_dir: Path) -> None:
    # A watchdog every millisecond fills the receiver's queue (net.unix.max_dgram_qlen) in well
    # under a second; a blocking sd_notify would then hang the event loop for good.
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    silent.bind(str(short_dir / "notify"))
    env = {"NOTIFY_SOCKET": str(short_dir / "notify"), "WATCHDOG_USEC": "2000"}
    try:
        async with Cluster(short_dir, env=env) as cluster:
            qlen = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
            await asyncio.sleep(qlen * 0.002)  # time enough to overflow the queue twice over
            assert len(cluster.ctl(Command.SESSIONS)) == 4
            started = time.monotonic()
            cluster.signal(signal.SIGTERM)
            assert cluster.daemon is not None
            assert await asyncio.get_running_loop().run_in_executor(None, cluster.daemon.wait, WAIT) == 0
            assert time.monotonic() - started < 2.0
    finally:
        silent.close()
