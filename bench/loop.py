"""The event loop under load: 1M received routes, a flood of one-prefix UPDATEs, a 1M-route listing,
a reload and status requests, while a session with hold time 9 s must stay up.

The lab (``bench/lab.py``): one /16 segment, and bgpd on the floating IP with a cluster of
``--nodes`` nodes (40 pools) and three BGP peers:

- ``feed``: ``bench/feeder.py`` on the ToR's address sending ``--prefixes`` prefixes (about 1,000
  per UPDATE);
- ``flood``: another feeder (10.0.255.201) sending ``--flood`` prefixes one per UPDATE, each with
  its own attributes: a peer's burst of small UPDATEs;
- ``watch``: BIRD (10.0.255.200) with hold time 9 s (keepalive 3 s), importing bgpd's routes. If
  bgpd's loop stalls for seconds, this session drops ("Hold timer expired").

and a reference BIRD (10.0.255.101) receiving the same ``feed`` table.

Phases, one after the other, each measured by bgpd's own loop-lag probe (``bgpctl status``: a
20 ms timer; per phase the change of its histograms): *start* (bgpd starts: takes in both tables,
sends its routes to ``watch``), *listing* (``bgpctl get bgpreceivedroutes`` of every received
route, streamed: its time, the lines it printed, bgpctl's peak RSS and bgpd's RSS growth during
it; BIRD: ``show route protocol feed`` of its 1M routes on its control socket), *reload* (one node
added), *status* (100 ``sessions`` and 100 ``status`` requests), *flood again* (the flood session
reset: the flooder sends everything again).

Per phase: its duration, the worst lateness of the probe (the upper bound of the highest
histogram bucket hit: 5, 10, 20, 50, 100, 200, 500, 1000 ms, +Inf), how many probes were late by
more than the 50 ms budget, and the same for the loop's CPU between two probes (lateness counts a
host that gives bgpd no CPU; loop CPU counts only bgpd's own work). Then whether ``watch`` stayed
Established throughout (its Established time unchanged). The listing ratio is against BIRD; then
one JSON line.

    python bench/loop.py [--nodes 10000] [--prefixes 1000000] [--flood 200000] [--quick]   (root)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import lab
from bgpd.control.protocol import Command
from tests.interop.netlab import Process, wait_for

WATCH_IP = "10.0.255.200"
FLOOD_IP = "10.0.255.201"
HOLD_TIME = 9
TIMEOUT = 600.0
BUDGET_MS = 50.0
STATUS_REQUESTS = 100
MIB = 1 << 20


def _feeder(ns: Any, name: str, listen: str, prefixes: int, attr_sets: int) -> Process:
    argv = [
        sys.executable,
        str(lab.ROOT / "bench" / "feeder.py"),
        "--listen",
        listen,
        "--asn",
        str(lab.TOR_ASN),
    ]
    argv += ["--prefixes", str(prefixes), "--attr-sets", str(attr_sets), "--max-seconds", str(TIMEOUT * 3)]
    return ns.spawn(name, argv)


def _ready(feeder: Process) -> bool:
    return any('"event": "ready"' in line for line in feeder.log().splitlines())


class Lag:
    """Reads bgpd's loop-lag histograms; ``phase`` gives what changed since the last reading."""

    def __init__(self, bgpd: lab.Bgpd) -> None:
        self.bgpd = bgpd
        self.before: dict[str, Any] | None = None

    def read(self) -> dict[str, Any]:
        data: dict[str, Any] = self.bgpd.ask(Command.STATUS)["loopLag"]
        return data

    def mark(self) -> None:
        self.before = self.read()

    def phase(self, name: str, seconds: float) -> dict[str, Any]:
        after = self.read()
        before = self.before or {"lateHistogram": {}, "busyHistogram": {}}
        out: dict[str, Any] = {"phase": name, "seconds": round(seconds, 3)}
        for kind in ("late", "busy"):
            now, then = after[f"{kind}Histogram"], before[f"{kind}Histogram"]
            delta = {bound: count - then.get(bound, 0) for bound, count in now.items()}
            hit = [bound for bound, count in delta.items() if count > 0]
            out[f"{kind}_max_ms"] = hit[-1] if hit else "0"
            out[f"{kind}_over_budget"] = sum(
                count for bound, count in delta.items() if bound == "+Inf" or float(bound) > BUDGET_MS
            )
        self.before = after
        return out


def _listing(bgpd: lab.Bgpd, out: Path) -> dict[str, Any]:
    """``bgpctl get bgpreceivedroutes`` in the daemon's namespace's socket, to ``out``; bgpd's RSS
    is sampled meanwhile."""
    peak = [lab.memory(bgpd.pid)[0]]
    start_rss = peak[0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak.append(lab.memory(bgpd.pid)[0])

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.monotonic()
    argv = [sys.executable, "-m", "bgpd.cli.bgpctl", "--socket", str(bgpd.socket), "get", "bgpreceivedroutes"]
    errors = out.with_suffix(".err")
    with out.open("wb") as sink, errors.open("wb") as complaints:
        child = subprocess.Popen(argv, stdout=sink, stderr=complaints, cwd=lab.ROOT)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - t0
    done.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise lab.LabError(f"bgpctl get bgpreceivedroutes: exit {code}: {errors.read_text()}")
    with out.open("rb") as printed:
        lines = sum(1 for _ in printed)
    return {
        "seconds": seconds,
        "lines": lines,
        "bgpctl_rss_mib": usage.ru_maxrss * 1024 / MIB,
        "bgpd_rss_growth_mib": (max(peak) - start_rss) / MIB,
    }


def run(nodes: int, prefixes: int, flood: int) -> dict[str, Any]:
    with lab.Lab() as net:
        feed = _feeder(net.host(lab.TOR_IP), "feed", lab.TOR_IP, prefixes, max(1, prefixes // 1000))
        flooder = _feeder(net.host(FLOOD_IP), "flood", FLOOD_IP, flood, flood)
        wait_for(lambda: _ready(feed) and _ready(flooder), TIMEOUT, "the feeders' tables")
        watch = lab.Bird(net.host(WATCH_IP), asn=lab.TOR_ASN, router_id=WATCH_IP, name="watch")
        watch.add_neighbor(
            "frombgpd",
            lab.FLOATING_IP,
            lab.LOCAL_ASN,
            local_address=WATCH_IP,
            passive=True,
            families=("ipv4",),
            hold_time=HOLD_TIME,
        )
        watch.start()
        ref = lab.reference_bird(net.host(lab.REFERENCE_IP), "ref", "feed")
        peers = (lab.Peer("feed", lab.TOR_IP), lab.Peer("flood", FLOOD_IP), lab.Peer("watch", WATCH_IP))
        cluster = lab.cluster_yaml(nodes, pools=40, peers=peers)
        bgpd = lab.Bgpd(
            net.host(lab.FLOATING_IP),
            net.path("gw"),
            cluster,
            lab.bgpd_settings(defaults="  maxPrefixes: 0\n"),
        )
        phases: list[dict[str, Any]] = []
        lag = Lag(bgpd)
        received = prefixes + flood
        t0 = time.monotonic()
        bgpd.start()
        try:
            lab.watch(
                bgpd.received,
                bgpd.pid,
                received,
                timeout=TIMEOUT,
                what="bgpd's ingest",
                alive=bgpd.alive,
                interval=0.2,
            )
            lab.watch(
                lambda: watch.control.imported("frombgpd"),
                bgpd.pid,
                nodes,
                timeout=TIMEOUT,
                what="routes at watch",
            )
            phases.append(lag.phase("start", time.monotonic() - t0))
            up = watch.control.established_at("frombgpd")

            t0 = time.monotonic()
            listing = _listing(bgpd, net.path("listing.txt"))
            phases.append(lag.phase("listing", time.monotonic() - t0))

            t0 = time.monotonic()
            bgpd.config.write_text(lab.cluster_yaml(nodes, pools=40, peers=peers, extra_nodes=["10.0.200.1"]))
            bgpd.ask(Command.RELOAD, timeout=TIMEOUT)
            lab.watch(
                lambda: watch.control.imported("frombgpd"),
                bgpd.pid,
                nodes + 1,
                timeout=TIMEOUT,
                what="reload",
            )
            phases.append(lag.phase("reload", time.monotonic() - t0))

            t0 = time.monotonic()
            for _ in range(STATUS_REQUESTS):
                bgpd.ask(Command.SESSIONS)
                bgpd.ask(Command.STATUS)
            phases.append(lag.phase("status", time.monotonic() - t0))

            t0 = time.monotonic()
            flood_session = next(s["name"] for s in bgpd.sessions() if s["peerIP"] == FLOOD_IP)
            bgpd.ask(Command.RESET_SESSION, name=flood_session)
            lab.watch(
                lambda: -bgpd.received(),
                bgpd.pid,
                -prefixes,
                timeout=TIMEOUT,
                what="flood reset",
                interval=0.05,
            )
            lab.watch(bgpd.received, bgpd.pid, received, timeout=TIMEOUT, what="flood again", interval=0.2)
            phases.append(lag.phase("flood again", time.monotonic() - t0))

            stayed = watch.control.established_at("frombgpd") == up
            hold_expired = "Hold timer expired" in watch.log_text()
            worst = lag.read()
        finally:
            bgpd.stop()
        ref.start()
        lab.watch(
            lambda: ref.control.imported("feed"),
            ref.pid,
            lab.almost(prefixes),
            timeout=TIMEOUT,
            what="BIRD's ingest",
        )
        t0 = time.monotonic()
        bird_lines = ref.control.count_lines("show route protocol feed")
        bird_listing = time.monotonic() - t0
        ref.stop()
    return {
        "nodes": nodes,
        "prefixes": prefixes,
        "flood": flood,
        "phases": phases,
        "listing": listing,
        "bird_listing_s": bird_listing,
        "bird_listing_lines": bird_lines,
        "watch_stayed_up": stayed,
        "hold_timer_expired": hold_expired,
        "worst_late_ms": worst["worstMs"],
        "worst_busy_ms": worst["worstBusyMs"],
    }


def report(found: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: found[k] for k in ("nodes", "prefixes", "flood")}
    print(
        f"event loop: {found['nodes']} nodes, {found['prefixes']} routes fed, a flood of {found['flood']} "
        f"one-prefix UPDATEs, a session with hold time {HOLD_TIME} s"
    )
    print(f"{'phase':12} {'seconds':>8} {'late max':>9} {'late>50':>8} {'busy max':>9} {'busy>50':>8}")
    for phase in found["phases"]:
        print(
            f"{phase['phase']:12} {phase['seconds']:8.2f} {phase['late_max_ms']:>9} "
            f"{phase['late_over_budget']:8} {phase['busy_max_ms']:>9} {phase['busy_over_budget']:8}"
        )
    out["phases"] = found["phases"]
    listing = found["listing"]
    out["listing_s"] = round(listing["seconds"], 3)
    out["listing_lines"] = listing["lines"]
    out["bgpctl_rss_mib"] = round(listing["bgpctl_rss_mib"], 1)
    out["bgpd_listing_rss_growth_mib"] = round(listing["bgpd_rss_growth_mib"], 1)
    out["bird_listing_s"] = round(found["bird_listing_s"], 3)
    out["ratio_listing_s"] = lab.ratio(listing["seconds"], found["bird_listing_s"])
    print(
        f"listing of every received route: bgpd {listing['seconds']:.2f} s ({listing['lines']} lines, bgpctl "
        f"peak RSS {listing['bgpctl_rss_mib']:.0f} MiB, bgpd RSS +{listing['bgpd_rss_growth_mib']:.0f} MiB), "
        f"BIRD `show route` of its {found['prefixes']}: {found['bird_listing_s']:.2f} s "
        f"({found['bird_listing_lines']} lines): {out['ratio_listing_s']}×"
    )
    for key in ("watch_stayed_up", "hold_timer_expired", "worst_late_ms", "worst_busy_ms"):
        out[key] = found[key]
    print(
        f"hold-time-{HOLD_TIME} session stayed up: {found['watch_stayed_up']} (hold timer expired: "
        f"{found['hold_timer_expired']}); worst since start: late {found['worst_late_ms']} ms, loop CPU "
        f"between probes {found['worst_busy_ms']} ms (budget {BUDGET_MS:g} ms)"
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--flood", type=int, default=200_000)
    parser.add_argument(
        "--quick", action="store_true", help="200 nodes, 20,000 routes, a flood of 5,000 (CI)"
    )
    args = parser.parse_args(argv)
    nodes, prefixes, flood = (200, 20_000, 5_000) if args.quick else (args.nodes, args.prefixes, args.flood)
    return lab.finish("loop", lambda: run(nodes, prefixes, flood), report)


if __name__ == "__main__":
    sys.exit(main())
