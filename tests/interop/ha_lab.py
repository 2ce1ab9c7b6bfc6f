"""Two gateways, keepalived and two ToRs in network namespaces: the high-availability lab (issue 12 §3).

```
 segment 1 (10.0.1.0/24, 2001:db8:1::/64)            segment 3 (10.0.3.0/24, 2001:db8:3::/64)
   tor1 .254 ── br ──┬── gw-a .1 (eth0) ─ ─ ─ gw-a .1 (eth1) ──┬── br ── tor3 .254
                     └── gw-b .2 (eth0) ─ ─ ─ gw-b .2 (eth1) ──┘
 floating 10.0.1.100: VRRP, gw-a master            floating 10.0.3.100: VRRP, gw-b master
```
Each gateway is on both segments and runs a real ``bgpd run`` (a subprocess, driven only by its
files, signals and control socket) with the *same* cluster file and settings, its own state
directory, and keepalived moving the floating IPs (one VRRP instance per address, priorities
spread so each gateway is master of one). bgpd follows the addresses through netlink, as in
production. The ToRs peer with their segment's floating IP only (passive, so bgpd connects at once)
and are graceful-restart helpers: GoBGP with the RFC 8538 N-bit, BIRD without (it has none).

``subject`` picks the router on segment 1, whose floating IP gw-a holds: the scenarios act on gw-a,
so that router is the one under test; the other implementation sits on segment 3 behind gw-b and
must see nothing at all happen.

The cluster is the shipped dual-stack example: two nodes per segment, IPv4 and IPv6 pod CIDRs over
each IPv4 session (MP-BGP), each announced only on its own segment with the node's addresses as
next hops (directly connected for the ToR: BIRD would drop them otherwise).
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bgpd.cli.main import main as bgpd_main
from bgpd.control import client
from bgpd.control.protocol import Command
from tests.interop.keepalived import Keepalived, VrrpInstance, holds_address, wait_holder
from tests.interop.netlab import (
    BirdPeer,
    GoBgpPeer,
    GracefulRestart,
    Namespace,
    NetLab,
    NetLabError,
    Process,
    Segment,
    wait_for,
)
from tests.interop.route_watcher import BirdSource, GoBgpSource, RouteWatcher, Table, TableSource

ROOT: Final = Path(__file__).resolve().parents[2]
CLUSTER_EXAMPLE: Final = ROOT / "config" / "examples" / "dual-stack-flat.yaml"
LOCAL_ASN, TOR_ASN = 65001, 65002
HOLD_TIME: Final = 6  # negotiated with both ToRs (bgpd offers the lower value); keepalive 2 s
GR_RESTART_TIME: Final = 30  # the ToRs' own restart time (they never restart here)
SETTINGS: Final = f"""\
defaults:
  holdTime: {HOLD_TIME}
  connectRetryTime: 1
  idleHoldTime: 1
log:
  format: json
"""
KINDS: Final = ("gobgp", "bird")
MASTER_PRIORITY, BACKUP_PRIORITY = 200, 100
BIRD_PROTOCOL: Final = "floating"
STARTUP: Final = 30.0  # bound for the lab to come up (bgpd imports take ~1.5 s under load)


@dataclass(frozen=True)
class SegmentPlan:
    name: str
    v4: ipaddress.IPv4Network
    v6: ipaddress.IPv6Network

    def host(self, n: int, family: int = 4) -> str:
        net = self.v4 if family == 4 else self.v6
        return str(net[n])

    def holds(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return ip in self.v4 or ip in self.v6


SEG1: Final = SegmentPlan(
    "seg1", ipaddress.IPv4Network("10.0.1.0/24"), ipaddress.IPv6Network("2001:db8:1::/64")
)
SEG3: Final = SegmentPlan(
    "seg3", ipaddress.IPv4Network("10.0.3.0/24"), ipaddress.IPv6Network("2001:db8:3::/64")
)


@dataclass(frozen=True)
class Floating:
    """A floating IP: its segment, its VRRP instance (``vrid``) and the gateway that is its master."""

    address: str
    segment: SegmentPlan
    vrid: int
    master: str

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.segment.v4.prefixlen}"


FIP1: Final = Floating("10.0.1.100", SEG1, 1, "gw-a")
FIP3: Final = Floating("10.0.3.100", SEG3, 3, "gw-b")
FIP1B: Final = Floating("10.0.1.101", SEG1, 2, "gw-b")  # a second session to tor1, from gw-b


class Tor:
    """One top-of-rack router (GoBGP or BIRD) peering with its segment's floating IPs; the first is
    the watched one (``fip``; BIRD protocol ``floating``, further ones ``floating2``, …)."""

    def __init__(
        self, kind: str, name: str, segment: SegmentPlan, ns: Namespace, fips: Sequence[str]
    ) -> None:
        self.kind = kind
        self.name = name
        self.segment = segment
        self.ns = ns
        self.address = segment.host(254)
        self.fips = tuple(fips)
        self.fip = self.fips[0]
        gr = GracefulRestart(restart_time=GR_RESTART_TIME, notification=True, helper_only=True)
        self.gobgp: GoBgpPeer | None = None
        self.bird: BirdPeer | None = None
        if kind == "gobgp":
            self.gobgp = GoBgpPeer(ns, asn=TOR_ASN, router_id=self.address, name=name)
            for fip in self.fips:
                self.gobgp.add_neighbor(
                    fip, LOCAL_ASN, passive=True, local_address=self.address, graceful_restart=gr
                )
        elif kind == "bird":
            self.bird = BirdPeer(ns, asn=TOR_ASN, router_id=self.address, name=name, precise_times=True)
            for i, fip in enumerate(self.fips):
                self.bird.add_neighbor(
                    self.protocol(i),
                    fip,
                    LOCAL_ASN,
                    local_address=self.address,
                    passive=True,
                    graceful_restart=gr,
                )
        else:
            raise ValueError(f"unknown router kind {kind!r}")

    @staticmethod
    def protocol(index: int) -> str:
        return BIRD_PROTOCOL if index == 0 else f"{BIRD_PROTOCOL}{index + 1}"

    def start(self) -> None:
        if self.gobgp is not None:
            self.gobgp.start()
        if self.bird is not None:
            self.bird.start()

    def source(self) -> TableSource:
        if self.gobgp is not None:
            return GoBgpSource(self.gobgp)
        assert self.bird is not None
        return BirdSource(self.bird, BIRD_PROTOCOL)

    def read(self) -> Table:
        """All paths the router holds now (a full CLI read)."""
        return self.source().read()

    def established(self, index: int = 0) -> bool:
        """Whether the session with ``fips[index]`` is up, as the router sees it."""
        if self.gobgp is not None:
            return self.gobgp.neighbor_state(self.fips[index]) == "established"
        assert self.bird is not None
        return self.bird.protocol_state(self.protocol(index)) == "Established"

    def graceful(self, log_from: int = 0) -> GracefulView:
        """What the router says about graceful restart with the watched neighbor now; BIRD's
        End-of-RIB counts only if logged after ``log_from`` (a ``log_mark``): GoBGP forgets it
        when a session goes down, BIRD shows it only in its log."""
        if self.gobgp is not None:
            return _gobgp_graceful(self.gobgp.neighbor(self.fip), self.read())
        assert self.bird is not None
        text = self.bird.cli("show", "protocols", "all", BIRD_PROTOCOL) or ""
        return _bird_graceful(text, self.bird.log_text()[log_from:])

    def log_mark(self) -> int:
        return len(self.log_text())

    def log_text(self) -> str:
        peer = self.gobgp or self.bird
        assert peer is not None
        return peer.log_text()


@dataclass(frozen=True)
class GracefulView:
    negotiated: bool  # the neighbor announced Graceful Restart with forwarding state for some family
    end_of_rib: bool  # End-of-RIB received from the neighbor (GoBGP: every family; BIRD: logged)
    stale: bool  # the router holds some of the neighbor's routes as stale right now


def _gobgp_graceful(neighbor: dict[str, Any], table: Table) -> GracefulView:
    """GoBGP's API shows the neighbor's GR *configuration*, not what was negotiated; the per-family
    ``mp_graceful_restart.state`` does say whether the peer announced the family (``received``)."""
    families = [f.get("mp_graceful_restart", {}).get("state", {}) for f in neighbor.get("afi_safis", [])]
    return GracefulView(
        negotiated=any(f.get("received") for f in families),
        end_of_rib=bool(families) and all(f.get("end_of_rib_received") for f in families),
        stale=any(path.stale for paths in table.values() for path in paths),
    )


def _bird_graceful(protocol: str, log: str) -> GracefulView:
    lines = [line.strip() for line in protocol.splitlines()]
    caps = lines[lines.index("Neighbor capabilities") + 1 :] if "Neighbor capabilities" in lines else []
    caps = caps[: next((i for i, line in enumerate(caps) if line.startswith("Session:")), len(caps))]
    return GracefulView(
        negotiated="Graceful restart" in caps,
        # one marker per family (IPv4 and IPv6 channels); logged thanks to "debug { packets }"
        end_of_rib=log.count(f"{BIRD_PROTOCOL}: Got END-OF-RIB") >= 2,
        stale="Neighbor graceful restart active" in lines,
    )


class Gateway:
    """One gateway namespace: keepalived plus ``bgpd run`` (restartable)."""

    def __init__(self, ha: HaLab, name: str, number: int, floating: Sequence[Floating]) -> None:
        self.ha = ha
        self.name = name
        self.ns = ha.lab.namespace()
        self.state_dir = ha.lab.path(f"{name}-state")
        self.socket = ha.lab.path(f"{name}.sock")
        self.interfaces = {
            plan.name: ha.lab.attach(self.ns, bridge, [f"{plan.host(number)}/{plan.v4.prefixlen}"])
            for plan, bridge in ((SEG1, ha.seg1), (SEG3, ha.seg3))
        }
        instances = [
            VrrpInstance(
                f"fip{fip.vrid}",
                self.interfaces[fip.segment.name],
                fip.vrid,
                MASTER_PRIORITY if fip.master == name else BACKUP_PRIORITY,
                fip.cidr,
            )
            for fip in floating
        ]
        self.keepalived = Keepalived(self.ns, f"{name}-keepalived", instances)
        self.process: Process | None = None
        self.starts = 0

    # -- bgpd ------------------------------------------------------------------------------------------
    def start_bgpd(self) -> None:
        if self.process is not None and self.process.alive():
            raise NetLabError(f"{self.name}: bgpd runs already (pid {self.process.pid})")
        self.starts += 1
        argv = [sys.executable, "-m", "bgpd", "run", "--config", str(self.ha.cluster)]
        argv += ["--settings", str(self.ha.settings), "--state-dir", str(self.state_dir)]
        argv += ["--socket", str(self.socket)]
        self.process = self.ns.spawn(f"{self.name}-bgpd-{self.starts}", argv, {"PYTHONPATH": str(ROOT)})

    def wait_control(self, timeout: float = STARTUP) -> None:
        """Until the control socket answers (the daemon has planned and started its sessions)."""

        def answers() -> bool:
            if self.process is None or not self.process.alive():
                raise NetLabError(f"{self.name}: bgpd exited:\n{self.log()}")
            try:
                return client.request(self.socket, Command.SESSIONS, timeout=1.0).ok
            except (OSError, client.ControlClientError):
                return False

        wait_for(answers, timeout, f"{self.name}'s control socket")

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def stop_bgpd(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig`` and wait for the exit; returns the exit code."""
        assert self.process is not None
        self.send(sig)
        return self.process.popen.wait(timeout=timeout)

    def kill_bgpd(self) -> None:
        assert self.process is not None
        self.ha.lab.kill(self.process)

    def ctl(self, cmd: Command, args: dict[str, Any] | None = None) -> Any:
        reply = client.request(self.socket, cmd, args, timeout=5.0)
        assert reply.ok, reply.error_message
        return reply.data

    def describe(self, session: str) -> dict[str, Any]:
        data: dict[str, Any] = self.ctl(Command.DESCRIBE_SESSION, {"name": session})
        return data

    def log(self) -> str:
        return self.process.log() if self.process is not None else ""

    def holds(self, address: str) -> bool:
        return holds_address(self.ns, address)


class HaLab:
    """The lab; ``cluster_text`` (default: the dual-stack example) must list ``floating`` in its
    NetworkGatewayGroup, in that order."""

    def __init__(
        self,
        lab: NetLab,
        subject: str,
        *,
        cluster_text: str | None = None,
        floating: Sequence[Floating] = (FIP1, FIP3),
    ) -> None:
        self.lab = lab
        self.floating = tuple(floating)
        self.cluster = lab.path("cluster.yaml")
        self.settings = lab.path("settings.yaml")
        self.cluster_text = cluster_text if cluster_text is not None else self.example()
        self.write_cluster(self.cluster_text)
        self.settings.write_text(SETTINGS, encoding="utf-8")
        self.seg1, self.seg3 = lab.segment(), lab.segment()
        self.gw_a = Gateway(self, "gw-a", 1, self.floating)
        self.gw_b = Gateway(self, "gw-b", 2, self.floating)
        bystander = next(kind for kind in KINDS if kind != subject)
        self.tor1 = self._tor(subject, "tor1", SEG1, self.seg1)
        self.tor3 = self._tor(bystander, "tor3", SEG3, self.seg3)
        self.watchers: list[RouteWatcher] = []

    def _tor(self, kind: str, name: str, plan: SegmentPlan, segment: Segment) -> Tor:
        ns = self.lab.namespace()
        self.lab.attach(
            ns, segment, [f"{plan.host(254)}/{plan.v4.prefixlen}", f"{plan.host(254, 6)}/{plan.v6.prefixlen}"]
        )
        return Tor(kind, name, plan, ns, [fip.address for fip in self.floating if fip.segment == plan])

    def gateway(self, name: str) -> Gateway:
        return next(gw for gw in self.gateways if gw.name == name)

    @property
    def gateways(self) -> tuple[Gateway, Gateway]:
        return self.gw_a, self.gw_b

    @property
    def tors(self) -> tuple[Tor, Tor]:
        return self.tor1, self.tor3

    def start(self, wait_routes: bool = True) -> None:
        """Routers, keepalived (each floating IP settled on its master), both bgpd; with
        ``wait_routes``, returns once both routers hold every route they should."""
        for tor in self.tors:
            tor.start()
        for gw in self.gateways:
            gw.keepalived.start()
        namespaces = [gw.ns for gw in self.gateways]
        for fip in self.floating:
            wait_holder(namespaces, fip.address, self.gateway(fip.master).ns, 10)
        for gw in self.gateways:
            gw.start_bgpd()
        for gw in self.gateways:
            gw.wait_control()
        if wait_routes:
            for tor in self.tors:
                self.wait_routes(tor, STARTUP)

    # -- the cluster file --------------------------------------------------------------------------------
    def write_cluster(self, text: str) -> None:
        """Replace the shared cluster file atomically, as configuration management would."""
        tmp = self.cluster.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.cluster)

    @staticmethod
    def example() -> str:
        return CLUSTER_EXAMPLE.read_text(encoding="utf-8")

    def plan(self, gateway: Gateway, local: str, commit: bool = False) -> dict[str, Any]:
        """``bgpd plan -o json`` with the shared file, ``gateway``'s ledger (written back only with
        ``commit``) and ``local`` as the held floating IP: the allocation that gateway announces."""
        argv = ["plan", "--config", str(self.cluster), "-o", "json"]
        argv += ["--state-dir", str(gateway.state_dir), "--local-address", local]
        argv += ["--commit"] if commit else []
        # The command's own code, in this process: a subprocess would pay ~1.5 s of imports each time.
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = bgpd_main(argv)
        if code != 0:
            raise NetLabError(f"bgpd {' '.join(argv)}: exit {code}: {err.getvalue()}")
        data: dict[str, Any] = json.loads(out.getvalue())
        return data

    def expected(self, tor: Tor) -> dict[str, str]:
        """prefix -> next hop that ``tor`` must hold: the planned routes whose next hop is on its
        segment (bgpd's default ``offSegmentNextHop: skip``), per the holder's ledger."""
        routes = self.plan(self.holder(tor), tor.fip)["routes"]
        return {r["prefix"]: r["nextHop"] for r in routes if tor.segment.holds(r["nextHop"])}

    def holder(self, tor: Tor) -> Gateway:
        for gw in self.gateways:
            if gw.holds(tor.fip):
                return gw
        raise NetLabError(f"nobody holds {tor.fip}")

    def wait_routes(self, tor: Tor, timeout: float) -> dict[str, str]:
        """Until ``tor`` holds exactly the expected routes (best paths, right next hops)."""
        want = self.expected(tor)
        if not want:
            raise NetLabError(f"{tor.name}: the plan gives it no routes")

        def holds() -> bool:
            return {p: paths[0].next_hop for p, paths in tor.read().items()} == want

        wait_for(holds, timeout, f"{tor.name} to hold {sorted(want)}", interval=0.1)
        return want

    # -- watching ------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def watch(self, tors: Sequence[Tor] | None = None, **options: Any) -> Iterator[RouteWatcher]:
        watcher = RouteWatcher([tor.source() for tor in (tors or self.tors)], **options)
        self.watchers.append(watcher)
        with watcher:
            yield watcher

    def close(self) -> None:
        """Stop watchers, then the processes that take time to stop cleanly, with SIGKILL: the
        lab's own teardown (SIGTERM, wait) does the rest."""
        for watcher in self.watchers:
            watcher.stop()
        for gw in self.gateways:
            for proc in (gw.process, gw.keepalived.process):
                if proc is not None:
                    self.lab.stop(proc, signal.SIGKILL)
