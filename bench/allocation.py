"""Benchmark: what reservations and Node documents cost the allocator, against plain allocation.

On a generated cluster (``--nodes`` nodes in 20 pools, dual stack, one ClusterCIDRConfig per pool)
it times, in process, the median of ``--runs``:

- reference: a restart with every node in the ledger (``allocate`` keeping recorded blocks);
- reserved: the same with a tenth of the nodes missing from the file, their blocks reserved;
- pinned: every node pinned by a Node document, against a ledger that contradicts a tenth of them.

Prints each time and its ratio to the reference, then one JSON line for tooling.

    python bench/allocation.py [--nodes 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgpd.rib.allocator import CidrConfig, CidrRange, NodeSpec, PodCidrs, allocate  # noqa: E402
from bgpd.rib.ledger import Ledger, NodeAllocation  # noqa: E402

POOLS = 20
POOL = "baremetal.cluster.gke.io/node-pool"
T0 = 1_740_830_400


def cluster(nodes: int) -> tuple[list[NodeSpec], list[CidrConfig]]:
    configs = [
        CidrConfig(
            f"pool-{p}",
            ((POOL, f"p{p}"),),
            CidrRange(f"10.{p}.0.0/16", 26),
            CidrRange(f"fd{p:02x}::/104", 120),
        )
        for p in range(POOLS)
    ]
    specs = [NodeSpec(f"node-{i:05}", ((POOL, f"p{i % POOLS}"),)) for i in range(nodes)]
    return specs, configs


def _median(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    specs, configs = cluster(args.nodes)
    ledger = allocate(specs, configs, Ledger.empty(), now=T0, reservation_time=86400).ledger
    present = [s for i, s in enumerate(specs) if i % 10]
    reserved = allocate(present, configs, ledger, now=T0, reservation_time=86400).ledger
    assert len(reserved.reserved) == args.nodes // 10
    pinned: dict[str, PodCidrs] = {e.node: (e.ipv4, e.ipv6) for e in ledger.entries}
    # a tenth of the ledger swapped pairwise: each of those nodes contradicts its Node document
    entries = list(ledger.entries)
    for i in range(0, len(entries) - 20, 100):
        a, b = entries[i], entries[i + 20]  # same pool (20 pools, round robin)
        entries[i] = NodeAllocation(a.node, a.config, b.ipv4, b.ipv6)
        entries[i + 20] = NodeAllocation(b.node, b.config, a.ipv4, a.ipv6)
    contradicting = Ledger.of(entries)

    reference = _median(args.runs, lambda: allocate(specs, configs, ledger, now=T0, reservation_time=86400))
    with_reserved = _median(
        args.runs, lambda: allocate(present, configs, reserved, now=T0 + 60, reservation_time=86400)
    )
    with_pins = _median(
        args.runs,
        lambda: allocate(specs, configs, contradicting, now=T0, reservation_time=86400, pinned=pinned),
    )
    result = {
        "nodes": args.nodes,
        "reference_s": round(reference, 4),
        "reserved_s": round(with_reserved, 4),
        "reserved_ratio": round(with_reserved / reference, 2),
        "pinned_s": round(with_pins, 4),
        "pinned_ratio": round(with_pins / reference, 2),
    }
    print(f"restart, every node recorded (reference):    {reference:.3f} s")
    print(
        f"a tenth of the nodes missing, reserved:      {with_reserved:.3f} s  ({result['reserved_ratio']}x)"
    )
    print(f"every node pinned, a tenth contradicting:    {with_pins:.3f} s  ({result['pinned_ratio']}x)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
