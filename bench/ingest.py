"""Ingest and memory: a peer sends 1,000,000 prefixes; bgpd and BIRD each receive them, in one run.

The lab (``bench/lab.py``): one /16 segment; ``bench/feeder.py`` on the ToR's address, a sender of
pre-encoded UPDATEs (/24s, ``--attr-sets`` attribute sets, about 1,000 prefixes per UPDATE);
BIRD importing everything into its table; bgpd with a one-node cluster whose BGPPeer is the
feeder. The receivers connect one after the other, each ``--runs`` times, alternating, each a fresh
process.

Per receiver and run: the time from the feeder's Established (it starts writing) until the
receiver reports every prefix (BIRD: ``show protocols all``, bgpd: ``prefixesReceived`` of
``sessions``; both polled every 10 ms, so polling costs bgpd's loop a few per cent), its CPU time
in that span, and its resident set size (RSS) once it holds everything, with the peak (VmHWM).
The medians are printed with bgpd / BIRD ratios, then one JSON line.

    python bench/ingest.py [--prefixes 1000000] [--attr-sets 1000] [--runs 3] [--quick]   (root)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import lab
from tests.interop.netlab import Process, wait_for

TIMEOUT = 300.0
TAIL = 5.0  # seconds to wait for the last 1 % after the first 99 %
POLL = 0.01
MIB = 1 << 20


def _events(feeder: Process) -> list[dict[str, Any]]:
    return [json.loads(line) for line in feeder.log().splitlines() if line.startswith("{")]


def _established(feeder: Process, peer: str, after: float) -> float:
    for event in _events(feeder):
        if event["event"] == "established" and event["peer"] == peer and event["t"] >= after:
            return float(event["t"])
    raise lab.LabError(f"the feeder never saw {peer} established")


def _measure(
    start: Callable[[], int],
    stop: Callable[[], None],
    *,
    count: Callable[[], int],
    alive: Callable[[], bool],
    feeder: Process,
    peer: str,
    prefixes: int,
) -> dict[str, float | None]:
    """Start a receiver, watch it until it holds 99 % of the prefixes, then (for at most
    ``TAIL`` seconds) all of them, and stop it."""
    t0 = time.time()
    pid = start()
    what = f"ingest by {peer}"
    try:
        samples = lab.watch(
            count, pid, lab.almost(prefixes), timeout=TIMEOUT, what=what, alive=alive, interval=POLL
        )
        samples += lab.watch(
            count, pid, prefixes, timeout=TAIL, what=what, alive=alive, interval=POLL, required=False
        )
        _, peak = lab.memory(pid)
    finally:
        stop()
    established = _established(feeder, peer, t0)
    first = lab.at(samples, established)
    most = lab.first_at_least(samples, lab.almost(prefixes))
    done = samples[-1]
    return {
        "ingest_99pct_s": most.t - established,
        "ingest_all_s": done.t - established if done.count >= prefixes else None,
        "ingest_cpu_s": most.cpu - first.cpu,
        "rss_mib": done.rss / MIB,
        "rss_peak_mib": peak / MIB,
        "rss_before_mib": first.rss / MIB,
    }


def run(prefixes: int, attr_sets: int, runs: int) -> dict[str, Any]:
    with lab.Lab() as net:
        feeder_ns = net.host(lab.TOR_IP)
        argv = [sys.executable, str(lab.ROOT / "bench" / "feeder.py"), "--listen", lab.TOR_IP]
        argv += ["--prefixes", str(prefixes), "--attr-sets", str(attr_sets), "--asn", str(lab.TOR_ASN)]
        feeder = feeder_ns.spawn("feeder", argv)
        wait_for(lambda: any(e["event"] == "ready" for e in _events(feeder)), TIMEOUT, "the feeder's table")
        bird_ns = net.host(lab.REFERENCE_IP)
        birds: list[lab.Bird] = []

        def start_bird() -> int:
            bird = lab.reference_bird(bird_ns, f"rx{len(birds)}", "feed")
            birds.append(bird)
            bird.start()
            return bird.pid

        # no prefix limit: the default (20,000) would stop the session long before 1 M, and BIRD has none
        settings = lab.bgpd_settings(defaults="  maxPrefixes: 0\n")
        bgpd = lab.Bgpd(net.host(lab.FLOATING_IP), net.path("gw"), lab.cluster_yaml(1), settings)
        results: lab.Runs = {"bgpd": [], "bird": []}

        def stop_bird() -> None:
            birds[-1].stop()

        for _ in range(runs):
            results["bird"].append(
                _measure(
                    start_bird,
                    stop_bird,
                    count=lambda: birds[-1].control.imported("feed"),
                    alive=lambda: birds[-1].process is not None and birds[-1].process.alive(),
                    feeder=feeder,
                    peer=lab.REFERENCE_IP,
                    prefixes=prefixes,
                )
            )
            results["bgpd"].append(
                _measure(
                    lambda: bgpd.start().pid,
                    bgpd.stop,
                    count=bgpd.received,
                    alive=bgpd.alive,
                    feeder=feeder,
                    peer=lab.FLOATING_IP,
                    prefixes=prefixes,
                )
            )
    return {"prefixes": prefixes, "attr_sets": attr_sets, "runs": runs, "results": results}


def report(found: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: found[k] for k in ("prefixes", "attr_sets", "runs")}
    print(
        f"ingest: {found['prefixes']} prefixes, {found['attr_sets']} attribute sets; "
        f"median of {found['runs']} runs"
    )
    med = lab.compare(found["results"], out)["bgpd"]
    held, before = med["rss_mib"], med["rss_before_mib"]
    assert held is not None and before is not None
    per_prefix = (held - before) * MIB / found["prefixes"]
    out["bgpd_bytes_per_prefix"] = round(per_prefix, 1)
    print(f"bgpd: {per_prefix:.0f} bytes of RSS per received prefix (RSS held minus RSS when Established)")
    print(
        f"targets: ingest {out['ratio_ingest_99pct_s']:.2f}× BIRD's time (≤ 1.5), "
        f"RSS {out['ratio_rss_mib']:.2f}× BIRD's (≤ 1.5)"
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--attr-sets", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="25,000 prefixes (more than the default prefix limit), one run (the CI check)",
    )
    args = parser.parse_args(argv)
    prefixes, attr_sets, runs = (25_000, 25, 1) if args.quick else (args.prefixes, args.attr_sets, args.runs)
    return lab.finish("ingest", lambda: run(prefixes, attr_sets, runs), report)


if __name__ == "__main__":
    sys.exit(main())
