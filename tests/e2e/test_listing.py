"""A big listing never costs a session: while ``bgpctl get bgpreceivedroutes`` lists what one
router sent (CI-sized; ``bench/listing.py`` does a million), the other router's session, hold
time 9 s, stays up, and the listing is complete and in order."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sys
import time
from pathlib import Path

import pytest

from bgpd.control.protocol import Command
from bgpd.rib.routes import Path as RoutePath
from bgpd.rib.routes import Route
from bgpd.wire.constants import IPV4_UNICAST
from tests.e2e.harness import Cluster

pytestmark = pytest.mark.asyncio

ROUTES = 100_000  # enough for a few hundred parts; the full size is the bench's


def _routes(count: int, next_hop: str) -> list[Route]:
    path = RoutePath(ipaddress.IPv4Address(next_hop))
    base = int(ipaddress.IPv4Address("20.0.0.0"))
    return [Route(IPV4_UNICAST, (base + (i << 8), 24), path) for i in range(count)]


async def test_listing_a_big_table_keeps_the_other_session_up(short_dir: Path) -> None:
    async with Cluster(short_dir, defaults="  maxPrefixes: 0\n") as cluster:  # no limit for this table
        sender, other = cluster.routers[0], cluster.routers[1]
        cluster.tors.set_routes(sender.session, _routes(ROUTES, sender.address))
        deadline = time.monotonic() + 60
        received = 0
        while received < ROUTES and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            received = sum(s["prefixesReceived"] for s in cluster.ctl(Command.SESSIONS))
        assert received == ROUTES, cluster.log.read_text()[-3000:]
        hold = cluster.tors.state(other.session).hold_time
        assert hold == 9
        before = cluster.counters(other.name)

        out = short_dir / "listing.txt"
        command = [sys.executable, "-m", "bgpd.cli.bgpctl", "--socket", str(cluster.socket)]
        with out.open("wb") as sink:
            listing = await asyncio.create_subprocess_exec(
                *command, "get", "bgpreceivedroutes", stdout=sink, stderr=asyncio.subprocess.PIPE
            )
            states = set()
            while listing.returncode is None:  # the other session, seen from its router, meanwhile
                states.add(cluster.tors.state(other.session).fsm_state)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(listing.wait(), 0.1)
            _, err = await listing.communicate()
        assert listing.returncode == 0, err.decode()
        assert states == {"Established"}
        after = cluster.counters(other.name)
        assert after["flaps"] == before["flaps"] == 0
        assert after["connectionsAccepted"] == before["connectionsAccepted"]

        lines = out.read_text().splitlines()
        assert len(lines) == ROUTES + 1 and lines[0].split() == [
            "SESSION",
            "PREFIX",
            "NEXT",
            "HOP",
            "METRIC",
            "STALE",
        ]
        prefixes = [ipaddress.ip_network(line.split()[1]) for line in lines[1:]]
        assert prefixes == sorted(prefixes) and prefixes[0] == ipaddress.ip_network("20.0.0.0/24")
        status = cluster.ctl(Command.STATUS)
        print(f"loop lag while listing {ROUTES} routes: {status['loopLag']}")
