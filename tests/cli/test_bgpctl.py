"""bgpctl against a real control server serving fixed data: the text an operator sees, and exit codes."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from structlog.testing import capture_logs

from bgpd.cli import bgpctl
from bgpd.control.protocol import Command, ControlError, ErrorCode, optional_bool, require_str
from bgpd.control.server import CommandSpec, ControlServer, PeerCredentials, Streamed

ROOT = Path(__file__).resolve().parents[2]


def _ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


def _session(name: str, local: str, peer: str, established: bool) -> dict[str, Any]:
    return {
        "name": name,
        "localASN": 65500,
        "peerASN": 65000,
        "localIP": local,
        "peerIP": peer,
        "state": "Established" if established else "NotEstablished",
        "fsmState": "Established" if established else "Active",
        "uptimeSeconds": 300 if established else None,
        "prefixesSent": 2 if established else 0,
        "prefixesReceived": 0,
        "lastError": None if established else "connect: Network is unreachable",
    }


SESSIONS = [
    _session("10.0.1.254-node-01", "10.0.1.100", "10.0.1.254", True),
    _session("10.0.1.254-node-02", "10.0.3.100", "10.0.1.254", False),
    _session("10.0.3.254-node-01", "10.0.1.100", "10.0.3.254", False),
    _session("10.0.3.254-node-02", "10.0.3.100", "10.0.3.254", True),
]
ROUTES = [
    {
        "name": "route-via-222-22-208-240",
        "prefix": "222.2.0.0/24",
        "nextHop": "222.22.208.240",
        "family": "ipv4-unicast",
        "metric": None,
        "sessions": ["10.0.1.254-node-01"],
    },
    {
        "name": "route-via-222-22-209-240",
        "prefix": "222.2.1.0/24",
        "nextHop": "222.22.209.240",
        "family": "ipv4-unicast",
        "metric": None,
        "sessions": ["10.0.3.254-node-02"],
    },
]


def _reported() -> list[dict[str, Any]]:
    """The sessions as the daemon reports them now: last report 2.2 s ago (renders as ``2s``)."""
    return [{**session, "lastReport": _ago(2.2)} for session in SESSIONS]


def _without_report(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert all(isinstance(s.pop("lastReport"), str) for s in sessions)
    return sessions


class FakeDaemon:
    """Handlers serving fixed data, recording the state-changing calls they get."""

    def __init__(self) -> None:
        self.resets: list[tuple[str, bool, bool]] = []
        self.stops: list[bool] = []
        self.reloads = 0
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.received_routes: list[dict[str, Any]] = []
        self.states: dict[str, str] = {}  # session name -> state, overriding SESSIONS (for --watch)

    async def sessions(self, args: Mapping[str, Any]) -> Any:
        self.requests.append(("sessions", dict(args)))
        reported = [{**s, "state": self.states.get(s["name"], s["state"])} for s in _reported()]
        name = args.get("name")
        if name is None:
            return reported
        found = [s for s in reported if s["name"] == name]
        if not found:
            raise ControlError(ErrorCode.NOT_FOUND, f"no bgpsession named {name!r}")
        return found

    async def routes(self, args: Mapping[str, Any]) -> Any:
        self.requests.append(("advertised-routes", dict(args)))
        return ROUTES

    async def received(self, args: Mapping[str, Any]) -> Any:
        self.requests.append(("received-routes", dict(args)))
        limit = args.get("limit")
        return self.received_routes[:limit]

    async def allocations(self, args: Mapping[str, Any]) -> Any:
        return [
            {
                "node": "node-01",
                "nodePool": "np1",
                "clusterCIDRConfig": "cluster-wide-1",
                "podCIDRs": ["222.2.0.0/24"],
            }
        ]

    async def describe(self, args: Mapping[str, Any]) -> Any:
        name = require_str(args, "name")
        for session in SESSIONS:
            if session["name"] == name:
                return {**session, "holdTime": 90, "history": [{"to": "Established", "reason": "OPEN ok"}]}
        raise ControlError(ErrorCode.NOT_FOUND, f"no bgpsession named {name!r}")

    async def reload(self, args: Mapping[str, Any]) -> Any:
        self.reloads += 1
        return {"message": "reloaded: 1 session added, 0 removed"}

    async def reset(self, args: Mapping[str, Any]) -> Any:
        self.resets.append(
            (require_str(args, "name"), optional_bool(args, "soft"), optional_bool(args, "hard"))
        )
        return None

    async def stop(self, args: Mapping[str, Any]) -> Any:
        self.stops.append(optional_bool(args, "withdraw"))
        return {"message": "bgpd stopping"}

    def commands(self) -> dict[str, CommandSpec]:
        return {
            Command.SESSIONS: CommandSpec(self.sessions),
            Command.ADVERTISED_ROUTES: CommandSpec(self.routes),
            Command.RECEIVED_ROUTES: CommandSpec(self.received),
            Command.ALLOCATIONS: CommandSpec(self.allocations),
            Command.DESCRIBE_SESSION: CommandSpec(self.describe),
            Command.RELOAD: CommandSpec(self.reload, privileged=True),
            Command.RESET_SESSION: CommandSpec(self.reset, privileged=True),
            Command.STOP: CommandSpec(self.stop, privileged=True),
        }


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon()


@pytest_asyncio.fixture
async def sock(short_dir: Path, daemon: FakeDaemon) -> AsyncIterator[Path]:
    async with ControlServer(short_dir / "bgpd.sock", daemon.commands()) as server:
        yield server.path


async def _bgpctl(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(bgpctl.main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.asyncio
async def test_get_bgpsessions_table(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = await _bgpctl(capsys, "--socket", str(sock), "get", "bgpsessions")
    assert (code, err) == (0, "")
    assert out == (
        "NAME                 LOCAL ASN   PEER ASN   LOCAL IP     PEER IP      STATE            LAST REPORT\n"
        "10.0.1.254-node-01   65500       65000      10.0.1.100   10.0.1.254   Established      2s\n"
        "10.0.1.254-node-02   65500       65000      10.0.3.100   10.0.1.254   NotEstablished   2s\n"
        "10.0.3.254-node-01   65500       65000      10.0.1.100   10.0.3.254   NotEstablished   2s\n"
        "10.0.3.254-node-02   65500       65000      10.0.3.100   10.0.3.254   Established      2s\n"
    )


@pytest.mark.asyncio
async def test_get_bgpsessions_wide(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await _bgpctl(capsys, "--socket", str(sock), "get", "bgpsession", "-o", "wide")
    lines = out.splitlines()
    assert code == 0
    cells = [re.split(r" {3,}", line)[-5:] for line in lines[:3]]
    assert cells[0] == ["FSM STATE", "UPTIME", "PREFIXES SENT", "PREFIXES RECEIVED", "LAST ERROR"]
    assert cells[1] == ["Established", "5m", "2", "0", "<none>"]
    assert cells[2] == ["Active", "<none>", "0", "0", "connect: Network is unreachable"]
    assert lines[0].index("FSM STATE") == lines[2].index("Active")  # columns line up


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", ["json", "yaml"])
async def test_machine_readable_output_is_the_daemon_data(
    sock: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    code, out, _ = await _bgpctl(capsys, "--socket", str(sock), "get", "bgpsessions", "-o", fmt)
    assert code == 0
    assert _without_report(json.loads(out) if fmt == "json" else yaml.safe_load(out)) == SESSIONS


@pytest.mark.asyncio
async def test_get_bgpadvertisedroutes(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await _bgpctl(capsys, "--socket", str(sock), "get", "bgpadvertisedroutes")
    assert code == 0
    assert out == (
        "NAME                       PREFIX         METRIC\n"
        "route-via-222-22-208-240   222.2.0.0/24\n"
        "route-via-222-22-209-240   222.2.1.0/24\n"
    )
    _, wide, _ = await _bgpctl(capsys, "--socket", str(sock), "get", "bgpadvertisedroutes", "-o", "wide")
    assert wide.splitlines()[1].split()[-4:] == [
        "222.22.208.240",
        "ipv4-unicast",
        "<none>",
        "10.0.1.254-node-01",
    ]


@pytest.mark.asyncio
async def test_get_allocations_and_empty_received_routes(
    sock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = await _bgpctl(capsys, "--socket", str(sock), "get", "allocations")
    assert out == (
        "NODE      NODEPOOL   CLUSTERCIDRCONFIG   POD CIDRS\n"
        "node-01   np1        cluster-wide-1      222.2.0.0/24\n"
    )
    code, out, err = await _bgpctl(capsys, "--socket", str(sock), "get", "bgpreceivedroutes")
    assert (code, out, err) == (0, "", "No resources found.\n")  # on stderr, as kubectl prints it
    code, out, err = await _bgpctl(capsys, "--socket", str(sock), "get", "bgpreceivedroutes", "-o", "json")
    assert (code, json.loads(out), err) == (0, [], "")


@pytest.mark.asyncio
async def test_describe_bgpsession(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await _bgpctl(
        capsys, "--socket", str(sock), "describe", "bgpsession", "10.0.1.254-node-01"
    )
    assert code == 0
    assert "Name:  10.0.1.254-node-01" in out.splitlines()
    assert "Hold Time:  90" in out.splitlines()
    assert "  - To:  Established" in out.splitlines()


@pytest.mark.asyncio
async def test_daemon_error_goes_to_stderr_with_exit_1(
    sock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await _bgpctl(capsys, "--socket", str(sock), "describe", "bgpsession", "ghost")
    assert (code, out) == (1, "")
    assert err == "bgpd: no bgpsession named 'ghost' (not_found)\n"


@pytest.mark.asyncio
async def test_reload_and_reset(sock: Path, daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await _bgpctl(capsys, "--socket", str(sock), "reload")
    assert (code, out, daemon.reloads) == (0, "reloaded: 1 session added, 0 removed\n", 1)
    code, out, _ = await _bgpctl(capsys, "--socket", str(sock), "reset", "bgpsession", "s1", "--soft")
    assert (code, out) == (0, "bgpsession s1 soft-reset\n")
    code, out, _ = await _bgpctl(capsys, "--socket", str(sock), "reset", "bgpsession", "s2")
    assert (code, out) == (0, "bgpsession s2 reset\n")
    code, out, _ = await _bgpctl(capsys, "--socket", str(sock), "reset", "bgpsession", "s3", "--hard")
    assert (code, out) == (0, "bgpsession s3 hard-reset\n")
    assert daemon.resets == [("s1", True, False), ("s2", False, False), ("s3", False, True)]


@pytest.mark.asyncio
async def test_reset_is_soft_or_hard_not_both(sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        await _bgpctl(capsys, "--socket", str(sock), "reset", "bgpsession", "s1", "--soft", "--hard")
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_stop_graceful_or_withdrawing(
    sock: Path, daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await _bgpctl(capsys, "--socket", str(sock), "stop")
    assert (code, out) == (0, "bgpd stopping\n")
    code, out, _ = await _bgpctl(capsys, "--socket", str(sock), "stop", "--withdraw")
    assert code == 0 and daemon.stops == [False, True]


@pytest.mark.asyncio
async def test_privileged_command_refused_for_other_users(
    short_dir: Path, daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    server = ControlServer(
        short_dir / "ro.sock",
        daemon.commands(),
        credentials=lambda _s: PeerCredentials(pid=1, uid=4242, gid=4242),
        daemon_uid=999,
    )
    async with server:
        code, _, err = await _bgpctl(capsys, "--socket", str(server.path), "reload")
        assert code == 1 and err.endswith("(permission_denied)\n")
        assert daemon.reloads == 0
        code, _, _ = await _bgpctl(capsys, "--socket", str(server.path), "get", "bgpsessions")
        assert code == 0


def test_no_daemon_is_one_clear_line(short_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = short_dir / "missing.sock"
    assert bgpctl.main(["--socket", str(path), "get", "bgpsessions"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"bgpd is not running (no socket at {path})\n"


def test_stale_socket_is_reported_as_not_running(short_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = short_dir / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(path))
    leftover.close()
    assert bgpctl.main(["--socket", str(path), "reload"]) == 1
    assert capsys.readouterr().err.startswith(f"bgpd is not running (stale socket at {path}")


def test_socket_from_environment(
    short_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BGPD_SOCKET", str(short_dir / "env.sock"))
    assert bgpctl.main(["get", "bgpsessions"]) == 1
    assert str(short_dir / "env.sock") in capsys.readouterr().err


def test_unknown_resource_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        bgpctl.main(["get", "pods"])
    assert info.value.code == 2
    assert "unknown resource 'pods'" in capsys.readouterr().err


async def _bgpctl_process(sock: Path, *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bgpd.cli.bgpctl",
        "--socket",
        str(sock),
        *argv,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.asyncio
async def test_as_a_separate_process(sock: Path) -> None:
    proc = await _bgpctl_process(sock, "get", "bgpsessions", "-o", "json")
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert _without_report(json.loads(out)) == SESSIONS


@pytest.mark.asyncio
async def test_get_one_session_by_name(
    sock: Path, daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await _bgpctl(capsys, "--socket", str(sock), "get", "bgpsessions", "10.0.3.254-node-01")
    assert code == 0
    assert out.splitlines()[1].split()[:6] == [
        "10.0.3.254-node-01",
        "65500",
        "65000",
        "10.0.1.100",
        "10.0.3.254",
        "NotEstablished",
    ]
    assert len(out.splitlines()) == 2
    assert daemon.requests[-1] == ("sessions", {"name": "10.0.3.254-node-01"})  # the daemon filters
    code, out, _ = await _bgpctl(
        capsys, "--socket", str(sock), "get", "bgpsession", "10.0.1.254-node-01", "-o", "json"
    )
    assert json.loads(out)["name"] == "10.0.1.254-node-01"  # one object, as kubectl prints one resource
    code, out, err = await _bgpctl(capsys, "--socket", str(sock), "get", "bgpsessions", "ghost")
    assert (code, out, err) == (1, "", "bgpd: no bgpsession named 'ghost' (not_found)\n")


def _received(count: int) -> list[dict[str, Any]]:
    return [
        {
            "session": "s1",
            "prefix": f"10.0.{i}.0/24",
            "nextHop": "10.0.1.254",
            "metric": None,
            "asPath": [65000],
        }
        for i in range(count)
    ]


@pytest.mark.asyncio
async def test_route_filters_travel_in_the_request(
    sock: Path, daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.received_routes = _received(5)
    argv = ["--socket", str(sock), "get", "bgpreceivedroutes", "--session", "s1", "--prefix", "10.0.0.0/8"]
    code, out, err = await _bgpctl(capsys, *argv, "--limit", "2")
    assert code == 0
    assert daemon.requests[-1] == ("received-routes", {"session": "s1", "prefix": "10.0.0.0/8", "limit": 3})
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["10.0.0.0/24", "10.0.1.0/24"]
    assert err == "(the first 2 shown; more routes match)\n"
    code, out, err = await _bgpctl(capsys, *argv, "--limit", "5", "-o", "json")
    assert (code, len(json.loads(out)), err) == (0, 5, "")  # exactly 5 exist: nothing more to say
    code, _, _ = await _bgpctl(
        capsys,
        "--socket",
        str(sock),
        "get",
        "bgpadvertisedroutes",
        "--session",
        "s1",
        "--prefix",
        "222.2.0.1",
    )
    assert code == 0
    assert daemon.requests[-1] == ("advertised-routes", {"session": "s1", "prefix": "222.2.0.1/32"})


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["get", "allocations", "node-01"], "get allocations: NAME is only for bgpsessions"),
        (["get", "bgpreceivedroutes", "s1"], "NAME is only for bgpsessions (use --session or --prefix)"),
        (["get", "bgpsessions", "--prefix", "10.0.0.0/8"], "--prefix: only for bgpadvertisedroutes and"),
        (["get", "allocations", "--limit", "3"], "--limit: only for bgpadvertisedroutes and"),
        (
            ["get", "bgpreceivedroutes", "--prefix", "10.0.0.1/8"],
            "has host bits set; the prefix is 10.0.0.0/8",
        ),
        (["get", "bgpreceivedroutes", "--limit", "0"], "'0' is not a positive number"),
        (["get", "bgpsessions", "-w", "--watch-interval", "-1"], "'-1' is not a positive number"),
        (["get", "bgpsessions", "-w", "--watch-interval", "nan"], "'nan' is not a positive number"),
    ],
)
def test_filters_that_cannot_apply_are_usage_errors(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        bgpctl.main(["--socket", "/nonexistent.sock", *argv])
    assert info.value.code == 2
    assert complaint in capsys.readouterr().err


@pytest.mark.asyncio
async def test_watch_prints_the_table_then_only_what_changed(
    sock: Path, daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    args = bgpctl.build_parser().parse_args(["--socket", str(sock), "get", "bgpsessions", "-w"])
    naps: list[float] = []

    def nap(seconds: float) -> None:  # between answers: the next one sees a session come up
        naps.append(seconds)
        if len(naps) == 1:
            daemon.states["10.0.1.254-node-02"] = "Established"

    code = await asyncio.to_thread(bgpctl.watch, args, 3, nap)
    out, err = capsys.readouterr()
    assert (code, err, naps) == (0, "", [2.0, 2.0])
    assert out.splitlines() == [
        "NAME                 LOCAL ASN   PEER ASN   LOCAL IP     PEER IP      STATE            LAST REPORT",
        "10.0.1.254-node-01   65500       65000      10.0.1.100   10.0.1.254   Established      2s",
        "10.0.1.254-node-02   65500       65000      10.0.3.100   10.0.1.254   NotEstablished   2s",
        "10.0.3.254-node-01   65500       65000      10.0.1.100   10.0.3.254   NotEstablished   2s",
        "10.0.3.254-node-02   65500       65000      10.0.3.100   10.0.3.254   Established      2s",
        "10.0.1.254-node-02   65500       65000      10.0.3.100   10.0.1.254   Established      2s",
    ]  # the third answer changed nothing but LAST REPORT (time alone): nothing printed
    assert len([r for r in daemon.requests if r[0] == "sessions"]) == 3


@pytest.mark.asyncio
async def test_watch_json_prints_changed_objects(
    sock: Path, daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    args = bgpctl.build_parser().parse_args(["--socket", str(sock), "get", "bgpsessions", "-w", "-o", "json"])

    def nap(_seconds: float) -> None:
        daemon.states["10.0.3.254-node-02"] = "NotEstablished"

    assert await asyncio.to_thread(bgpctl.watch, args, 2, nap) == 0
    objects = [json.loads(chunk) for chunk in re.split(r"(?<=\n})\n(?=\{)", capsys.readouterr().out.strip())]
    assert [o["name"] for o in objects] == [*(s["name"] for s in SESSIONS), "10.0.3.254-node-02"]
    assert objects[-1]["state"] == "NotEstablished"


async def _start_watch(sock: Path) -> asyncio.subprocess.Process:
    proc = await _bgpctl_process(sock, "get", "bgpsessions", "-w", "--watch-interval", "0.05")
    assert proc.stdout is not None
    for _ in range(1 + len(SESSIONS)):  # the first listing: header and one row per session
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line, "bgpctl -w ended before its first listing"
    return proc


@pytest.mark.asyncio
async def test_watch_stops_cleanly_on_ctrl_c(sock: Path) -> None:
    proc = await _start_watch(sock)
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert err == b""


@pytest.mark.asyncio
async def test_watch_fails_when_the_daemon_goes_away(short_dir: Path, daemon: FakeDaemon) -> None:
    async with ControlServer(short_dir / "gone.sock", daemon.commands()) as server:
        proc = await _start_watch(server.path)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert err.decode().startswith("bgpd is not running")
    assert b"Traceback" not in err


def _received_many(count: int) -> list[dict[str, Any]]:
    return [
        {
            "session": f"10.0.1.254-node-0{1 + i % 2}",
            "prefix": f"10.{i // 256}.{i % 256}.0/24",
            "nextHop": "10.0.1.254",
            "metric": None if i % 3 else i,
            "family": "ipv4-unicast",
            "asPath": [65000, 65001 + i % 7],
        }
        for i in range(count)
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("output", ["table", "wide", "json", "yaml"])
@pytest.mark.parametrize("limit", [None, 5, 40])
async def test_streamed_listings_print_exactly_what_one_reply_printed(
    short_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    output: str,
    limit: int | None,
) -> None:
    """The daemon sends listings in parts now; bgpctl's output is what it was for one reply."""
    routes = _received_many(23)

    async def whole(args: Mapping[str, Any]) -> Any:
        return routes[: args.get("limit")]

    async def parts(args: Mapping[str, Any]) -> Any:
        return Streamed(iter(routes[: args.get("limit")]))

    monkeypatch.setattr("bgpd.control.server.PART_ITEMS", 4)  # six parts for 23 routes
    argv = ["get", "bgpreceivedroutes", "-o", output] + ([] if limit is None else ["--limit", str(limit)])
    printed = []
    for handler in (whole, parts):
        commands = {Command.RECEIVED_ROUTES: CommandSpec(handler)}
        with capture_logs():
            async with ControlServer(short_dir / f"{handler.__name__}.sock", commands) as server:
                printed.append(await _bgpctl(capsys, "--socket", str(server.path), *argv))
    assert printed[0] == printed[1]
    code, out, err = printed[1]
    assert code == 0 and out
    assert ("more routes match" in err) == (limit == 5)


@pytest.mark.asyncio
async def test_empty_streamed_listing_says_no_resources(
    short_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def nothing(args: Mapping[str, Any]) -> Any:
        return Streamed(iter([None, None]))

    commands = {Command.RECEIVED_ROUTES: CommandSpec(nothing)}
    with capture_logs():
        server = ControlServer(short_dir / "e.sock", commands)
        await server.start()
    try:
        for output, shown, said in (
            ("table", "", "No resources found.\n"),
            ("json", "[]\n", ""),
            ("yaml", "[]\n", ""),
        ):
            argv = ("--socket", str(server.path), "get", "bgpreceivedroutes", "-o", output)
            assert await _bgpctl(capsys, *argv) == (0, shown, said)
    finally:
        with capture_logs():
            await server.close()
