"""A small network lab for interop tests: namespaces, L2 segments, addresses and the processes in them.

Why this shape: interop tests must never touch the host's own network, must never leave anything
behind (even when a test fails half-way), and must only ever end processes they started. So every
namespace carries a random lab id in its name (``bgpd-<id>-<n>``), has no default route and no link
to the root namespace, and every process is started by ``NetLab.spawn`` in its own session (process
group) and tracked by PID. ``NetLab.close`` kills those groups, then anything still running inside
our namespaces (which only we could have started), then deletes the namespaces.

A segment is a bridge living in a namespace of its own; nodes join it through veth pairs created
directly inside the node namespace, so no interface ever exists in the root namespace.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

NS_PREFIX = "bgpd-"
COMMAND_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0  # a gobgpd holding many routes needs seconds to exit on SIGTERM (interop notes)
UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL

T = TypeVar("T")


class NetLabError(RuntimeError):
    """A lab command failed; the message carries the command and what it printed."""


def run(argv: Sequence[str], *, timeout: float = COMMAND_TIMEOUT, check: bool = True) -> str:
    """Run a command to completion (bounded) and return its stdout."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise NetLabError(f"timed out after {timeout}s: {' '.join(argv)}") from exc
    if check and done.returncode != 0:
        raise NetLabError(
            f"exit {done.returncode}: {' '.join(argv)}\nstdout: {done.stdout.strip()}\n"
            f"stderr: {done.stderr.strip()}"
        )
    return done.stdout


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something other than None/False, at most ``timeout`` seconds.

    Used only where the peer offers no event to wait on (GoBGP and BIRD expose state by polling)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _exited(pid: int, timeout: float) -> bool:
    """Whether child ``pid`` exited within ``timeout``, leaving it unreaped (a zombie keeps its id)."""
    deadline = time.monotonic() + timeout
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def lab_namespaces() -> list[str]:
    """Names of all namespaces on the host that carry our prefix (for leak checks)."""
    out = run(["ip", "netns", "list"])
    return [line.split()[0] for line in out.splitlines() if line.startswith(NS_PREFIX)]


@dataclass
class Process:
    """A process started inside a namespace; ``popen.pid`` is also its process-group id."""

    name: str
    namespace: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class Namespace:
    name: str
    lab: NetLab
    interfaces: list[str] = field(default_factory=list)

    def ip(self, *args: str) -> str:
        return run(["ip", "-n", self.name, *args])

    def exec(self, argv: Sequence[str], *, timeout: float = COMMAND_TIMEOUT, check: bool = True) -> str:
        """Run a command inside this namespace to completion."""
        return run(["ip", "netns", "exec", self.name, *argv], timeout=timeout, check=check)

    def spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Process:
        return self.lab.spawn(self, name, argv, env)

    def add_address(self, iface: str, cidr: str) -> None:
        """Add an address; IPv6 ones with ``nodad`` so they are usable at once (interop notes)."""
        extra = ["nodad"] if ipaddress.ip_interface(cidr).version == 6 else []
        self.ip("address", "add", cidr, "dev", iface, *extra)

    def link_local(self, iface: str) -> str:
        """The interface's IPv6 link-local address (fe80::/64)."""
        out = self.ip("-6", "-o", "address", "show", "dev", iface, "scope", "link")
        for line in out.split("\n"):
            words = line.split()
            if "inet6" in words:
                return words[words.index("inet6") + 1].split("/")[0]
        raise NetLabError(f"{self.name}: no link-local address on {iface}")


@dataclass
class Segment:
    """An L2 segment: a bridge ``br0`` inside its own namespace."""

    namespace: Namespace
    ports: int = 0


class NetLab:
    """Owns every namespace and process of one test; ``close`` undoes all of it."""

    def __init__(self) -> None:
        self.lab_id = secrets.token_hex(3)
        # Short run dir under /tmp: unix socket paths must stay below 108 bytes.
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"bgpd-{self.lab_id}-", dir="/tmp"))
        self.namespaces: list[Namespace] = []
        self.processes: list[Process] = []
        self._count = 0
        self._closed = False

    # -- namespaces and links ------------------------------------------------------------------------

    def namespace(self) -> Namespace:
        """A fresh namespace with loopback up, no routes and DAD off (addresses usable at once)."""
        self._count += 1
        name = f"{NS_PREFIX}{self.lab_id}-{self._count}"
        run(["ip", "netns", "add", name])
        ns = Namespace(name, self)
        self.namespaces.append(ns)
        ns.ip("link", "set", "lo", "up")
        # Interfaces created later inherit "default": link-local addresses are usable immediately.
        for key in ("net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"):
            ns.exec(["sysctl", "-q", "-w", key])
        return ns

    def segment(self) -> Segment:
        ns = self.namespace()
        ns.ip("link", "add", "br0", "type", "bridge")
        ns.ip("link", "set", "br0", "up")
        return Segment(ns)

    def attach(self, node: Namespace, segment: Segment, addresses: Sequence[str] = ()) -> str:
        """Join ``node`` to ``segment`` with a new veth; returns the node-side interface name."""
        iface = f"eth{len(node.interfaces)}"
        segment.ports += 1
        port = f"p{segment.ports}"
        node.ip("link", "add", iface, "type", "veth", "peer", "name", port, "netns", segment.namespace.name)
        segment.namespace.ip("link", "set", port, "master", "br0")
        segment.namespace.ip("link", "set", port, "up")
        node.ip("link", "set", iface, "up")
        node.interfaces.append(iface)
        for cidr in addresses:
            node.add_address(iface, cidr)
        return iface

    def path(self, name: str) -> Path:
        """A path in the run dir, checked to fit a unix socket address."""
        path = self.run_dir / name
        if len(os.fsencode(path)) > UNIX_PATH_MAX:
            raise NetLabError(f"path too long for a unix socket: {path}")
        return path

    # -- processes ----------------------------------------------------------------------------------

    def spawn(
        self, ns: Namespace, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> Process:
        """Start ``argv`` inside ``ns`` in a new session; output goes to ``<run_dir>/<name>.log``;
        ``env`` is added to this process's environment.

        ``ip netns exec`` execs the command, so the PID we get is the daemon's own."""
        log_path = self.run_dir / f"{name}.log"
        log: IO[bytes] = log_path.open("wb")
        try:
            popen = subprocess.Popen(
                ["ip", "netns", "exec", ns.name, *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **env} if env is not None else None,
            )
        finally:
            log.close()
        proc = Process(name, ns.name, popen, log_path)
        self.processes.append(proc)
        return proc

    def stop(
        self, proc: Process, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_TIMEOUT
    ) -> None:
        """Signal the process group we created, wait (bounded), SIGKILL if it lingers.

        The leader is waited for without being reaped, so while members of its group are killed
        the group id cannot have been reused by anyone else; only then is it reaped."""
        if proc.popen.returncode is not None:
            return  # already reaped; anything it left in our namespaces goes in close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        if not _exited(proc.pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            _exited(proc.pid, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # children that outlived the leader (none expected)
        proc.popen.wait(timeout=timeout)

    def kill(self, proc: Process) -> None:
        """``kill -9``: the peer dies without a word (for hold-timer tests)."""
        self.stop(proc, signal.SIGKILL)

    # -- teardown -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Undo everything, best effort at every step so one failure does not leak the rest."""
        if self._closed:
            return
        self._closed = True
        errors: list[str] = []
        for proc in reversed(self.processes):
            try:
                self.stop(proc)
            except (OSError, subprocess.SubprocessError) as exc:
                errors.append(f"stop {proc.name}: {exc}")
        for ns in reversed(self.namespaces):
            # Anything still inside a namespace we created was started by us (or our children);
            # never this test process itself, whose threads may have joined the namespace (setns).
            try:
                pids = run(["ip", "netns", "pids", ns.name], check=False).split()
            except NetLabError as exc:
                errors.append(str(exc))
                pids = []
            for pid in pids:
                if pid.isdigit() and int(pid) != os.getpid():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            try:
                run(["ip", "netns", "delete", ns.name])
            except NetLabError as exc:
                errors.append(str(exc))
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if errors:
            raise NetLabError("teardown incomplete:\n" + "\n".join(errors))

    def __enter__(self) -> NetLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def missing_prerequisites(binaries: Sequence[str]) -> list[str]:
    """Why interop tests cannot run here (empty when they can)."""
    reasons = [f"binary not found: {name}" for name in binaries if shutil.which(name) is None]
    if os.geteuid() != 0:
        reasons.insert(0, "not running as root (network namespaces need it)")
    return reasons


# -- peers --------------------------------------------------------------------------------------------

GOBGP_STATES = {
    0: "unknown",
    1: "idle",
    2: "connect",
    3: "active",
    4: "opensent",
    5: "openconfirm",
    6: "established",
}
GOBGP_FAMILIES = {"ipv4": "ipv4-unicast", "ipv6": "ipv6-unicast"}


@dataclass(frozen=True)
class GracefulRestart:
    """A test router's graceful-restart settings (RFC 4724), the same words for GoBGP and BIRD.

    ``notification`` is the RFC 8538 N-bit: GoBGP 3.10 has it (``notification-enabled``); BIRD
    2.0.12 has none (docs/ha-lab.md), so it is ignored there. ``helper_only`` makes GoBGP announce the
    capability without families: it keeps a restarting neighbor's routes but claims no forwarding
    state of its own (the receiving role only)."""

    restart_time: int = 120
    notification: bool = False
    helper_only: bool = False


@dataclass(frozen=True)
class GoBgpNeighbor:
    address: str
    peer_as: int
    passive: bool = False
    local_address: str | None = None
    families: tuple[str, ...] = ("ipv4", "ipv6")
    hold_time: int | None = None
    remote_port: int | None = None
    graceful_restart: GracefulRestart | None = None
    auth_password: str | None = None  # TCP-MD5 (RFC 2385)
    ttl_min: int | None = None  # GTSM (RFC 5082): ttl-security with this minimum TTL


class GoBgpPeer:
    """gobgpd inside a namespace, driven through its own unix-socket API with the ``gobgp`` CLI.

    Neighbors live in the TOML config; adding one to a running daemon rewrites the file and sends
    SIGHUP, which is how GoBGP documents dynamic peer changes."""

    def __init__(
        self, ns: Namespace, *, asn: int, router_id: str, port: int = 179, name: str = "gobgp"
    ) -> None:
        self.ns = ns
        self.asn = asn
        self.router_id = router_id
        self.port = port
        self.name = name
        self.conf = ns.lab.path(f"{name}.toml")
        self.socket = ns.lab.path(f"{name}.sock")
        self.neighbors: dict[str, GoBgpNeighbor] = {}
        self.process: Process | None = None

    def config_text(self) -> str:
        lines = [
            "[global.config]",
            f"  as = {self.asn}",
            f'  router-id = "{self.router_id}"',
            f"  port = {self.port}",
        ]
        for nb in self.neighbors.values():
            lines += ["", "[[neighbors]]", "  [neighbors.config]"]
            lines += [f'    neighbor-address = "{nb.address}"', f"    peer-as = {nb.peer_as}"]
            if nb.auth_password is not None:
                lines.append(f'    auth-password = "{nb.auth_password}"')
            transport = []
            if nb.passive:
                transport.append("    passive-mode = true")
            if nb.local_address is not None:
                transport.append(f'    local-address = "{nb.local_address}"')
            if nb.remote_port is not None:
                transport.append(f"    remote-port = {nb.remote_port}")
            if transport:
                lines += ["  [neighbors.transport.config]", *transport]
            if nb.hold_time is not None:
                lines += ["  [neighbors.timers.config]", f"    hold-time = {nb.hold_time}"]
                lines += [f"    keepalive-interval = {max(1, nb.hold_time // 3)}"]
            if nb.ttl_min is not None:
                lines += ["  [neighbors.ttl-security.config]", "    enabled = true"]
                lines += [f"    ttl-min = {nb.ttl_min}"]
            gr = nb.graceful_restart
            if gr is not None:
                lines += [
                    "  [neighbors.graceful-restart.config]",
                    "    enabled = true",
                    f"    restart-time = {gr.restart_time}",
                    f"    notification-enabled = {str(gr.notification).lower()}",
                    f"    helper-only = {str(gr.helper_only).lower()}",
                ]
            for family in nb.families:
                lines += ["  [[neighbors.afi-safis]]", "    [neighbors.afi-safis.config]"]
                lines += [f'      afi-safi-name = "{GOBGP_FAMILIES[family]}"']
                if gr is not None and not gr.helper_only:
                    lines += ["    [neighbors.afi-safis.mp-graceful-restart.config]", "      enabled = true"]
        return "\n".join(lines) + "\n"

    def add_neighbor(
        self,
        address: str,
        peer_as: int,
        *,
        passive: bool = False,
        local_address: str | None = None,
        families: Sequence[str] = ("ipv4", "ipv6"),
        hold_time: int | None = None,
        remote_port: int | None = None,
        graceful_restart: GracefulRestart | None = None,
        auth_password: str | None = None,
        ttl_min: int | None = None,
    ) -> None:
        """Configure a neighbor. ``graceful_restart`` (RFC 4724) also makes GoBGP send End-of-RIB."""
        self.neighbors[address] = GoBgpNeighbor(
            address,
            peer_as,
            passive,
            local_address,
            tuple(families),
            hold_time,
            remote_port,
            graceful_restart,
            auth_password,
            ttl_min,
        )
        self.conf.write_text(self.config_text())
        if self.process is not None and self.process.alive():
            os.kill(self.process.pid, signal.SIGHUP)
            wait_for(lambda: self._known(address), 10.0, f"gobgpd to load neighbor {address}")

    def _known(self, address: str) -> bool:
        return any(nb.get("conf", {}).get("neighbor_address") == address for nb in self._json("neighbor"))

    def start(self, timeout: float = 10.0, *, restarting: bool = False) -> None:
        """``restarting``: ``gobgpd -r``, a graceful restart (RFC 4724 §4.1): the Restart State
        bit, and the Forwarding State bit for its graceful restart families."""
        if self.process is not None and self.process.alive():
            raise NetLabError(f"{self.name} is running already (pid {self.process.pid})")
        self._remove_stale_socket()
        self.conf.write_text(self.config_text())
        argv = ["gobgpd", "-f", str(self.conf), "-t", "toml", "-p", "--pprof-disable"]
        argv += ["-r"] if restarting else []
        self.process = self.ns.spawn(self.name, [*argv, "--api-hosts", f"unix://{self.socket}"])
        wait_for(self._api_ready, timeout, f"{self.name} API on {self.socket}")

    def _remove_stale_socket(self) -> None:
        """gobgpd binds its API socket without removing an old file, so the one a killed gobgpd
        left behind makes the next start fail with "address already in use". Only a socket nobody
        accepts connections on is removed; a live one or a file of another kind is an error."""
        try:
            mode = self.socket.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise NetLabError(f"{self.socket} exists and is not a socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(COMMAND_TIMEOUT)
            try:
                probe.connect(str(self.socket))
            except ConnectionRefusedError:
                self.socket.unlink()
                return
        raise NetLabError(f"another process serves {self.socket}")

    def _api_ready(self) -> bool:
        if self.process is not None and not self.process.alive():
            raise NetLabError(f"{self.name} exited:\n{self.process.log()}")
        return self.socket.exists() and self.cli("global", check=False) is not None

    def stop(self) -> None:
        if self.process is not None:
            self.ns.lab.stop(self.process)

    def kill(self) -> None:
        if self.process is not None:
            self.ns.lab.kill(self.process)

    def log_text(self) -> str:
        """gobgpd's log; received NOTIFICATIONs appear with their ``Communicated-Reason``."""
        return self.process.log() if self.process is not None else ""

    def cli(self, *args: str, json_out: bool = False, check: bool = True) -> str | None:
        """Run ``gobgp`` against this instance; None when ``check`` is off and the command failed."""
        argv = ["gobgp", "--target", f"unix://{self.socket}", *(["-j"] if json_out else []), *args]
        try:
            return run(argv)
        except NetLabError:
            if check:
                raise
            return None

    def _json(self, *args: str) -> Any:
        out = self.cli(*args, json_out=True)
        return json.loads(out) if out and out.strip() else None

    def neighbor(self, address: str) -> dict[str, Any]:
        found: dict[str, Any] = self._json("neighbor", address)
        return found

    def neighbor_state(self, address: str) -> str:
        """``idle``, ``active``, …, ``established`` (GoBGP prints the enum as a number or a name)."""
        state = self.neighbor(address).get("state", {}).get("session_state", 0)
        if isinstance(state, int):
            return GOBGP_STATES.get(state, "unknown")
        return str(state).lower().removeprefix("session_state_")

    def wait_established(self, address: str, timeout: float = 30.0) -> None:
        wait_for(lambda: self.neighbor_state(address) == "established", timeout, f"{self.name} ↔ {address}")

    def wait_state(self, address: str, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        """Wait until the neighbor's state satisfies ``predicate``; returns that state."""

        def probe() -> str | None:
            state = self.neighbor_state(address)
            return state if predicate(state) else None

        return wait_for(probe, timeout, what)

    def adj_in(self, address: str, family: str = "ipv4") -> dict[str, list[dict[str, Any]]]:
        """Routes received from ``address``: prefix → paths (GoBGP's JSON)."""
        return self._json("neighbor", address, "adj-in", "-a", family) or {}

    def global_rib(self, family: str = "ipv4") -> dict[str, list[dict[str, Any]]]:
        return self._json("global", "rib", "-a", family) or {}

    def announce(
        self,
        prefix: str,
        next_hop: str,
        *,
        origin: str | None = None,
        med: int | None = None,
        communities: Sequence[str] = (),
        large_communities: Sequence[str] = (),
    ) -> None:
        args = ["global", "rib", "add", "-a", _family(prefix), prefix, "nexthop", next_hop]
        if origin is not None:
            args += ["origin", origin]
        if med is not None:
            args += ["med", str(med)]
        if communities:
            args += ["community", ",".join(communities)]
        if large_communities:
            args += ["large-community", ",".join(large_communities)]
        self.cli(*args)

    def withdraw(self, prefix: str) -> None:
        self.cli("global", "rib", "del", "-a", _family(prefix), prefix)

    def disable(self, address: str, message: str | None = None) -> None:
        """Administrative shutdown: Cease 6/2, with an RFC 9003 communication when ``message``.

        GoBGP 3.10's ``disable`` ignores ``--reason``; its (deprecated) ``shutdown`` sends it."""
        if message:
            self.cli("neighbor", address, "shutdown", "--reason", message)
        else:
            self.cli("neighbor", address, "disable")

    def enable(self, address: str) -> None:
        self.cli("neighbor", address, "enable")


def gobgp_next_hop(path: dict[str, Any]) -> str | None:
    """The next hop of one path of GoBGP's JSON: NEXT_HOP (type 3) or MP_REACH_NLRI's (type 14)."""
    for attr in path.get("attrs", ()):
        if attr.get("type") in (3, 14):
            return str(attr["nexthop"])
    return None


def _static_target(via: str | None) -> str:
    return "blackhole" if via is None else f"via {via}"


def _family(prefix: str) -> str:
    return "ipv6" if ipaddress.ip_network(prefix, strict=False).version == 6 else "ipv4"


@dataclass(frozen=True)
class BirdRoute:
    """One route line of ``show route all``: the peer's view of a prefix."""

    prefix: str
    protocol: str
    next_hop: str  # BGP.next_hop's first address (the global one), else the "via" address
    next_hops: tuple[str, ...]
    attributes: dict[str, str]
    best: bool
    since: str = ""  # when BIRD took the route (``timeformat route``; Unix seconds with precise_times)


@dataclass(frozen=True)
class BirdProtocol:
    """BIRD 2 ``protocol bgp``: one neighbor with ipv4/ipv6 channels importing everything."""

    name: str
    neighbor: str
    peer_as: int
    local_address: str
    passive: bool = False
    families: tuple[str, ...] = ("ipv4", "ipv6")
    hold_time: int | None = None
    port: int | None = None
    graceful_restart: GracefulRestart | None = None
    options: tuple[str, ...] = ()  # further protocol lines, e.g. ``connect delay time 0``


class BirdPeer:
    """bird (BIRD 2) inside a namespace with its own control socket, in the foreground (``-f``) so
    its PID is the one we track. Static routes given here are what it exports over BGP."""

    def __init__(
        self, ns: Namespace, *, asn: int, router_id: str, name: str = "bird", precise_times: bool = False
    ) -> None:
        self.ns = ns
        self.asn = asn
        self.router_id = router_id
        self.name = name
        # Route and protocol times as Unix seconds with milliseconds ("1765123456.789") instead of
        # "hh:mm:ss.sss": comparable with the test's clock, and one word in the table columns.
        self.precise_times = precise_times
        self.conf = ns.lab.path(f"{name}.conf")
        self.socket = ns.lab.path(f"{name}.ctl")
        self.pidfile = ns.lab.path(f"{name}.pid")
        self.protocols: dict[str, BirdProtocol] = {}
        self.static_routes: list[str] = []
        self.static_via: dict[str, str] = {}  # prefix -> gateway, for routes not blackholed
        self.globals: list[str] = []  # extra top-level configuration lines (e.g. ``timeformat``)
        self.process: Process | None = None

    def add_neighbor(
        self,
        name: str,
        neighbor: str,
        peer_as: int,
        *,
        local_address: str,
        passive: bool = False,
        families: Sequence[str] = ("ipv4", "ipv6"),
        hold_time: int | None = None,
        port: int | None = None,
        graceful_restart: GracefulRestart | None = None,
        options: Sequence[str] = (),
    ) -> None:
        """``graceful_restart``: the helper role with long-lived GR off (BIRD's default is "aware",
        which would also keep routes stale on a hold-timer expiry when the neighbor offers LLGR)."""
        self.protocols[name] = BirdProtocol(
            name,
            neighbor,
            peer_as,
            local_address,
            passive,
            tuple(families),
            hold_time,
            port,
            graceful_restart,
            tuple(options),
        )

    def add_static(self, prefix: str, via: str | None = None) -> None:
        """A route BIRD exports to its BGP neighbors: blackhole locally and next hop self on export,
        or, ``via`` a gateway on a shared subnet, exported with that gateway as a third-party next
        hop (RFC 4271 §5.1.3), as bgpd announces node routes."""
        self.static_routes.append(prefix)
        if via is not None:
            self.static_via[prefix] = via

    def config_text(self) -> str:
        lines = [f"router id {self.router_id};", "log stderr all;", *self.globals, "protocol device {", "}"]
        if self.precise_times:
            lines += [f'timeformat {what} "%s.%3f";' for what in ("route", "protocol", "base")]
        for version in ("4", "6"):
            routes = [p for p in self.static_routes if _family(p) == f"ipv{version}"]
            lines += [f"protocol static static{version} {{", f"  ipv{version};"]
            lines += [
                f"  route {p} via {self.static_via[p]};"
                if p in self.static_via
                else f"  route {p} blackhole;"
                for p in routes
            ]
            lines += ["}"]
        for proto in self.protocols.values():
            lines += [f"protocol bgp {proto.name} {{", f"  local {proto.local_address} as {self.asn};"]
            port = f" port {proto.port}" if proto.port is not None else ""
            lines += [f"  neighbor {proto.neighbor}{port} as {proto.peer_as};"]
            if proto.passive:
                lines.append("  passive on;")
            if proto.hold_time is not None:
                lines += [
                    f"  hold time {proto.hold_time};",
                    f"  keepalive time {max(1, proto.hold_time // 3)};",
                ]
            if proto.graceful_restart is not None:
                lines += [
                    "  graceful restart on;",
                    f"  graceful restart time {proto.graceful_restart.restart_time};",
                    "  long lived graceful restart off;",
                    "  debug { states, events, packets };",
                ]
            lines += [f"  {option};" for option in proto.options]
            for family in proto.families:
                lines.append(f"  {family} {{ import all; export where source = RTS_STATIC; }};")
            lines.append("}")
        return "\n".join(lines) + "\n"

    def write_config(self) -> None:
        self.conf.write_text(self.config_text())

    def start(self, timeout: float = 10.0, *, restarting: bool = False) -> None:
        """``restarting``: ``bird -R``, graceful restart recovery (RFC 4724 §4.1): the Restart State
        bit, and the Forwarding State bit for the channels with graceful restart on."""
        self.write_config()
        argv = ["bird", "-f", "-s", str(self.socket), "-P", str(self.pidfile), "-c", str(self.conf)]
        argv += ["-R"] if restarting else []
        self.process = self.ns.spawn(self.name, argv)
        wait_for(self._ready, timeout, f"{self.name} control socket {self.socket}")

    def _ready(self) -> bool:
        if self.process is not None and not self.process.alive():
            raise NetLabError(f"{self.name} exited:\n{self.process.log()}")
        return self.socket.exists() and self.cli("show", "status", check=False) is not None

    def stop(self) -> None:
        if self.process is not None:
            self.ns.lab.stop(self.process)

    def kill(self) -> None:
        if self.process is not None:
            self.ns.lab.kill(self.process)

    def log_text(self) -> str:
        """BIRD's log (``log stderr all``). A received shutdown communication shows up only here
        (``Received: Administrative shutdown: "text"``); ``Last error`` omits the text."""
        return self.process.log() if self.process is not None else ""

    def cli(self, *args: str, check: bool = True) -> str | None:
        """Run ``birdc`` on this instance; the banner line is dropped."""
        try:
            out = run(["birdc", "-s", str(self.socket), *args])
        except NetLabError:
            if check:
                raise
            return None
        lines = out.splitlines()
        if lines and lines[0].startswith("BIRD ") and lines[0].endswith("ready."):
            lines = lines[1:]
        return "\n".join(lines)

    def configure(self) -> None:
        """Rewrite the config and ask BIRD to reload it (``configure``)."""
        self.write_config()
        out = self.cli("configure") or ""
        if "Reconfigured" not in out and "Reconfiguration in progress" not in out:
            raise NetLabError(f"{self.name}: configure failed: {out}")

    def protocol(self, name: str) -> dict[str, str]:
        """``show protocols all NAME`` as key → value (see ``parse_bird_protocol``)."""
        return parse_bird_protocol(name, self.cli("show", "protocols", "all", name) or "")

    def protocol_state(self, name: str) -> str:
        """The BGP state (``Established``, ``Active``, ``Idle``, …)."""
        return self.protocol(name).get("BGP state", "")

    def wait_established(self, name: str, timeout: float = 30.0) -> None:
        wait_for(lambda: self.protocol_state(name) == "Established", timeout, f"{self.name} {name} up")

    def routes(self, table: str = "master4") -> dict[str, list[BirdRoute]]:
        """``show route all table T``: prefix → routes (best first, as BIRD lists them)."""
        out = self.cli("show", "route", "all", "table", table) or ""
        return parse_bird_routes(out)

    def next_hops(self, table: str = "master4", protocol: str | None = None) -> dict[str, str]:
        """prefix → next hop of the best route (only routes from ``protocol`` when given)."""
        found: dict[str, str] = {}
        for prefix, routes in self.routes(table).items():
            for route in routes:
                if protocol is None or route.protocol == protocol:
                    found[prefix] = route.next_hop
                    break
        return found

    def disable(self, name: str, message: str | None = None) -> None:
        """Administrative shutdown; BIRD sends Cease 6/2 with the RFC 9003 text when given."""
        self.cli("disable", name, *([f'"{message}"'] if message else []))

    def enable(self, name: str) -> None:
        self.cli("enable", name)

    def reload_in(self, name: str) -> None:
        """Ask the peer for its routes again (ROUTE-REFRESH)."""
        self.cli("reload", "in", name)

    def control(self) -> BirdControl:
        """A persistent control connection (close it when done)."""
        return BirdControl(self.socket)


class BirdControl:
    """One persistent connection to BIRD's control socket, for callers that ask many times a second.

    ``birdc`` costs a process start per question (≈3 ms here); over one open socket a
    ``show route all`` of a small table answers in ≈0.3 ms. The protocol is birdc's: a reply is
    lines ``CODE-text`` (more follow) or `` text`` (continuation), ended by ``CODE text``; codes
    from 8000 up are errors. ``query`` returns the text as birdc would print it, so
    ``parse_bird_routes`` reads both. Bounded: every read has a timeout."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(path))
            self._reader = self._sock.makefile("rb")
            self._reply()  # the "0001 BIRD x.y.z ready." greeting
        except OSError:
            self._sock.close()
            raise

    def query(self, command: str) -> str:
        self._sock.sendall(command.encode() + b"\n")
        return self._reply()

    def _reply(self) -> str:
        lines: list[str] = []
        while True:
            raw = self._reader.readline()
            if not raw:
                raise NetLabError("BIRD closed its control socket")
            line = raw.decode(errors="replace").rstrip("\n")
            code, sep = line[:4], line[4:5]
            if code.isdigit() and sep in ("-", " "):
                if int(code) >= 8000:
                    raise NetLabError(f"BIRD: {line}")
                if line[5:]:
                    lines.append(line[5:])
                if sep == " ":
                    return "\n".join(lines)
            else:
                lines.append(line[1:])  # continuation: " text"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._reader.close()
        self._sock.close()


_BIRD_PROTOCOL_KEYS = ("BGP state", "Last error", "Neighbor address", "Session", "Source address")


def parse_bird_protocol(name: str, text: str) -> dict[str, str]:
    """``show protocols all NAME`` as key → value: ``state``, ``since`` and ``info`` from the summary
    row, the ``BGP state``/``Last error``/… lines, and ``restarting`` ("yes") while BIRD holds the
    neighbor's routes as stale in a graceful restart ("Neighbor graceful restart active")."""
    info: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == name and len(words) >= 4:  # the summary row
            info["state"] = words[3]
            info["since"] = words[4] if len(words) > 4 else ""
            info["info"] = " ".join(words[5:])
        if line.strip() == "Neighbor graceful restart active":
            info["restarting"] = "yes"
        key, sep, value = line.strip().partition(":")
        if sep and key in _BIRD_PROTOCOL_KEYS:
            info[key] = value.strip()
    return info


_BIRD_ROUTE = re.compile(
    r"^(?P<prefix>[0-9A-Fa-f.:]+/\d+)?\s+(?P<kind>[a-z]+) \[(?P<proto>[^\s\]]+)(?: (?P<since>[^\s\]]+))?"
)


def parse_bird_routes(text: str) -> dict[str, list[BirdRoute]]:
    """Parse BIRD 2 ``show route all`` output.

    A route starts with ``PREFIX  KIND [PROTO TIME ...] * (PREF) [...]``, or, for a further route to
    the same prefix, the same line without the prefix; the indented ``via``/``Type:``/``BGP.x: v``
    lines that follow belong to it. ``*`` marks the best route."""
    routes: dict[str, list[BirdRoute]] = {}
    prefix = ""
    protocol = ""
    since = ""
    best = False
    via: list[str] = []
    attrs: dict[str, str] = {}

    def flush() -> None:
        if protocol:
            hops = tuple(attrs.get("BGP.next_hop", "").split()) or tuple(via)
            route = BirdRoute(prefix, protocol, hops[0] if hops else "", hops, dict(attrs), best, since)
            routes.setdefault(prefix, []).append(route)

    for raw in text.splitlines():
        match = _BIRD_ROUTE.match(raw)
        if match and (match["prefix"] or prefix):
            flush()
            prefix = match["prefix"] or prefix
            protocol = match["proto"]
            since = match["since"] or ""
            best = " * " in raw[match.end() :]
            via, attrs = [], {}
            continue
        line = raw.strip()
        if not protocol or not line:
            continue
        if line.startswith("via "):
            via.append(line.split()[1])
        else:
            key, sep, value = line.partition(":")
            if sep and " " not in key:
                attrs[key] = value.strip()
    flush()
    return routes
