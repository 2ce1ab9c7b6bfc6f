"""The control-socket data has exactly the documented shapes (docs/control-protocol.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from bgpd.cli.bgpctl import main as bgpctl
from bgpd.cli.tables import table_for
from bgpd.control.client import request
from bgpd.control.protocol import Command, ControlError, ErrorCode
from bgpd.control.queries import Prefix, RouteQuery, parse_prefix
from bgpd.control.server import ControlServer, Handler, PeerCredentials, Streamed
from bgpd.daemon.handlers import (
    SESSION_FIELDS,
    Snapshot,
    advertised_listing,
    allocations_listing,
    commands,
    describe_session_data,
    listed,
    sessions_data,
    status_data,
)
from bgpd.daemon.loop_lag import LoopLag
from bgpd.daemon.metrics import Format
from bgpd.plan.maintenance import Maintenance
from bgpd.plan.settings import Settings, parse_settings
from bgpd.speaker import ReceivedRoute, SessionStatus
from tests.daemon._fakes import status
from tests.plan._fixtures import plan

ONE_HELD = ("10.0.1.100",)


def statuses(snap: Snapshot) -> dict[str, SessionStatus]:
    """The full status of every session ``snap`` runs, as the fake speaker reports it."""
    return {name: status(s.config, sent=len(s.announced)) for name, s in snap.running.items()}


def snapshot(settings: Settings | None = None) -> Snapshot:
    p = plan(held=ONE_HELD, settings=settings)
    running = p.local_sessions()
    summaries = {name: status(s.config, sent=len(s.announced)).summary for name, s in running.items()}
    return Snapshot(p, running, summaries, planned_at=1_790_000_000.0)


def describe(snap: Snapshot, name: str) -> dict[str, Any]:
    return describe_session_data(snap, name, statuses(snap).get(name))


def test_sessions_have_exactly_the_documented_fields_for_run_and_not_run_sessions() -> None:
    data = sessions_data(snapshot())
    assert [s["name"] for s in data] == [
        "10.0.1.254-node-01",
        "10.0.1.254-node-02",
        "10.0.3.254-node-01",
        "10.0.3.254-node-02",
    ]
    assert all(tuple(s) == SESSION_FIELDS for s in data)
    running = {s["name"]: s for s in data if s["lastError"] is None}
    assert set(running) == {"10.0.1.254-node-01", "10.0.3.254-node-01"}
    assert running["10.0.1.254-node-01"]["prefixesSent"] == 2  # the two nodes on its peer's segment
    assert running["10.0.3.254-node-01"]["prefixesSent"] == 0  # its peer is off 10.0.1.0/24
    assert all(s["state"] == "Established" for s in running.values())
    away = next(s for s in data if s["name"] == "10.0.3.254-node-02")
    assert away["state"] == "NotEstablished" and away["fsmState"] == "Idle"
    assert away["lastError"] == "not run on this host: floating IP 10.0.3.100 is not here"
    assert away["lastReport"] == "2026-09-21T14:13:20.000Z"


def test_advertised_routes_list_every_route_with_the_sessions_carrying_it() -> None:
    data = listed_advertised(snapshot())
    by_hop = {r["nextHop"]: r for r in data}
    assert set(by_hop) == {"10.0.1.11", "10.0.1.21", "10.0.3.11", "10.0.3.21"}
    assert by_hop["10.0.1.11"] == {
        "name": "route-via-10-0-1-11",
        "prefix": by_hop["10.0.1.11"]["prefix"],
        "metric": None,
        "nextHop": "10.0.1.11",
        "family": "ipv4-unicast",
        "communities": [],
        "sessions": ["10.0.1.254-node-01"],  # not 10.0.3.254-node-01: that peer is off 10.0.1.0/24
    }
    assert by_hop["10.0.3.11"]["sessions"] == []  # off-segment for the only floating IP held here
    table = table_for("bgpadvertisedroutes", data, now=datetime.now(UTC), wide=True)
    assert "route-via-10-0-1-11" in table and "10.0.1.254-node-01" in table


def test_next_hop_self_shows_up_as_its_own_advertised_route() -> None:
    settings = parse_settings({"peers": {"10.0.3.254": {"offSegmentNextHop": "self"}}})
    data = listed_advertised(snapshot(settings))
    selfs = [r for r in data if r["nextHop"] == "10.0.1.100"]
    assert {r["name"] for r in selfs} == {"route-via-10-0-1-100"}
    assert len(selfs) == 4 and all(r["sessions"] == ["10.0.3.254-node-01"] for r in selfs)


def test_allocations_name_node_pool_blocks_and_addresses() -> None:
    data = listed(allocations_listing(plan()))
    assert data[0] == {
        "node": "10.0.1.11",
        "nodePool": "bm",
        "clusterCIDRConfig": "cluster-wide-1",
        "podCIDRs": [data[0]["podCIDRs"][0]],
        "nodeIPs": ["10.0.1.11"],
        "missingSince": None,
    }
    assert len(data) == 4


def test_describe_adds_the_routes_carried_and_skipped_with_reasons() -> None:
    data = describe(snapshot(), "10.0.1.254-node-01")
    assert data["peer"] == "bgppeer1" and data["families"] == ["ipv4-unicast"]
    routes = data["routes"]
    assert routes["segment"] == "10.0.1.0/24" and routes["offSegmentNextHop"] == "skip"
    assert {r["nextHop"] for r in routes["announced"]} == {"10.0.1.11", "10.0.1.21"}
    assert len(routes["skipped"]) == 2 and "RFC 4271 §5.1.3" in routes["skipped"][0]["reason"]
    off = describe(snapshot(), "10.0.3.254-node-01")["routes"]
    assert off["announced"] == [] and all(
        "the peer is off" in s["reason"] or "both off" in s["reason"] for s in off["skipped"]
    )
    with pytest.raises(ControlError) as missing:
        describe(snapshot(), "nope")
    assert missing.value.code is ErrorCode.NOT_FOUND


class _Control:
    generation = 7
    loop_lag = LoopLag(
        last=0.0012, recent_max=0.021, worst=0.064, over_budget=2, budget=0.05, worst_busy=0.03
    )

    def __init__(self) -> None:
        self.snap = snapshot()
        self.calls: list[tuple[str | None, ...]] = []
        self.stopped: list[bool] = []

    def snapshot(self) -> Snapshot:
        return self.snap

    def session_status(self, name: str) -> SessionStatus | None:
        return statuses(self.snap).get(name)

    def received(self, name: str, within: Prefix | None) -> Iterator[ReceivedRoute | None]:
        return iter(())

    async def reload(self, reason: str, force: bool = False) -> str:
        self.calls.append(("reload", reason, str(force)))
        return f"reloaded because {reason}"

    async def reset_session(self, name: str, soft: bool, hard: bool = False) -> str:
        return f"reset {name}"

    def request_stop(self, withdraw: bool) -> str:
        self.stopped.append(withdraw)
        return "stopping"

    async def disable_session(self, name: str, message: str) -> str:
        self.calls.append(("disable", name, message))
        return f"disabled {name}"

    async def enable_session(self, name: str) -> str:
        self.calls.append(("enable", name))
        return f"enabled {name}"

    async def metrics_text(self, fmt: Format) -> str:
        return f"# {fmt.name}\n"

    async def set_drained(self, name: str | None, drained: bool) -> str:
        self.calls.append(("drain" if drained else "undrain", name))
        return "done"

    async def release_node(self, name: str) -> str:
        self.calls.append(("release", name))
        return f"node {name} released"


@pytest.mark.asyncio
async def test_bgpctl_reload_force_and_release_node_reach_the_daemon(
    short_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sock = short_dir / "bgpd.sock"
    control = _Control()
    async with ControlServer(sock, commands(control)):
        loop = asyncio.get_running_loop()
        for argv in (["reload"], ["reload", "--force"], ["release", "node", "10.0.1.99"]):
            assert await loop.run_in_executor(None, bgpctl, ["--socket", str(sock), *argv]) == 0
        bad = ["--socket", str(sock), "release", "bgpsession", "x"]
        with pytest.raises(SystemExit):
            await loop.run_in_executor(None, bgpctl, bad)
    assert control.calls == [
        ("reload", "bgpctl reload", "False"),
        ("reload", "bgpctl reload --force", "True"),
        ("release", "10.0.1.99"),
    ]
    assert "node 10.0.1.99 released" in capsys.readouterr().out


@pytest.mark.asyncio
async def test_commands_over_a_real_socket_with_bgpctl(short_dir: Path) -> None:
    sock = short_dir / "bgpd.sock"
    async with ControlServer(sock, commands(_Control())):
        loop = asyncio.get_running_loop()
        code = await loop.run_in_executor(None, bgpctl, ["--socket", str(sock), "get", "bgpsessions"])
        assert code == 0
        code = await loop.run_in_executor(None, bgpctl, ["--socket", str(sock), "reload"])
        assert code == 0
        missing = ["--socket", str(sock), "reset", "bgpsession", "10.0.3.254-node-02"]
        assert await loop.run_in_executor(None, bgpctl, missing) == 1


@pytest.mark.asyncio
async def test_stop_and_reset_arguments() -> None:
    control = _Control()
    table = commands(control)
    assert await table[Command.STOP].handler({"withdraw": True}) == {"message": "stopping"}
    assert await table[Command.STOP].handler({}) == {"message": "stopping"}
    assert control.stopped == [True, False]
    with pytest.raises(ControlError) as both:
        await table[Command.RESET_SESSION].handler({"name": "10.0.1.254-node-01", "soft": True, "hard": True})
    assert both.value.code is ErrorCode.INVALID_ARGUMENT
    with pytest.raises(ControlError) as unknown:
        await table[Command.STOP].handler({"hard": True})
    assert unknown.value.code is ErrorCode.INVALID_ARGUMENT


def test_sessions_by_name_and_unknown_name() -> None:
    data = sessions_data(snapshot(), "10.0.3.254-node-02")
    assert [s["name"] for s in data] == ["10.0.3.254-node-02"]
    with pytest.raises(ControlError) as missing:
        sessions_data(snapshot(), "nope")
    assert (missing.value.code, missing.value.message) == (ErrorCode.NOT_FOUND, "no bgpsession named 'nope'")


def listed_advertised(snap: Snapshot, query: RouteQuery | None = None) -> list[dict[str, Any]]:
    return listed(advertised_listing(snap, query))


def streamed(handler: Handler) -> Callable[[Mapping[str, Any]], Awaitable[list[Any]]]:
    """A listing command's handler that answers with the whole list (its parts joined)."""

    async def whole(args: Mapping[str, Any]) -> list[Any]:
        answer = await handler(args)
        assert isinstance(answer, Streamed)
        return listed(answer.items)

    return whole


def _prefixes(data: list[dict[str, Any]]) -> list[str]:
    return [r["prefix"] for r in data]


def test_advertised_routes_filtered_by_session_prefix_and_limit() -> None:
    everything = listed_advertised(snapshot())
    assert _prefixes(everything) == ["222.2.0.0/24", "222.2.1.0/24", "222.2.2.0/24", "222.2.3.0/24"]
    carried = listed_advertised(snapshot(), RouteQuery(session="10.0.1.254-node-01"))
    assert _prefixes(carried) == ["222.2.0.0/24", "222.2.1.0/24"]
    inside = listed_advertised(snapshot(), RouteQuery(prefix=parse_prefix("222.2.2.0/23")))
    assert _prefixes(inside) == ["222.2.2.0/24", "222.2.3.0/24"]
    exact = listed_advertised(snapshot(), RouteQuery(prefix=parse_prefix("222.2.1.0/24")))
    assert _prefixes(exact) == ["222.2.1.0/24"]
    assert listed_advertised(snapshot(), RouteQuery(prefix=parse_prefix("222.2.1.0/25"))) == []
    assert _prefixes(listed_advertised(snapshot(), RouteQuery(limit=3))) == _prefixes(everything)[:3]
    with pytest.raises(ControlError) as missing:
        listed_advertised(snapshot(), RouteQuery(session="nope"))
    assert missing.value.code is ErrorCode.NOT_FOUND


class _Received(_Control):
    """Two running sessions with received routes, counting what the daemon had to fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []

    def received(self, name: str, within: Prefix | None) -> Iterator[ReceivedRoute | None]:
        self.fetched.append(name)
        third = name[-1]
        for i in range(3):
            route = ReceivedRoute(name, "ipv4-unicast", f"10.{third}.{i}.0/24", "10.0.1.254", None, (65002,))
            if within is None or parse_prefix(route.prefix).subnet_of(within):  # type: ignore[arg-type]
                yield route
            yield None  # a pause point, as the speaker's listing has them


@pytest.mark.asyncio
async def test_received_routes_filtered_in_the_daemon() -> None:
    control = _Received()
    handler = streamed(commands(control)[Command.RECEIVED_ROUTES].handler)
    everything = await handler({})
    assert [(r["session"], r["prefix"]) for r in everything][:4] == [
        ("10.0.1.254-node-01", "10.1.0.0/24"),
        ("10.0.1.254-node-01", "10.1.1.0/24"),
        ("10.0.1.254-node-01", "10.1.2.0/24"),
        ("10.0.3.254-node-01", "10.1.0.0/24"),
    ]
    control.fetched.clear()
    one = await handler({"session": "10.0.1.254-node-01", "prefix": "10.1.1.0/24", "limit": 5})
    assert [r["prefix"] for r in one] == ["10.1.1.0/24"]
    assert control.fetched == ["10.0.1.254-node-01"]  # the other session's routes were not even read
    control.fetched.clear()
    assert len(await handler({"limit": 2})) == 2
    assert control.fetched == ["10.0.1.254-node-01"]  # the first session had enough
    assert len(await handler({"limit": 4})) == 4
    assert await handler({"session": "10.0.3.254-node-02"}) == []  # planned, runs on another gateway
    with pytest.raises(ControlError) as missing:
        await handler({"session": "nope"})
    assert missing.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(ControlError) as bad:
        await handler({"limit": -1})
    assert bad.value.code is ErrorCode.INVALID_ARGUMENT


@pytest.mark.asyncio
async def test_sessions_command_takes_a_name_and_nothing_else() -> None:
    handler = commands(_Control())[Command.SESSIONS].handler
    assert [s["name"] for s in await handler({"name": "10.0.1.254-node-01"})] == ["10.0.1.254-node-01"]
    with pytest.raises(ControlError) as bad:
        await handler({"session": "10.0.1.254-node-01"})
    assert bad.value.code is ErrorCode.INVALID_ARGUMENT


def test_status_counts_sessions_routes_and_carries_the_loop_lag() -> None:
    snap = snapshot()
    data = status_data(snap, 3, _Control.loop_lag)
    assert data == {
        "generation": 3,
        "plannedAt": "2026-09-21T14:13:20.000Z",
        "nodes": len(snap.plan.nodes),
        "routes": len(snap.plan.routes),
        "sessions": {"planned": 4, "running": 2, "established": 2},
        "loopLag": _Control.loop_lag.to_control(),
        "ledgerUnwritten": None,
    }


@pytest.mark.asyncio
async def test_bgpctl_status_over_a_real_socket(short_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sock = short_dir / "bgpd.sock"
    with capture_logs():  # the server's log lines stay out of the captured stdout
        async with ControlServer(sock, commands(_Control())):
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(None, bgpctl, ["--socket", str(sock), "status"]) == 0
            text = capsys.readouterr().out
            json_status = ["--socket", str(sock), "status", "-o", "json"]
            assert await loop.run_in_executor(None, bgpctl, json_status) == 0
            data = json.loads(capsys.readouterr().out)
    assert data["generation"] == 7 and data["loopLag"]["overBudget"] == 2
    lines = text.splitlines()
    assert lines[0].startswith("Generation:") and "7, plan of 2026-09-21T14:13:20.000Z" in lines[0]
    assert lines[1:] == [
        "Sessions:        4 planned, 2 run here, 2 established",
        f"Routes:          {len(_Control().snap.plan.routes)} from {len(_Control().snap.plan.nodes)} nodes",
        "Event Loop Lag:  last 1.2 ms, worst 21.0 ms in the last 60 s and 64.0 ms since start; "
        "2 over the 50.0 ms budget",
        "Loop CPU:        at most 30.0 ms between two probes",
        "Ledger:          written",
    ]


@pytest.mark.asyncio
async def test_maintenance_verbs_over_a_real_socket_with_bgpctl(short_dir: Path) -> None:
    sock = short_dir / "bgpd.sock"
    control = _Control()
    loop = asyncio.get_running_loop()

    async def run(*argv: str) -> int:
        code: int = await loop.run_in_executor(None, bgpctl, ["--socket", str(sock), *argv])
        return code

    async with ControlServer(sock, commands(control)):
        assert await run("disable", "bgpsession", "s1", "--message", "ToR upgrade") == 0
        assert await run("disable", "bgpsession", "s2") == 0
        assert await run("enable", "bgpsession", "s1") == 0
        assert await run("drain") == 0
        assert await run("undrain", "bgpsession", "s2") == 0
        assert await run("disable", "bgpsession", "s1", "--message", "é" * 128) == 1  # 256 octets
    assert control.calls == [
        ("disable", "s1", "ToR upgrade"),
        ("disable", "s2", "disabled by bgpctl"),
        ("enable", "s1"),
        ("drain", None),
        ("undrain", "s2"),
    ]


def test_drain_takes_bgpsession_name_or_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        bgpctl(["drain", "bgpsession"])
    assert usage.value.code == 2 and "name the session as 'bgpsession NAME'" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_maintenance_verbs_need_privilege(short_dir: Path) -> None:
    sock = short_dir / "bgpd.sock"
    control = _Control()
    stranger = ControlServer(
        sock, commands(control), credentials=lambda _sock: PeerCredentials(1, 1000, 1000), daemon_uid=999
    )
    async with stranger:
        for cmd, args in (
            (Command.DISABLE_SESSION, {"name": "s1"}),
            (Command.ENABLE_SESSION, {"name": "s1"}),
            (Command.DRAIN, {}),
            (Command.UNDRAIN, {}),
        ):
            reply = await asyncio.get_running_loop().run_in_executor(None, request, sock, cmd, args)
            assert (reply.ok, reply.error_code) == (False, "permission_denied")
    assert control.calls == []


def test_drained_and_disabled_sessions_show_in_the_tables() -> None:
    p = plan(held=ONE_HELD, maintenance=Maintenance().drain(None).disable("10.0.1.254-node-01", "x"))
    running = p.local_sessions()
    summaries = {name: status(s.config, sent=len(s.announced)).summary for name, s in running.items()}
    snap = Snapshot(p, running, summaries, planned_at=1_790_000_000.0)
    sessions = {row["name"]: row for row in sessions_data(snap)}
    assert (sessions["10.0.1.254-node-01"]["disabled"], sessions["10.0.1.254-node-01"]["drained"]) == (
        True,
        True,
    )
    table = table_for("bgpsessions", list(sessions.values()), datetime.now(UTC))
    assert "Established,Disabled,Drained" in table  # the fake speaker reports it up
    routes = listed_advertised(snap)
    carried = [r for r in routes if r["sessions"]]
    assert carried and all(r["communities"] == ["65535:0"] for r in carried)
    assert "65535:0" in table_for("bgpadvertisedroutes", routes, datetime.now(UTC), wide=True)


def test_a_prefix_drained_on_one_session_only_is_listed_once_per_variant() -> None:
    settings = parse_settings({"peers": {"10.0.3.254": {"offSegmentNextHop": "node"}}})
    p = plan(settings=settings, maintenance=Maintenance().drain("10.0.1.254-node-01"))
    running = p.local_sessions()
    snap = Snapshot(p, running, {}, planned_at=1_790_000_000.0)
    routes = [r for r in listed_advertised(snap) if r["nextHop"] == "10.0.1.11"]
    assert [(r["communities"], r["sessions"]) for r in routes] == [
        ([], ["10.0.3.254-node-01", "10.0.3.254-node-02"]),
        (["65535:0"], ["10.0.1.254-node-01"]),
    ]
