"""Benchmark: plan a generated 5,000-node cluster (20 pools, dual stack, 4 peers × 2 sessions).

Times ``bgpd plan -o json`` end to end in a subprocess (interpreter start, YAML, validation,
allocation, JSON out) and, in process, loading the manifests and ``build_plan`` alone. The target
is under 1 s end to end; the ratio to it is reported, not enforced (bench/README.md). Prints the
numbers, then one JSON line with them for tooling.

    python bench/plan.py [--nodes 5000] [--pools 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgpd.manifests import load_manifests  # noqa: E402
from bgpd.plan import LocalAddress, Settings, build_plan  # noqa: E402
from bgpd.rib.ledger import Ledger  # noqa: E402

NS = "cluster-bench"
TARGET_S = 1.0  # issue 3: `bgpd plan` end to end under 1 s for this cluster (reported, not enforced)


def _meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": NS, **extra}


def generate(nodes: int, pools: int) -> list[dict[str, Any]]:
    """Pool p holds nodes 172.16.p.n / 2001:db8:p::n and is served by its own ClusterCIDRConfig."""
    per_pool = -(-nodes // pools)
    if per_pool > 250:
        raise SystemExit(f"at most 250 nodes per pool in this generator (asked {per_pool})")
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "baremetal.cluster.gke.io/v1",
            "kind": "Cluster",
            "metadata": _meta("bench"),
            "spec": {
                "type": "user",
                "clusterNetwork": {
                    "advancedNetworking": True,
                    "flatIPv4": True,
                    "services": {"cidrBlocks": ["10.96.0.0/12", "fd00:96::/112"]},
                },
            },
        }
    ]
    left = nodes
    for p in range(pools):
        count = min(per_pool, left)
        left -= count
        pool_nodes = [
            {"address": f"172.16.{p}.{n + 1}", "ipv6Address": f"2001:db8:{p}::{n + 1:x}"}
            for n in range(count)
        ]
        docs.append(
            {
                "apiVersion": "baremetal.cluster.gke.io/v1",
                "kind": "NodePool",
                "metadata": _meta(f"pool-{p:02d}"),
                "spec": {"clusterName": "bench", "nodes": pool_nodes, "labels": {"rack": f"r{p}"}},
            }
        )
        docs.append(
            {
                "apiVersion": "baremetal.cluster.gke.io/v1alpha1",
                "kind": "ClusterCIDRConfig",
                "metadata": _meta(f"pool-{p:02d}"),
                "spec": {
                    "ipv4": {"cidr": f"10.{p}.0.0/16", "perNodeMaskSize": 24},
                    "ipv6": {"cidr": f"fd00:0:0:{p:x}::/64", "perNodeMaskSize": 120},
                    "nodeSelector": {"matchLabels": {"baremetal.cluster.gke.io/node-pool": f"pool-{p:02d}"}},
                },
            }
        )
    docs.append(
        {
            "apiVersion": "networking.gke.io/v1",
            "kind": "NetworkGatewayGroup",
            "metadata": _meta("default"),
            "spec": {"floatingIPs": ["192.0.2.100", "192.0.2.101", "192.0.2.102", "192.0.2.103"]},
        }
    )
    docs.append(
        {
            "apiVersion": "baremetal.cluster.gke.io/v1alpha1",
            "kind": "FlatIPMode",
            "metadata": _meta("default"),
            "spec": {"enableBGPIPv4": True, "enableBGPIPv6": True, "peerSelector": {"flat": "true"}},
        }
    )
    docs += [
        {
            "apiVersion": "networking.gke.io/v1",
            "kind": "BGPPeer",
            "metadata": _meta(f"tor{i}", labels={"flat": "true"}),
            "spec": {"localASN": 65001, "peerASN": 65100 + i, "peerIP": f"192.0.2.{250 + i}", "sessions": 2},
        }
        for i in range(4)
    ]
    return docs


def _timed(runs: int, action: Any) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pools", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cluster.yaml"
        path.write_text(yaml.safe_dump_all(generate(args.nodes, args.pools), sort_keys=False))
        command = [sys.executable, "-m", "bgpd", "plan", "--config", str(path), "-o", "json"]
        outputs: list[str] = []

        def end_to_end() -> None:
            result = subprocess.run(
                command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
            )
            outputs.append(result.stdout)

        e2e = _timed(args.runs, end_to_end)
        plan_json = json.loads(outputs[-1])
        loaded = load_manifests(path)
        load = _timed(args.runs, lambda: load_manifests(path))
        held = [LocalAddress(ipaddress.ip_address("192.0.2.100"), ipaddress.ip_network("192.0.2.0/24"))]
        plan_times = _timed(
            args.runs, lambda: build_plan(loaded.manifests, Settings(), Ledger.empty(), held, now=0)
        )
        size = path.stat().st_size
    result: dict[str, float | int] = {
        "nodes": len(plan_json["nodes"]),
        "sessions": len(plan_json["sessions"]),
        "routes": len(plan_json["routes"]),
        "problems": len(plan_json["problems"]),
        "file_bytes": size,
        "end_to_end_s": round(statistics.median(e2e), 4),
        "load_manifests_s": round(statistics.median(load), 4),
        "build_plan_s": round(statistics.median(plan_times), 4),
        "target_end_to_end_s": TARGET_S,
    }
    result["end_to_end_vs_target"] = round(result["end_to_end_s"] / TARGET_S, 3)
    print(f"cluster: {result['nodes']} nodes, {args.pools} pools, {result['file_bytes']} bytes of YAML")
    print(f"plan:    {result['sessions']} sessions, {result['routes']} routes, {result['problems']} problems")
    print(f"bgpd plan -o json, end to end (median of {args.runs}): {result['end_to_end_s']:.3f} s")
    print(f"load_manifests alone:                         {result['load_manifests_s']:.3f} s")
    print(f"build_plan alone:                             {result['build_plan_s']:.3f} s")
    print(f"end to end / target ({TARGET_S:.1f} s):                   {result['end_to_end_vs_target']:.2f}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
