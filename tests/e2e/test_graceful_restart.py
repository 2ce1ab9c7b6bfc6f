"""``bgpd run`` restarting and stopping, as an operator does it, with bgpd speakers as the routers.

The routers are graceful restart helpers (bgpd's own defaults: the capability with the N bit). A
watcher on each router sees every change of its session (woken by the speaker, not sampled), so
"no route ever missing" is checked at every step, not at a few instants.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bgpd.cli.demo import Router
from bgpd.control.protocol import Command
from bgpd.speaker import SessionStatus, Speaker
from bgpd.wire.constants import CeaseSub
from tests.e2e.harness import START_WAIT, WAIT, Cluster

pytestmark = pytest.mark.asyncio

REMOVED_NODE = "127.0.1.21"  # on tor1's segment


class Watch:
    """What one router held at every change of its session while watched: the fewest routes, and
    every moment a route of ``must_stay`` was missing."""

    def __init__(self, tors: Speaker, router: Router, must_stay: frozenset[str]) -> None:
        self.tors = tors
        self.router = router
        self.must_stay = must_stay
        self.fewest: int | None = None
        self.missing: list[frozenset[str]] = []
        self.changes = 0

    def see(self, status: SessionStatus) -> bool:
        self.changes += 1
        count = status.prefixes_received
        self.fewest = count if self.fewest is None else min(self.fewest, count)
        held = {r.prefix for r in self.tors.received_routes(self.router.session)}
        if not self.must_stay <= held:
            self.missing.append(self.must_stay - held)
        return False  # never done: watch until cancelled

    async def run(self) -> None:
        await self.tors.wait_for(self.router.session, self.see, 3600)


@asynccontextmanager
async def watching(
    cluster: Cluster, leaving: frozenset[str] = frozenset()
) -> AsyncIterator[dict[str, Watch]]:
    """Watch every router; each must keep every route it holds now, but for the next hops ``leaving``."""
    watches = {}
    for router in cluster.routers:
        stay = frozenset(p for p, hop in cluster.received(router.name).items() if hop not in leaving)
        watches[router.name] = Watch(cluster.tors, router, stay)
    for watch in watches.values():
        watch.see(cluster.tors.state(watch.router.session))
    tasks = [asyncio.create_task(w.run()) for w in watches.values()]
    try:
        yield watches
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _stop(cluster: Cluster, sig: signal.Signals = signal.SIGTERM) -> int:
    assert cluster.daemon is not None
    cluster.signal(sig)
    return await asyncio.get_running_loop().run_in_executor(None, cluster.daemon.wait, WAIT)


def _gr(status: SessionStatus) -> dict[str, object]:
    data = status.to_control()["gracefulRestart"]
    assert isinstance(data, dict)
    return data


async def test_restart_loses_no_route_and_sweeps_the_node_removed_meanwhile(short_dir: Path) -> None:
    """SIGTERM, the file loses a node while bgpd is down, bgpd starts again (what ``systemctl
    restart`` around an edit does): the routers keep every route throughout (stale while bgpd is
    away), the new sessions carry the Restart State bit, and at End-of-RIB the removed node's route
    is swept, without any withdrawal being sent."""
    async with Cluster(short_dir) as cluster, watching(cluster, frozenset({REMOVED_NODE})) as watches:
        tor1, tor2 = cluster.router("tor1"), cluster.router("tor2")
        assert await _stop(cluster) == 0
        for router in (tor1, tor2):
            down = await cluster.wait_router(router, lambda s: not s.established)
            assert (
                down.last_received is not None and down.last_received.subcode == CeaseSub.ADMINISTRATIVE_RESET
            )
            assert _gr(down)["staleRoutes"] == 4 and _gr(down)["peerRestarting"] is True
            assert all(r.stale for r in cluster.tors.received_routes(router.session))
        assert (cluster.state_dir / "graceful-restart.json").exists()

        cluster.write(cluster.text.replace(f"  - address: {REMOVED_NODE}\n", "", 1))
        cluster.start_daemon()
        back = await cluster.wait_router(
            tor1,
            lambda s: s.established and s.prefixes_received == 3 and _gr(s)["staleRoutes"] == 0,
            START_WAIT,
        )
        assert REMOVED_NODE not in cluster.received("tor1").values()
        assert _gr(back)["peerRestartState"] is True  # RFC 4724 §4.1: our OPEN said we restarted
        assert back.counters["staleRoutesDeleted"] == 1 and back.counters["withdrawnIn"] == 0
        await cluster.wait_router(tor2, lambda s: s.established and s.prefixes_received == 3)
        for watch in watches.values():  # every other route stayed throughout: never a gap
            assert watch.missing == [] and watch.fewest == 3 and len(watch.must_stay) == 3
            assert watch.changes > 3  # (the watch did see the restart go by)
        event = await cluster.wait_log("graceful_restart")
        assert event["restarting"] == ["127.0.1.254-node-01", "127.0.3.254-node-02"]
        assert not (cluster.state_dir / "graceful-restart.json").exists()  # used once


def _swept_to_three(status: SessionStatus) -> bool:
    """Back with the three routes of the new plan, the removed node's stale route swept."""
    return status.established and status.prefixes_received == 3 and _gr(status)["staleRoutes"] == 0


async def test_kill_and_restart_within_the_restart_time_loses_no_route(short_dir: Path) -> None:
    """``kill -9``: no NOTIFICATION, no restart record; the kernel closes the connections and the
    routers keep the routes as stale (RFC 4724 §4.2) until the new process's End-of-RIB."""
    async with Cluster(short_dir) as cluster, watching(cluster) as watches:
        assert await _stop(cluster, signal.SIGKILL) == -signal.SIGKILL
        for router in cluster.routers:
            down = await cluster.wait_router(router, lambda s: not s.established)
            assert down.last_received is None and _gr(down)["staleRoutes"] == 4
        cluster.start_daemon()
        for router in cluster.routers:
            back = await cluster.wait_router(
                router, lambda s: s.established and _gr(s)["staleRoutes"] == 0, START_WAIT
            )
            assert back.prefixes_received == 4
            assert _gr(back)["peerRestartState"] is False  # no record: the new process cannot know
        assert {w.fewest for w in watches.values()} == {4}
        assert all(w.missing == [] and len(w.must_stay) == 4 for w in watches.values())


async def test_a_start_after_the_restart_time_is_no_restart(short_dir: Path) -> None:
    """gracefulRestart.restartTime: 2: the routers drop the stale routes after 2 s (RFC 4724 §4.2);
    a start after that is a fresh one (no Restart State bit), and says which sessions were too late."""
    async with Cluster(short_dir, defaults="  gracefulRestart:\n    restartTime: 2\n") as cluster:
        assert await _stop(cluster) == 0
        for router in cluster.routers:
            gone = await cluster.wait_router(router, lambda s: s.prefixes_received == 0)
            assert gone.counters["staleRoutesDeleted"] == 4  # the restart time ran out
        cluster.start_daemon()
        for router in cluster.routers:
            back = await cluster.wait_router(
                router, lambda s: s.established and s.prefixes_received == 4, START_WAIT
            )
            assert _gr(back)["peerRestartState"] is False and _gr(back)["peerRestartTime"] == 2
        event = await cluster.wait_log("graceful_restart")
        assert event["restarting"] == [] and event["too_late"] == [
            "127.0.1.254-node-01",
            "127.0.3.254-node-02",
        ]


async def test_stop_withdraw_drops_every_route_at_once(short_dir: Path) -> None:
    """``bgpctl stop --withdraw``: Hard Reset (RFC 8538 §3) standing for the Administrative
    Shutdown "bgpd stopping"; the routers drop our routes at once; no restart is recorded."""
    async with Cluster(short_dir) as cluster:
        reply = cluster.ctl(Command.STOP, {"withdraw": True})
        assert reply == {"message": "bgpd stopping: every session withdraws its routes (Hard Reset)"}
        assert cluster.daemon is not None
        assert await asyncio.get_running_loop().run_in_executor(None, cluster.daemon.wait, WAIT) == 0
        for router in cluster.routers:
            down = await cluster.wait_router(router, lambda s: not s.established)
            assert down.last_received is not None
            assert down.last_received.text == 'Cease / Hard Reset (Administrative Shutdown): "bgpd stopping"'
            assert down.prefixes_received == 0 and down.counters["peerRestarts"] == 0
        assert not (cluster.state_dir / "graceful-restart.json").exists()
