"""``bgpd run`` as an operator runs it: files, signals and the control socket, routers on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bgpd.cli.demo import router_config
from bgpd.control.protocol import Command
from bgpd.rib.routes import Route
from bgpd.speaker import SessionStatus
from bgpd.wire.constants import CeaseSub
from tests.e2e.harness import WAIT, Cluster

pytestmark = pytest.mark.asyncio

NEW_NODE = "127.0.1.31"


def _with_node(text: str, address: str) -> str:
    anchor = "  nodes:\n  - address: 127.0.1.21\n"
    assert anchor in text
    return text.replace(anchor, anchor + f"  - address: {address}\n", 1)


def _no_flaps(cluster: Cluster) -> None:
    for router in cluster.routers:
        counters = cluster.counters(router.name)
        assert counters["flaps"] == 0, f"{router.name} flapped"
        assert counters["connectionsAccepted"] == 1, f"{router.name} saw a new connection"


async def test_sessions_and_routes_match_the_products_table(short_dir: Path) -> None:
    async with Cluster(short_dir) as cluster:
        sessions = {s["name"]: s["state"] for s in cluster.ctl(Command.SESSIONS)}
        assert sessions == {
            "127.0.1.254-node-01": "Established",
            "127.0.1.254-node-02": "NotEstablished",
            "127.0.3.254-node-01": "NotEstablished",
            "127.0.3.254-node-02": "Established",
        }
        advertised = {r["nextHop"]: r["prefix"] for r in cluster.ctl(Command.ADVERTISED_ROUTES)}
        for router in cluster.routers:
            assert cluster.received(router.name) == {prefix: hop for hop, prefix in advertised.items()}
        allocations = cluster.ctl(Command.ALLOCATIONS)
        assert sorted(a["node"] for a in allocations) == [
            "127.0.1.11",
            "127.0.1.21",
            "127.0.3.11",
            "127.0.3.21",
        ]


async def test_sighup_with_a_new_node_announces_it_within_two_seconds_without_flaps(short_dir: Path) -> None:
    async with Cluster(short_dir) as cluster:
        cluster.write(_with_node(cluster.text, NEW_NODE))
        started = time.monotonic()
        cluster.signal(signal.SIGHUP)
        for router in cluster.routers:
            await cluster.wait_router(
                router, lambda s, r=router: NEW_NODE in cluster.received(r.name).values()
            )
        assert time.monotonic() - started < 2.0
        assert all(len(cluster.received(r.name)) == 5 for r in cluster.routers)
        _no_flaps(cluster)
        ledger = (short_dir / "state" / "pod-cidr-ledger.json").read_text()
        assert NEW_NODE in ledger


async def test_a_half_written_file_is_not_applied_and_bgpctl_reload_applies_the_finished_one(
    short_dir: Path,
) -> None:
    async with Cluster(short_dir) as cluster:
        before = cluster.ctl(Command.ALLOCATIONS)
        # A file cut right after the NodePool documents is valid YAML and valid manifests, but half
        # of what the operator is writing. Once the old poll would have picked it up (1 s), nothing
        # has moved: bgpd reads its files only when asked.
        cut = cluster.text.index("---\napiVersion: networking.gke.io/v1\nkind: BGPPeer")
        cluster.write(cluster.text[:cut].replace("  - address: 127.0.1.21\n", "", 1))
        await asyncio.sleep(1.5)
        assert not [e for e in cluster.log_events() if e.get("event", "").startswith("reload")]
        assert cluster.ctl(Command.ALLOCATIONS) == before
        # The finished edit, then the operator's reload: the removed node is withdrawn everywhere.
        cluster.write(cluster.text.replace("  - address: 127.0.3.21\n", "", 1))
        reload = cluster.bgpctl("reload")
        assert reload.returncode == 0, reload.stderr
        for router in cluster.routers:
            await cluster.wait_router(router, lambda s, r=router: len(cluster.received(r.name)) == 3)
        assert all("127.0.3.21" not in cluster.received(r.name).values() for r in cluster.routers)
        _no_flaps(cluster)
        entry = await cluster.wait_log("reload_applied")
        assert entry["reason"] == "bgpctl reload" and entry["nodes_removed"] == ["127.0.3.21"]


async def test_an_invalid_file_keeps_the_old_plan_and_bgpctl_still_answers(short_dir: Path) -> None:
    async with Cluster(short_dir) as cluster:
        before = cluster.ctl(Command.ADVERTISED_ROUTES)
        cluster.write(cluster.text.replace("peerASN: 65002", "peerASN: banana"))
        cluster.signal(signal.SIGHUP)
        errors = await cluster.wait_log("reload_rejected")
        assert errors["errors"] == 2
        assert sum(1 for e in cluster.log_events() if e.get("event") == "reload_error") == 2
        bgpctl = cluster.bgpctl("get", "bgpsessions")
        assert bgpctl.returncode == 0 and "Established" in bgpctl.stdout
        reload = cluster.bgpctl("reload")
        assert reload.returncode == 1
        assert "new configuration rejected (2 errors), the old one keeps running" in reload.stderr
        assert "(failed)" in reload.stderr
        assert cluster.ctl(Command.ADVERTISED_ROUTES) == before
        _no_flaps(cluster)


async def test_a_peer_asn_change_resets_only_that_peers_sessions(short_dir: Path) -> None:
    async with Cluster(short_dir) as cluster:
        tor2 = cluster.router("tor2")
        cluster.write(
            cluster.text.replace(
                "peerASN: 65002\n  peerIP: 127.0.3.254", "peerASN: 65099\n  peerIP: 127.0.3.254"
            )
        )
        cluster.signal(signal.SIGHUP)
        status = await cluster.wait_router(tor2, lambda s: s.last_received is not None)
        assert status.last_received is not None
        assert (status.last_received.code, status.last_received.subcode) == (
            6,
            CeaseSub.OTHER_CONFIGURATION_CHANGE,
        )
        tor1 = cluster.counters("tor1")
        assert tor1["flaps"] == 0 and tor1["connectionsAccepted"] == 1
        # the router is re-configured with its new AS number and the session comes back
        await cluster.tors.remove_session(tor2.session)
        moved = dataclasses.replace(tor2, asn=65099)
        await cluster.tors.add_session(router_config(moved, cluster.port))
        await cluster.wait_router(moved, lambda s: s.established and s.prefixes_received == 4)
        assert cluster.counters("tor1")["flaps"] == 0


async def test_sigterm_sends_cease_and_exits_zero_within_two_seconds(short_dir: Path) -> None:
    async with Cluster(short_dir) as cluster:
        assert cluster.daemon is not None
        started = time.monotonic()
        cluster.signal(signal.SIGTERM)
        code = await asyncio.get_running_loop().run_in_executor(None, cluster.daemon.wait, WAIT)
        elapsed = time.monotonic() - started
        assert code == 0
        assert elapsed < 2.0, f"took {elapsed:.2f} s"
        for router in cluster.routers:
            status = await cluster.wait_router(router, lambda s: s.last_received is not None)
            assert status.last_received is not None
            assert (status.last_received.code, status.last_received.subcode) == (6, 2)
            assert "bgpd stopping" in status.last_received.text
        assert not cluster.socket.exists()
        assert (short_dir / "state" / "pod-cidr-ledger.json").exists()


async def _poll(probe: Callable[[], bool], what: str) -> None:
    """For state only the subprocess knows: ask it (bounded) until ``probe`` holds."""
    deadline = time.monotonic() + WAIT
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_received_routes_describe_and_a_hard_reset_through_bgpctl(short_dir: Path) -> None:
    async with Cluster(short_dir) as cluster:
        tor1 = cluster.router("tor1")
        cluster.tors.set_routes(tor1.session, [Route.parse("192.0.2.0/24", tor1.address, med=5)])

        def received() -> bool:
            return any(r["prefix"] == "192.0.2.0/24" for r in cluster.ctl(Command.RECEIVED_ROUTES))

        await _poll(received, "the router's route in bgpreceivedroutes")
        route = next(r for r in cluster.ctl(Command.RECEIVED_ROUTES) if r["prefix"] == "192.0.2.0/24")
        assert route == {
            "session": "127.0.1.254-node-01",
            "prefix": "192.0.2.0/24",
            "nextHop": tor1.address,
            "metric": 5,
            "family": "ipv4-unicast",
            "asPath": [65002],
        }
        detail = cluster.ctl(Command.DESCRIBE_SESSION, {"name": "127.0.1.254-node-01"})
        assert detail["fsmState"] == "Established" and detail["peer"] == "bgppeer1"
        assert len(detail["routes"]["announced"]) == 4 and detail["routes"]["segment"] == "127.0.0.0/8"
        reply = cluster.ctl(Command.RESET_SESSION, {"name": "127.0.1.254-node-01"})
        assert reply == {"message": "bgpsession 127.0.1.254-node-01 reset"}
        status = await cluster.wait_router(tor1, lambda s: s.last_received is not None)
        assert status.last_received is not None
        assert (status.last_received.code, status.last_received.subcode) == (6, CeaseSub.ADMINISTRATIVE_RESET)
        await cluster.wait_router(tor1, lambda s: s.established and s.prefixes_received == 4)
        assert cluster.counters("tor2")["flaps"] == 0


async def test_a_soft_reset_through_bgpctl_refreshes_routes_without_a_flap(short_dir: Path) -> None:
    async with Cluster(short_dir) as cluster:
        tor1 = cluster.router("tor1")
        name = "127.0.1.254-node-01"
        cluster.tors.set_routes(tor1.session, [Route.parse("192.0.2.0/24", tor1.address)])

        def learned() -> dict[str, Any]:
            detail = cluster.ctl(Command.DESCRIBE_SESSION, {"name": name})
            return dict(detail["counters"])

        await _poll(lambda: learned()["prefixesIn"] == 1, "the router's route at bgpd")
        before = cluster.counters("tor1")
        command = ["reset", "bgpsession", name, "--soft"]
        bgpctl = cluster.bgpctl(*command)
        assert bgpctl.returncode == 0, bgpctl.stderr
        assert bgpctl.stdout == (
            f"bgpsession {name} soft-reset: routes re-sent for ipv4-unicast; "
            "ROUTE-REFRESH sent for ipv4-unicast\n"
        )

        def resent(s: SessionStatus) -> bool:
            got = s.counters["messagesIn"]
            return (
                got.get("route-refresh", 0) == 1
                and s.counters["prefixesIn"] == before["prefixesIn"] + 4  # the four pod CIDRs again,
                and got["update"] == before["messagesIn"]["update"] + 5  # one next hop each, End-of-RIB
            )

        status = await cluster.wait_router(tor1, resent)
        assert status.established and status.prefixes_received == 4
        # the router answered the ROUTE-REFRESH: bgpd learned its route a second time
        await _poll(lambda: learned()["prefixesIn"] == 2, "the router's route re-sent to bgpd")
        _no_flaps(cluster)
        sessions = {s["name"]: s for s in cluster.ctl(Command.SESSIONS)}
        assert sessions[name]["state"] == "Established"
        detail = cluster.ctl(Command.DESCRIBE_SESSION, {"name": name})
        assert detail["counters"]["flaps"] == 0 and detail["counters"]["messagesOut"]["route-refresh"] == 1
        entry = await cluster.wait_log("session_soft_reset")
        assert entry["session"] == name and entry["route_refresh"] is True


async def test_connection_level_settings_apply_on_reload_without_flaps(short_dir: Path) -> None:
    """connectRetryTime, multihop (TTL) and freebind change for every peer: no session resets."""
    async with Cluster(short_dir) as cluster:
        text = cluster.settings.read_text(encoding="utf-8")
        tuned = text.replace(
            "  connectRetryTime: 1\n", "  connectRetryTime: 2\n  multihop: 2\n  freebind: true\n"
        )
        assert tuned != text
        cluster.settings.write_text(tuned, encoding="utf-8")
        cluster.signal(signal.SIGHUP)
        applied = await cluster.wait_log("reload_applied")
        assert "4 sessions reconfigured" in str(applied)
        reconfigured = [e for e in cluster.log_events() if e["event"] == "session_reconfigured"]
        assert len(reconfigured) == 4
        assert all(set(e["changed"]) == {"connect_retry_time", "ttl", "freebind"} for e in reconfigured)
        assert not [e for e in cluster.log_events() if e["event"] == "session_reset"]
        _no_flaps(cluster)
        for router in cluster.routers:
            assert cluster.tors.state(router.session).established
