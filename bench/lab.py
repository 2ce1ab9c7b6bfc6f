"""The bench laboratory: bgpd and BIRD doing the same job side by side, in namespaces of their own.

Scenario scripts (``bench/send.py``, ``bench/ingest.py``) build one ``Lab``: a /16 L2 segment in
network namespaces made for the run (``tests/interop/netlab.py``: random lab id, no default route,
no link to the host, everything torn down at the end), a generated cluster whose nodes all live on
that segment, and the speakers:

- ``bgpd run`` as a real subprocess (generated cluster file, settings file, state dir, control
  socket), bound to the floating IP ``FLOATING_IP``;
- BIRD, wherever a reference or a top-of-rack router is needed, configured from the same data.

Measuring. Progress is read by polling, the only thing BIRD offers: its control socket spoken
directly (a ``birdc`` process per poll would cost more than the poll), bgpd's control socket, and
``/proc`` for a process's CPU time (``schedstat``, nanoseconds, all threads) and memory
(``VmRSS``/``VmHWM``). Every sample carries the wall clock, so a moment BIRD reports with
millisecond precision (``timeformat protocol iso long ms``) can be placed among the samples.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bgpd.control import client  # noqa: E402
from bgpd.control.protocol import Command  # noqa: E402
from tests.interop.netlab import (  # noqa: E402
    BirdPeer,
    Namespace,
    NetLab,
    Process,
    Segment,
    missing_prerequisites,
    parse_bird_routes,
)

SEGMENT_PREFIX = 16
FLOATING_IP = "10.0.255.100"  # bgpd's
REFERENCE_IP = "10.0.255.101"  # the BIRD doing bgpd's job
TOR_IP = "10.0.255.254"  # the top-of-rack router (or the feeder playing it)
LOCAL_ASN = 65001
TOR_ASN = 65002
POD_CIDR = "100.64.0.0/10"  # /24 per node: room for 16,384 nodes
MAX_NODES = 16_384
NODES_PER_OCTET = 250  # node i is 10.0.(i // 250).(i % 250 + 1)
BIRD_GLOBALS = ("timeformat protocol iso long ms;",)
BIRD_CONNECT_NOW = "connect delay time 0"  # BIRD waits 5 s before its first connect by default
POLL_INTERVAL = 0.002
PREREQUISITES = ("ip", "bird", "birdc")


class LabError(RuntimeError):
    """The lab could not do what a scenario asked (a peer did not come up, a count never matched)."""


def node_address(index: int) -> str:
    return f"10.0.{index // NODES_PER_OCTET}.{index % NODES_PER_OCTET + 1}"


@dataclass(frozen=True, slots=True)
class Peer:
    """A BGPPeer of a generated cluster."""

    name: str
    address: str
    asn: int = TOR_ASN
    sessions: int = 1


TOR = Peer("tor", TOR_IP)


def cluster_yaml(
    nodes: int,
    *,
    pools: int = 1,
    floating_ips: Sequence[str] = (FLOATING_IP,),
    peers: Sequence[Peer] = (TOR,),
    extra_nodes: Sequence[str] = (),
) -> str:
    """A single-stack IPv4 flat-mode cluster: ``nodes`` nodes on the segment in ``pools`` NodePools
    (``workers`` when one, else ``pool-00``…, nodes dealt in turn), ``extra_nodes`` (addresses) at
    the end of the first pool, the ``floating_ips``, the ``peers`` (one BGPPeer each), a /24 pod
    CIDR per node from one ClusterCIDRConfig."""
    if not 0 < nodes <= MAX_NODES:
        raise LabError(f"1 to {MAX_NODES} nodes, not {nodes}")
    meta = "  namespace: cluster-bench\n"
    names = ["workers"] if pools == 1 else [f"pool-{p:02d}" for p in range(pools)]
    members: list[list[str]] = [[] for _ in names]
    for i in range(nodes):
        members[i % pools].append(node_address(i))
    members[0] += extra_nodes
    node_pools = "".join(
        f"apiVersion: baremetal.cluster.gke.io/v1\nkind: NodePool\nmetadata:\n  name: {name}\n"
        + meta
        + "spec:\n  clusterName: bench\n  nodes:\n"
        + "".join(f"  - address: {address}\n" for address in addresses)
        + "---\n"
        for name, addresses in zip(names, members, strict=True)
    )
    bgp_peers = "---\n".join(
        f"apiVersion: networking.gke.io/v1\nkind: BGPPeer\nmetadata:\n  name: {peer.name}\n"
        + meta
        + "  labels:\n    tor: 'true'\n"
        f"spec:\n  localASN: {LOCAL_ASN}\n  peerASN: {peer.asn}\n  peerIP: {peer.address}\n"
        f"  sessions: {peer.sessions}\n"
        for peer in peers
    )
    return (
        "apiVersion: baremetal.cluster.gke.io/v1\nkind: Cluster\nmetadata:\n  name: bench\n"
        + meta
        + "spec:\n  type: user\n  clusterNetwork:\n    advancedNetworking: true\n    flatIPv4: true\n"
        "    services:\n      cidrBlocks: [10.96.0.0/12]\n---\n"
        + node_pools
        + "apiVersion: baremetal.cluster.gke.io/v1alpha1\nkind: ClusterCIDRConfig\nmetadata:\n"
        "  name: pods\n" + meta + f"spec:\n  ipv4:\n    cidr: {POD_CIDR}\n    perNodeMaskSize: 24\n---\n"
        "apiVersion: networking.gke.io/v1\nkind: NetworkGatewayGroup\nmetadata:\n  name: default\n"
        + meta
        + f"spec:\n  floatingIPs: [{', '.join(floating_ips)}]\n---\n"
        "apiVersion: baremetal.cluster.gke.io/v1alpha1\nkind: FlatIPMode\nmetadata:\n  name: default\n"
        + meta
        + "spec:\n  enableBGPIPv4: true\n  enableBGPIPv6: false\n  peerSelector:\n    tor: 'true'\n---\n"
        + bgp_peers
    )


def planned_routes(config: Path, state: Path | None = None) -> dict[str, str]:
    """prefix → next hop of every node route, as ``bgpd plan`` reports the allocation (a fresh one,
    or the one of the ledger in ``state``, read only)."""
    argv = [sys.executable, "-m", "bgpd", "plan", "--config", str(config), "-o", "json"]
    if state is not None:
        argv += ["--state-dir", str(state)]
    out = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        cwd=ROOT,
    ).stdout
    return {node["podCIDRs"][0]: node["address"] for node in json.loads(out)["nodes"]}


# --------------------------------------------------------------------------- processes
def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` so far (schedstat: nanoseconds, not 10 ms ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # a thread that just ended
    return total / 1e9


def memory(pid: int) -> tuple[int, int]:
    """(resident set size, its peak) of ``pid`` in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found["VmRSS"], found["VmHWM"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One poll: when, how far the watched count got, and the watched process's CPU and memory."""

    t: float
    count: int
    cpu: float
    rss: int


def watch(
    count: Callable[[], int],
    pid: int,
    target: int,
    *,
    timeout: float,
    what: str,
    alive: Callable[[], bool] = lambda: True,
    interval: float = POLL_INTERVAL,
    required: bool = True,
) -> list[Sample]:
    """Poll ``count`` every ``interval`` seconds until it reaches ``target`` (bounded by ``timeout``;
    past it, the samples so far when not ``required``)."""
    samples: list[Sample] = []
    deadline = time.monotonic() + timeout
    while True:
        value = count()
        rss, _ = memory(pid)
        samples.append(Sample(time.time(), value, cpu_seconds(pid), rss))
        if value >= target:
            return samples
        if not alive():
            raise LabError(f"{what}: the process ended at {value} of {target}")
        if time.monotonic() > deadline:
            if not required:
                return samples
            raise LabError(f"{what}: {value} of {target} after {timeout:g} s")
        time.sleep(interval)


def request_cost(
    pid: int, ask: Callable[[], object], requests: int, idle: float = 1.0
) -> tuple[float, float]:
    """(CPU, wall) milliseconds per request of ``pid`` answering ``ask`` ``requests`` times in a
    row; the CPU it spends idle (timers, keepalives: measured for ``idle`` seconds first) is taken
    off."""
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(idle)
    idle_rate = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    for _ in range(requests):
        ask()
    wall = time.monotonic() - t0
    cpu = cpu_seconds(pid) - cpu0 - idle_rate * wall
    return max(cpu, 0.0) / requests * 1e3, wall / requests * 1e3


def status_report(costs: dict[str, tuple[float, float]], out: dict[str, Any], shape: str) -> None:
    """Print and add to ``out`` the status costs ``request_cost`` measured for bgpd and BIRD."""
    (ours, ours_wall), (theirs, theirs_wall) = costs["bgpd"], costs["bird"]
    out["bgpd_status_cpu_ms"], out["bird_status_cpu_ms"] = round(ours, 3), round(theirs, 3)
    out["bgpd_status_wall_ms"], out["bird_status_wall_ms"] = round(ours_wall, 3), round(theirs_wall, 3)
    out["ratio_status_cpu_ms"] = ratio(ours, theirs)
    print(
        f"status ({shape}): bgpd {ours:.2f} ms CPU per `sessions` request ({ours_wall:.2f} ms wall; "
        f"target ≤ 10), BIRD {theirs:.2f} ms per `show protocols all` ({theirs_wall:.2f} ms wall), "
        f"{out['ratio_status_cpu_ms']}×"
    )


def first_at_least(samples: Sequence[Sample], count: int) -> Sample:
    return next(s for s in samples if s.count >= count)


def almost(total: int) -> int:
    """99 % of ``total``, rounded up: the point both speakers are compared at (see bench/README.md:
    BIRD sometimes holds its last UPDATE back for seconds)."""
    return -(-total * 99 // 100)


def at(samples: Sequence[Sample], moment: float) -> Sample:
    """The last sample taken at or before ``moment`` (the first one if none was)."""
    before = [s for s in samples if s.t <= moment]
    return before[-1] if before else samples[0]


# --------------------------------------------------------------------------- BIRD
_REPLY_END = re.compile(rb"^\d{4} ", re.MULTILINE)
_IMPORTED = re.compile(r"Routes:\s+(\d+) imported")


class BirdControl:
    """BIRD's control socket, spoken directly: one command, its reply lines (codes stripped)."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10.0)
        self.sock.connect(str(path))
        self._buf = b""
        self._reply()  # the "0001 BIRD 2.x ready." banner

    def _reply(self) -> str:
        while True:
            end = _REPLY_END.search(self._buf)
            if end is not None:
                stop = self._buf.index(b"\n", end.start()) + 1
                raw, self._buf = self._buf[:stop], self._buf[stop:]
                lines = raw.decode(errors="replace").splitlines()
                return "\n".join(line[5:] if line[:4].isdigit() else line[1:] for line in lines)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise LabError("BIRD closed its control socket")
            self._buf += chunk

    def command(self, text: str) -> str:
        self.sock.sendall(text.encode() + b"\n")
        return self._reply()

    def count_lines(self, text: str) -> int:
        """Send a command and read its reply as it comes, without keeping it (a listing of 1M
        routes is hundreds of MB): how many lines it had."""
        self.sock.sendall(text.encode() + b"\n")
        lines = 0
        tail = self._buf
        self._buf = b""
        while True:
            end = _REPLY_END.search(tail)
            if end is not None and b"\n" in tail[end.start() :]:
                stop = tail.index(b"\n", end.start()) + 1
                self._buf = tail[stop:]
                return lines + tail[:stop].count(b"\n")
            cut = tail.rfind(b"\n") + 1  # whole lines are counted and dropped
            lines += tail[:cut].count(b"\n")
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise LabError("BIRD closed its control socket")
            tail = tail[cut:] + chunk

    def imported(self, protocol: str) -> int:
        found = _IMPORTED.search(self.command(f"show protocols all {protocol}"))
        return int(found[1]) if found else 0

    def established(self) -> dict[str, float]:
        """Every BGP protocol that is Established → when it became so (wall clock)."""
        found = {}
        for line in self.command("show protocols").splitlines():
            words = line.split()
            if len(words) >= 7 and words[1] == "BGP" and words[6] == "Established":
                found[words[0]] = _bird_time(words[4], words[5])
        return found

    def established_at(self, protocol: str) -> float | None:
        """When ``protocol`` last became Established (wall clock), or None if it is not."""
        for line in self.command(f"show protocols {protocol}").splitlines():
            words = line.split()
            if words[:1] == [protocol] and len(words) >= 7 and words[6] == "Established":
                return _bird_time(words[4], words[5])
        return None

    def next_hops(self, protocol: str) -> dict[str, str]:
        """prefix → next hop of the routes ``protocol`` imported."""
        routes = parse_bird_routes(self.command(f"show route all protocol {protocol}"))
        return {prefix: found[0].next_hop for prefix, found in routes.items()}

    def close(self) -> None:
        self.sock.close()


def _bird_time(day: str, time_of_day: str) -> float:
    """A BIRD protocol time (``timeformat protocol iso long ms``) as the wall clock."""
    return datetime.strptime(f"{day} {time_of_day}", "%Y-%m-%d %H:%M:%S.%f").timestamp()


class Bird(BirdPeer):
    """A BirdPeer with millisecond protocol timestamps and a direct control connection."""

    def __init__(self, ns: Namespace, *, asn: int, router_id: str, name: str) -> None:
        super().__init__(ns, asn=asn, router_id=router_id, name=name)
        self.globals += BIRD_GLOBALS
        self._control: BirdControl | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise LabError(f"{self.name} is not running")
        return self.process.pid

    @property
    def control(self) -> BirdControl:
        if self._control is None:
            self._control = BirdControl(self.socket)
        return self._control

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        super().stop()


def reference_bird(ns: Namespace, name: str, protocol: str) -> Bird:
    """BIRD on ``REFERENCE_IP`` in ``ns``, doing bgpd's job: one IPv4 session, ``protocol``, to the
    ToR, connecting at once."""
    bird = Bird(ns, asn=LOCAL_ASN, router_id=REFERENCE_IP, name=name)
    bird.add_neighbor(
        protocol, TOR_IP, TOR_ASN, local_address=REFERENCE_IP, families=("ipv4",), options=(BIRD_CONNECT_NOW,)
    )
    return bird


# --------------------------------------------------------------------------- bgpd
class Bgpd:
    """``bgpd run`` in a namespace with files of its own; started and stopped per measurement."""

    def __init__(self, ns: Namespace, workdir: Path, cluster: str, settings: str) -> None:
        self.ns = ns
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "cluster.yaml"
        self.config.write_text(cluster, encoding="utf-8")
        self.settings = workdir / "bgpd.yaml"
        self.settings.write_text(settings, encoding="utf-8")
        self.socket = ns.lab.path("bgpd.sock")
        self.process: Process | None = None
        self.runs = 0
        self.state = workdir / "state-0"

    def start(self) -> Process:
        """Start a fresh daemon (new state dir: a first boot, allocation included)."""
        self.runs += 1
        self.state = self.workdir / f"state-{self.runs}"
        argv = [sys.executable, "-m", "bgpd", "run", "--config", str(self.config)]
        argv += [
            "--settings",
            str(self.settings),
            "--state-dir",
            str(self.state),
            "--socket",
            str(self.socket),
        ]
        os.environ["PYTHONPATH"] = str(ROOT)  # ``ip netns exec`` runs bgpd from this checkout
        self.process = self.ns.spawn(f"bgpd-{self.runs}", argv)
        return self.process

    @property
    def pid(self) -> int:
        if self.process is None:
            raise LabError("bgpd is not running")
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def sessions(self) -> list[dict[str, Any]]:
        """The ``sessions`` reply; empty while the control socket is not up yet."""
        try:
            reply = client.request(self.socket, Command.SESSIONS, timeout=10.0)
        except client.ControlClientError:
            return []
        return list(reply.data) if reply.ok else []

    def ask(self, command: Command, timeout: float = 60.0, **args: Any) -> Any:
        """One control request's data; a refusal or an unreachable daemon is a LabError."""
        try:
            reply = client.request(self.socket, command, args or None, timeout=timeout)
        except client.ControlClientError as err:
            raise LabError(f"bgpd {command.value}: {err}") from None
        if not reply.ok:
            raise LabError(f"bgpd {command.value}: {reply.error_code}: {reply.error_message}")
        return reply.data

    def received(self) -> int:
        return sum(int(s.get("prefixesReceived") or 0) for s in self.sessions())

    def log_events(self) -> Iterator[dict[str, Any]]:
        text = self.process.log() if self.process is not None else ""
        for line in text.splitlines():
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except ValueError:
                    continue

    def first(self, event: str, **match: str) -> float | None:
        """Wall-clock time of the first log line ``event`` whose fields include ``match``."""
        for entry in self.log_events():
            if entry.get("event") == event and all(entry.get(k) == v for k, v in match.items()):
                return datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
        return None

    def stop(self) -> None:
        """Stop with every route withdrawn at once (``bgpctl stop --withdraw``): a plain stop is a
        graceful restart, and the ToR would keep bgpd's routes, stale, for the restart time (120 s)
        before the next measurement could start from an empty table."""
        if self.process is None:
            return
        if self.process.alive():
            with contextlib.suppress(LabError):
                self.ask(Command.STOP, timeout=10.0, withdraw=True)
        self.ns.lab.stop(self.process)


def bgpd_settings(extra: str = "", *, addresses: Sequence[str] = (FLOATING_IP,), defaults: str = "") -> str:
    """Settings for the lab's bgpd: its floating IPs with their segment, quick retries, JSON logs;
    ``defaults``: more per-peer settings (YAML lines, two spaces in), ``extra``: more top level."""
    listed = ", ".join(f"'{address}/{SEGMENT_PREFIX}'" for address in addresses)
    return (
        f"localAddresses: [{listed}]\n"
        "defaults:\n  connectRetryTime: 1\n" + defaults + "log:\n  format: json\n" + extra
    )


# --------------------------------------------------------------------------- the lab
class Lab:
    """One segment with the namespaces the scenario asks for; ``close`` removes all of it."""

    def __init__(self) -> None:
        reasons = missing_prerequisites(PREREQUISITES)
        if reasons:
            raise LabError("cannot build the lab: " + "; ".join(reasons))
        self.net = NetLab()
        try:
            self.segment: Segment = self.net.segment()
        except BaseException:
            self.net.close()
            raise

    def host(self, address: str, *more: str) -> Namespace:
        """A namespace on the segment holding ``address`` and ``more`` addresses (added in one
        ``ip -batch``: hundreds of floating IPs take a moment, not a process each)."""
        ns = self.net.namespace()
        iface = self.net.attach(ns, self.segment, [f"{address}/{SEGMENT_PREFIX}"])
        if more:
            batch = self.path(f"{ns.name}.addresses")
            batch.write_text("".join(f"address add {a}/{SEGMENT_PREFIX} dev {iface}\n" for a in more))
            ns.ip("-batch", str(batch))
        return ns

    def know_neighbors(self, ns: Namespace, holder: Namespace, addresses: Sequence[str]) -> None:
        """Permanent neighbour (ARP) entries in ``ns`` for ``addresses``, which ``holder`` holds on
        its segment interface. The kernel's neighbour table is one for the whole host, every
        namespace's entries counted together against ``gc_thresh3`` (1,024 by default): 500
        sessions from 500 addresses, and as many for the reference, overflow it ("neighbor table
        overflow"), and the SYN-ACKs to the addresses left out are dropped: sessions then wait for
        ARP, not for the speaker being measured. Permanent entries are not counted (Linux ≥ 4.19)."""
        link = json.loads(holder.ip("-j", "link", "show", holder.interfaces[0]))
        mac = link[0]["address"]
        iface = ns.interfaces[0]
        batch = self.path(f"{ns.name}.neighbors")
        batch.write_text(
            "".join(f"neigh replace {a} lladdr {mac} dev {iface} nud permanent\n" for a in addresses)
        )
        ns.ip("-batch", str(batch))

    def path(self, name: str) -> Path:
        return self.net.path(name)

    def close(self) -> None:
        self.net.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def finish(
    name: str, run: Callable[[], dict[str, Any]], report: Callable[[dict[str, Any]], dict[str, Any]]
) -> int:
    """Run a scenario and print its report, whose last line is one JSON object; a lab that could
    not do what was asked is a message and exit code 1 (teardown failures still raise)."""
    try:
        found = run()
    except LabError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 1
    print(json.dumps(report(found)))
    return 0


def ratio(ours: float, reference: float) -> float:
    return round(ours / reference, 2) if reference > 0 else float("inf")


Runs = dict[str, list[dict[str, float | None]]]  # "bgpd"/"bird" -> per run: measurement -> value


def compare(results: Runs, out: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Print the median of each measurement for bgpd and BIRD with their ratio, add them to
    ``out`` (``bgpd_X``, ``bird_X``, ``ratio_X``; null where no run had a value) and return the
    medians."""
    keys = list(results["bgpd"][0])
    med: dict[str, dict[str, float | None]] = {}
    for who, runs in results.items():
        med[who] = {}
        for key in keys:
            values = [r[key] for r in runs if r[key] is not None]
            med[who][key] = statistics.median(values) if values else None
    width = max(map(len, keys))
    print(f"{'':{width}} {'bgpd':>10} {'BIRD':>10} {'ratio':>7}")
    for key in keys:
        ours, theirs = med["bgpd"][key], med["bird"][key]
        both = ratio(ours, theirs) if ours is not None and theirs is not None else None
        print(f"{key:{width}} {_cell(ours, 10, 3)} {_cell(theirs, 10, 3)} {_cell(both, 7, 2)}")
        out[f"bgpd_{key}"] = None if ours is None else round(ours, 4)
        out[f"bird_{key}"] = None if theirs is None else round(theirs, 4)
        out[f"ratio_{key}"] = both
    return med


def _cell(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.{digits}f}"
