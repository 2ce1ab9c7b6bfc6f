"""A loopback cluster: ``bgpd run`` as a real subprocess, driven only through its files, signals and
the control socket, with two passive bgpd speakers playing the top-of-rack routers.

The shipped single-stack example is moved onto 127.0.0.0/8 (``bgpd demo``'s mapping); each router
accepts only the floating IP of its own segment, so two sessions establish and two cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bgpd.cli.demo import Router, free_port, router_config, routers_for, to_loopback
from bgpd.control import client
from bgpd.control.protocol import Command
from bgpd.speaker import SessionStatus, Speaker

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "single-stack-ipv4.yaml"
WAIT = 10.0  # upper bound for anything that should take milliseconds
# A process start (interpreter, imports, first plan) before the sessions can come up: seconds on a
# loaded 2-core machine, so its own bound; a start that misses it fails with bgpd's log attached.
START_WAIT = 30.0


class Cluster:
    def __init__(
        self, workdir: Path, env: dict[str, str] | None = None, extra_settings: str = "", defaults: str = ""
    ) -> None:
        self.workdir = workdir
        self.env = env
        self.extra_settings = extra_settings  # more top-level settings (YAML lines)
        self.defaults = defaults  # more settings for every peer (YAML lines under ``defaults:``)
        self.config = workdir / "cluster.yaml"
        self.settings = workdir / "bgpd.yaml"
        self.socket = workdir / "bgpd.sock"
        self.log = workdir / "bgpd.log"
        self.state_dir = workdir / "state"
        self.text = to_loopback(EXAMPLE.read_text(encoding="utf-8"))
        self.routers = routers_for(self.text)
        self.port = free_port()
        self.tors = Speaker()
        self.daemon: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Cluster:
        self.write(self.text)
        floating = "127.0.1.100, 127.0.3.100"
        self.settings.write_text(
            f"defaults:\n  port: {self.port}\n  connectRetryTime: 1\n  holdTime: 9\n{self.defaults}"
            f"localAddresses: [{floating}]\nlog:\n  format: json\n{self.extra_settings}",
            encoding="utf-8",
        )
        for router in self.routers:
            await self.tors.add_session(router_config(router, self.port))
        self.start_daemon()
        await self.wait_started(lambda s: s.established and s.prefixes_received == 4)
        return self

    async def wait_started(self, predicate: Callable[[SessionStatus], bool]) -> None:
        """Wait until every router's session satisfies ``predicate`` after a start of bgpd; on a
        timeout, fail with what the routers saw and the end of bgpd's log."""
        try:
            for router in self.routers:
                await self.tors.wait_for(router.session, predicate, START_WAIT)
        except TimeoutError:
            seen = {r.name: self.tors.state(r.session).to_control() for r in self.routers}
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
            raise AssertionError(
                f"bgpd's sessions not up within {START_WAIT} s of its start\n"
                f"routers: {seen}\nbgpd log:\n{tail}"
            ) from None

    def start_daemon(self) -> None:
        """Start ``bgpd run`` (again, after it stopped: the same files and state directory)."""
        assert self.daemon is None or self.daemon.poll() is not None, "bgpd runs already"
        command = [sys.executable, "-m", "bgpd", "run", "--config", str(self.config)]
        command += ["--settings", str(self.settings), "--state-dir", str(self.state_dir)]
        command += ["--socket", str(self.socket)]
        with self.log.open("ab") as log:
            env = {**os.environ, **self.env} if self.env is not None else None
            self.daemon = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)

    async def __aexit__(self, *exc: object) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait()
        await self.tors.close()

    # ------------------------------------------------------------------ operator actions
    def write(self, text: str) -> None:
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.config)  # atomically, as editors and config management do

    def signal(self, sig: signal.Signals) -> None:
        assert self.daemon is not None
        self.daemon.send_signal(sig)

    def bgpctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``bgpctl`` as the operator runs it, against this cluster's socket."""
        return subprocess.run(
            [sys.executable, "-m", "bgpd.cli.bgpctl", "--socket", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )

    def ctl(self, cmd: Command, args: dict[str, Any] | None = None) -> Any:
        reply = client.request(self.socket, cmd, args, timeout=5.0)
        assert reply.ok, reply.error_message
        return reply.data

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events

    async def wait_log(self, event: str, timeout: float = WAIT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # a subprocess's log: nothing to await but the file
            for entry in self.log_events():
                if entry.get("event") == event:
                    return entry
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {event!r} in bgpd's log within {timeout} s")

    # ------------------------------------------------------------------ the routers
    def router(self, name: str) -> Router:
        return next(r for r in self.routers if r.name == name)

    def received(self, name: str) -> dict[str, str]:
        """prefix → next hop, as router ``name`` holds them."""
        return {r.prefix: r.next_hop for r in self.tors.received_routes(self.router(name).session)}

    def counters(self, name: str) -> dict[str, Any]:
        return dict(self.tors.state(self.router(name).session).counters)

    async def wait_router(
        self, router: Router, predicate: Callable[[SessionStatus], bool], timeout: float = WAIT
    ) -> SessionStatus:
        """``timeout``: START_WAIT where the wait includes a start of bgpd."""
        return await self.tors.wait_for(router.session, predicate, timeout)
