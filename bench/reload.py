"""Reload: one node added to a 10,000-node cluster file; how soon its route is at the ToR, at what CPU.

The lab (``bench/lab.py``): one /16 segment; the ToR (BIRD, passive, importing everything); bgpd
on the floating IP with a generated cluster (``--nodes`` nodes in ``--pools`` NodePools, one
session to the ToR); and a reference BIRD on another address announcing the same routes as static
routes via their nodes (``bgpd plan``'s allocation), as in ``bench/send.py``.

Once the ToR holds every route from both, ``--runs`` times in turn: BIRD gets one more static route
in its configuration file and ``configure`` on its control socket (BIRD re-reads its whole file:
``birdc configure``); bgpd gets one more node at the end of the first pool in its cluster file and
``reload`` on its control socket (what ``bgpctl reload`` and SIGHUP do). Per speaker and run:

- ``to_tor_s``: the request sent → the ToR holds the new route (polled every 2 ms);
- ``reply_s``: the request sent → its reply (bgpd answers once the reload is applied; BIRD once
  its new configuration is in force);
- ``cpu_s``: the speaker's CPU time (all threads) from the request until both happened.

Then the cost of a status request with this table (issue 11, target 3): 100 ``sessions`` requests
(what ``bgpctl get bgpsessions`` sends) against 100 ``show protocols all`` of the reference BIRD's
session, each speaker's CPU per request with its idle CPU taken off (``lab.request_cost``).

Afterwards the checks of "nothing of correctness may be lost": the ToR's sessions never went down
(their Established times are unchanged: no flap), and the routes the ToR holds from bgpd are, prefix
for prefix and next hop for next hop, the routes a full plan of the final file with bgpd's ledger
gives (``bgpd plan --state-dir``).

The medians are printed with bgpd / BIRD ratios, then one JSON line.

    python bench/reload.py [--nodes 10000] [--pools 40] [--runs 5] [--quick]   (root: namespaces)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import lab
from bgpd.control.protocol import Command

TIMEOUT = 300.0
STATUS_REQUESTS = 100


def added_node(run: int) -> str:
    """The address of the node added in ``run``: past the generated ones (10.0.0.1 … 10.0.65.x)."""
    return f"10.0.200.{run + 1}"


def _measure(
    pid: int, ask: Callable[[], None], held: Callable[[], int], target: int, what: str
) -> dict[str, float]:
    """Send a reload request (``ask`` returns when its reply came) and watch the ToR until it holds
    ``target`` routes from the speaker."""
    cpu0 = lab.cpu_seconds(pid)
    t0 = time.time()
    ask()
    replied = time.time()
    arrived = lab.watch(held, pid, target, timeout=TIMEOUT, what=what)[-1]
    return {"to_tor_s": arrived.t - t0, "reply_s": replied - t0, "cpu_s": arrived.cpu - cpu0}


def run(nodes: int, pools: int, runs: int) -> dict[str, Any]:
    with lab.Lab() as net:
        tor = lab.Bird(net.host(lab.TOR_IP), asn=lab.TOR_ASN, router_id=lab.TOR_IP, name="tor")
        for name, address in (("frombgpd", lab.FLOATING_IP), ("frombird", lab.REFERENCE_IP)):
            tor.add_neighbor(
                name, address, lab.LOCAL_ASN, local_address=lab.TOR_IP, passive=True, families=("ipv4",)
            )
        tor.start()
        bgpd = lab.Bgpd(
            net.host(lab.FLOATING_IP),
            net.path("gw"),
            lab.cluster_yaml(nodes, pools=pools),
            lab.bgpd_settings(),
        )
        routes = lab.planned_routes(bgpd.config)
        ref = lab.reference_bird(net.host(lab.REFERENCE_IP), "ref", "tor")
        for prefix, next_hop in routes.items():
            ref.add_static(prefix, via=next_hop)
        ref.start()
        bgpd_pid = bgpd.start().pid
        try:
            for protocol, pid in (("frombird", ref.pid), ("frombgpd", bgpd_pid)):
                lab.watch(
                    lambda p=protocol: tor.control.imported(p),
                    pid,
                    len(routes),
                    timeout=TIMEOUT,
                    what=protocol,
                )
            up = {p: tor.control.established_at(p) for p in ("frombgpd", "frombird")}
            results: lab.Runs = {"bgpd": [], "bird": []}
            extra: list[str] = []
            for index in range(runs):
                held = len(routes) + index + 1
                extra.append(added_node(index))
                # BIRD: one more static route, its file re-read with ``configure``.
                ref.add_static(f"100.127.{index}.0/24", via=extra[-1])
                ref.write_config()

                def configure() -> None:
                    answer = ref.control.command("configure")
                    if "Reconfigur" not in answer:
                        raise lab.LabError(f"BIRD configure: {answer}")

                results["bird"].append(
                    _measure(
                        ref.pid, configure, lambda: tor.control.imported("frombird"), held, "BIRD's new route"
                    )
                )
                # bgpd: one more node in its cluster file, ``reload``.
                bgpd.config.write_text(
                    lab.cluster_yaml(nodes, pools=pools, extra_nodes=extra), encoding="utf-8"
                )
                results["bgpd"].append(
                    _measure(
                        bgpd_pid,
                        lambda: bgpd.ask(Command.RELOAD, timeout=TIMEOUT),
                        lambda: tor.control.imported("frombgpd"),
                        held,
                        "bgpd's new route",
                    )
                )
            status = {
                "bgpd": lab.request_cost(bgpd_pid, lambda: bgpd.ask(Command.SESSIONS), STATUS_REQUESTS),
                "bird": lab.request_cost(
                    ref.pid, lambda: ref.control.command("show protocols all tor"), STATUS_REQUESTS
                ),
            }
            flaps = sum(tor.control.established_at(p) != at for p, at in up.items())
            expected = lab.planned_routes(bgpd.config, bgpd.state)
            at_tor = tor.control.next_hops("frombgpd")
        finally:
            bgpd.stop()
            ref.stop()
    return {
        "nodes": nodes,
        "pools": pools,
        "runs": runs,
        "results": results,
        "status": status,
        "flaps": flaps,
        "routes": len(at_tor),
        "differing_routes": len(set(at_tor.items()) ^ set(expected.items())),
    }


def report(found: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: found[k] for k in ("nodes", "pools", "runs")}
    print(
        f"reload: one node (one static route for BIRD) added to {found['nodes']} nodes in "
        f"{found['pools']} pools; median of {found['runs']} runs"
    )
    lab.compare(found["results"], out)
    lab.status_report(found["status"], out, f"1 session, {found['nodes']} routes")
    for key in ("flaps", "routes", "differing_routes"):
        out[key] = found[key]
    print(
        f"sessions that went down: {found['flaps']}; routes at the ToR from bgpd: {found['routes']}, "
        f"differing from a full plan of the final file: {found['differing_routes']}"
    )
    print(
        f"targets: new route at the ToR in {out['bgpd_to_tor_s']:.3f} s (≤ 0.1 s), "
        f"{out['ratio_to_tor_s']:.2f}× BIRD's configure (≤ 5), {out['bgpd_cpu_s']:.3f} CPU s (≤ 0.1)"
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--pools", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="200 nodes in 4 pools, two runs (the CI check)")
    args = parser.parse_args(argv)
    nodes, pools, runs = (200, 4, 2) if args.quick else (args.nodes, args.pools, args.runs)
    return lab.finish("reload", lambda: run(nodes, pools, runs), report)


if __name__ == "__main__":
    sys.exit(main())
