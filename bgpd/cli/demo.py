"""``bgpd demo``: the whole thing on one machine, loopback only, no root, nothing else installed.

It takes the shipped single-stack example, moves its floating IPs, nodes and peers from
``10.0.x.y`` onto ``127.0.x.y`` (on Linux all of 127.0.0.0/8 is local, so they can be bound
without root), runs ``bgpd run`` on it as a real subprocess on a high port, and plays both
top-of-rack routers with bgpd's own speaker in passive mode. Each router accepts only the floating
IP on its own segment, as on the real network, so two of the four sessions establish and two stay
``NotEstablished`` — the product's own troubleshooting table (a line under the table says why).
The settings list each floating IP with its segment (``127.0.1.100/24``): on loopback every
127.x address is covered by ``lo``'s 127.0.0.0/8, which would put every node on every segment,
whereas each router should get only the nodes on its own /24, as on the real network. Then it
prints ``bgpctl``'s tables and what each router received, stops the daemon (routers see Cease
"bgpd stopping") and exits 0;
any failure is one clear message and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

import bgpd
from bgpd.cli.tables import render_table, table_for
from bgpd.control import client
from bgpd.control.protocol import Command
from bgpd.logs import configure_logging
from bgpd.manifests import ManifestError, parse_manifests
from bgpd.plan import SessionConfig
from bgpd.speaker import SessionStatus, Speaker
from bgpd.wire.constants import IPV4_UNICAST

EXAMPLE = "single-stack-ipv4.yaml"
_TEN = re.compile(r"\b10\.0\.(\d{1,3})\.(\d{1,3})\b")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the example cluster against two local routers on loopback and show the result",
        description="Run the shipped example on 127.0.0.0/8: bgpd plus two passive BGP routers, no root.",
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help=f"cluster file (default: the shipped {EXAMPLE})"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="BGP port on loopback (default: a free high port)"
    )
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the sessions")
    parser.set_defaults(handler=run)


class DemoError(Exception):
    """The demo failed; the message says what and where to look."""


def find_example(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    package = Path(bgpd.__file__).resolve().parent
    candidates = [
        package / "examples" / EXAMPLE,  # installed wheels that ship the examples as package data
        package.parent / "config" / "examples" / EXAMPLE,  # a source checkout (or editable install)
        Path.cwd() / "config" / "examples" / EXAMPLE,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DemoError(f"cannot find the example {EXAMPLE}; run from the bgpd checkout or pass --config")


def to_loopback(text: str) -> str:
    """``10.0.x.y`` → ``127.0.x.y``: every floating IP, node and peer address moves onto loopback."""
    return _TEN.sub(r"127.0.\1.\2", text)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Router:
    """One top-of-rack router: its address, and the one floating IP on its segment it accepts."""

    name: str
    address: str
    asn: int
    peer_asn: int
    floating_ip: str

    @property
    def session(self) -> str:
        return f"{self.name}<-{self.floating_ip}"


def routers_for(text: str, source: str = "demo") -> list[Router]:
    """A router per BGPPeer, accepting the floating IP that shares its /24 (its segment)."""
    try:
        manifests = parse_manifests(text, source).manifests
    except ManifestError as err:
        lines = [d.format(err.source) for d in err.errors]
        raise DemoError("the cluster file is not valid:\n  " + "\n  ".join(lines)) from None
    routers = []
    for index, peer in enumerate(sorted(manifests.peers, key=lambda p: ipaddress.ip_address(p.peer_ip))):
        segment = ipaddress.ip_network(f"{peer.peer_ip}/24", strict=False)
        same = [ip for ip in manifests.floating_ips if ipaddress.ip_address(ip) in segment]
        if not same:
            raise DemoError(f"no floating IP shares a /24 with peer {peer.peer_ip}")
        routers.append(Router(f"tor{index + 1}", peer.peer_ip, peer.peer_asn, peer.local_asn, same[0]))
    return routers


def router_config(router: Router, port: int) -> SessionConfig:
    return SessionConfig(
        name=router.session,
        local_ip=ipaddress.ip_address(router.address),
        peer_ip=ipaddress.ip_address(router.floating_ip),
        local_asn=router.asn,
        peer_asn=router.peer_asn,
        router_id=ipaddress.IPv4Address(router.address),
        families=(IPV4_UNICAST,),
        hold_time=9,
        connect_retry_time=1.0,  # back within a second after bgpd resets or restarts a session
        passive=True,  # a receiving router: it waits for bgpd to connect
        port=port,
    )


def _settings(port: int, floating: list[str]) -> str:
    """Settings for ``bgpd run``: each floating IP with its /24 as its segment (see the module doc)."""
    addresses = ", ".join(f"{ip}/24" for ip in floating)
    return (
        "defaults:\n"
        f"  port: {port}\n"
        "  connectRetryTime: 1\n"
        "  holdTime: 9\n"
        f"localAddresses: [{addresses}]\n"
        "log:\n  format: json\n"
    )


def _request(sock: Path, cmd: Command) -> Any:
    reply = client.request(sock, cmd, timeout=5.0)
    if not reply.ok:
        raise DemoError(f"bgpctl {cmd}: {reply.error_message}")
    return reply.data


async def _wait_socket(sock: Path, daemon: subprocess.Popen[bytes], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while True:  # ends by the timeout; a subprocess cannot be awaited for "listening"
            if daemon.poll() is not None:
                raise DemoError(f"bgpd run exited with {daemon.returncode} before it was ready")
            if sock.exists():
                with contextlib.suppress(client.ControlClientError):
                    _request(sock, Command.SESSIONS)
                    return
            await asyncio.sleep(0.05)


def explain_not_established(sessions: list[dict[str, Any]], routers: list[Router]) -> str | None:
    """One line saying why the demo's NotEstablished sessions are down: each runs from a floating
    IP off its peer's segment, which that router never accepts — the product's own table shows the
    same two (docs/seed: "a floating IP that cannot reach a peer's layer-2 segment stays
    NotEstablished")."""
    accepts = {router.address: router.floating_ip for router in routers}
    off = [
        s
        for s in sessions
        if s.get("state") == "NotEstablished"
        and accepts.get(s.get("peerIP", "")) not in (None, s.get("localIP"))
    ]
    if not off:
        return None
    names = " and ".join(s["name"] for s in off)
    their = "its" if len(off) == 1 else "their"
    return (
        f"{names}: NotEstablished by design, {their} floating IP is off the peer's segment "
        "(as in the product's own table)."
    )


def _received_table(tors: Speaker, routers: list[Router]) -> str:
    rows = []
    for router in routers:
        for route in tors.received_routes(router.session):
            rows.append(
                [router.name, router.address, route.prefix, route.next_hop, " ".join(map(str, route.as_path))]
            )
    return render_table(["ROUTER", "ROUTER IP", "PREFIX", "NEXT HOP", "AS PATH"], rows)


async def _demo(args: argparse.Namespace, workdir: Path, out: list[str]) -> None:
    example = find_example(args.config)
    try:
        text = to_loopback(example.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise DemoError(f"cannot read {example}: {err}") from None
    routers = routers_for(text, f"{example} (moved onto 127.0.0.0/8)")
    port = args.port or free_port()
    floating = parse_manifests(text, "demo").manifests.floating_ips  # valid: routers_for checked it
    (workdir / "cluster.yaml").write_text(text, encoding="utf-8")
    (workdir / "bgpd.yaml").write_text(_settings(port, list(floating)), encoding="utf-8")
    sock = workdir / "bgpd.sock"
    log_path = workdir / "bgpd.log"
    # The routers' own log lines would drown the tables; they go to a file shown on failure.
    tors_log = (workdir / "routers.log").open("w", encoding="utf-8")
    configure_logging("info", "json", tors_log)
    tors = Speaker()
    for router in routers:
        await tors.add_session(router_config(router, port))
    command = [sys.executable, "-m", "bgpd", "run", "--config", str(workdir / "cluster.yaml")]
    command += ["--settings", str(workdir / "bgpd.yaml"), "--state-dir", str(workdir / "state")]
    command += ["--socket", str(sock)]
    out.append(
        f"$ bgpd run --config {workdir / 'cluster.yaml'}   (port {port}, floating IPs {', '.join(floating)})"
    )
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        await _wait_socket(sock, daemon, args.timeout)
        for router in routers:

            def ready(status: SessionStatus) -> bool:
                return status.established and status.prefixes_received > 0

            try:
                await tors.wait_for(router.session, ready, args.timeout)
            except TimeoutError:
                state = tors.state(router.session)
                raise DemoError(
                    f"{router.name} ({router.address}) has no routes from {router.floating_ip} after "
                    f"{args.timeout:g} s (its session is {state.fsm_state}; last error: {state.last_error})"
                ) from None
        await _settle(sock, tors, routers, args.timeout)
        now = datetime.now(UTC)
        out.append("\n$ bgpctl get bgpsessions")
        sessions = _request(sock, Command.SESSIONS)
        out.append(table_for("bgpsessions", sessions, now).rstrip())
        explanation = explain_not_established(sessions, routers)
        if explanation is not None:
            out.append(explanation)
        out.append("\n$ bgpctl get bgpadvertisedroutes -o wide")
        out.append(
            table_for(
                "bgpadvertisedroutes", _request(sock, Command.ADVERTISED_ROUTES), now, wide=True
            ).rstrip()
        )
        out.append("\nWhat the routers received:")
        out.append(_received_table(tors, routers).rstrip())
        daemon.send_signal(signal.SIGTERM)
        code = await asyncio.get_running_loop().run_in_executor(None, daemon.wait, 5.0)
        if code != 0:
            raise DemoError(f"bgpd run exited with {code} on SIGTERM")
        for router in routers:
            await tors.wait_for(router.session, lambda s: s.last_received is not None, args.timeout)
            note = tors.state(router.session).last_received
            assert note is not None
            out.append(f"\n{router.name} got NOTIFICATION {note.text} when bgpd stopped (exit code {code})")
    except (DemoError, TimeoutError, OSError, client.ControlClientError) as err:
        log_tail = log_path.read_text(errors="replace").splitlines()[-15:] if log_path.exists() else []
        tors_log.flush()
        log_tail += (workdir / "routers.log").read_text(errors="replace").splitlines()[-10:]
        message = str(err) or "timed out"
        raise DemoError(
            message
            + (
                "\nlast log lines (bgpd's, then the routers'):\n  " + "\n  ".join(log_tail)
                if log_tail
                else ""
            )
        ) from None
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        await tors.close()
        tors_log.close()


async def _settle(sock: Path, tors: Speaker, routers: list[Router], timeout: float) -> None:
    """Wait until each router holds exactly what the daemon says the session it accepts announces
    (the one from the floating IP on its segment; the other floating IP's session to it stays down)."""
    sessions = _request(sock, Command.SESSIONS)
    advertised = _request(sock, Command.ADVERTISED_ROUTES)
    for router in routers:
        accepted = {
            s["name"]
            for s in sessions
            if s["localIP"] == router.floating_ip and s["peerIP"] == router.address
        }
        expected = {(r["prefix"], r["nextHop"]) for r in advertised if accepted & set(r["sessions"])}

        def complete(
            status: SessionStatus, router: Router = router, expected: set[tuple[str, str]] = expected
        ) -> bool:
            got = {(r.prefix, r.next_hop) for r in tors.received_routes(router.session)}
            return status.established and got == expected

        try:
            await tors.wait_for(router.session, complete, timeout)
        except TimeoutError:
            got = sorted((r.prefix, r.next_hop) for r in tors.received_routes(router.session))
            raise DemoError(f"{router.name} received {got}, expected {sorted(expected)}") from None


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="bgpd-demo-", dir="/tmp"))  # short: unix socket paths
    out: list[str] = []
    try:
        uvloop.run(_demo(args, workdir, out))
    except DemoError as err:
        if out:
            print("\n".join(out), flush=True)
        print(f"bgpd demo failed: {err}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(out))
    print("\nbgpd demo: OK")
    return 0
