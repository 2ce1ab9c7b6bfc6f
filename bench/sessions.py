"""Many sessions to one ToR: how soon 500 sessions are all Established, and what a status request costs.

The lab (``bench/lab.py``): one /16 segment; the ToR (BIRD, passive, one BGP protocol per
neighbor address, importing everything); bgpd holding ``--sessions`` floating IPs (10.0.250.1 …),
with a generated cluster of ``--nodes`` nodes whose one BGPPeer (the ToR) asks for a session from
each floating IP; and a reference BIRD holding as many addresses of its own (10.0.252.1 …), one
protocol per address to the ToR, announcing the same routes (``bgpd plan``'s allocation), each
connecting at once (``connect delay time 0``).

The reference cannot do exactly bgpd's job: BIRD runs one protocol at a time per neighbor address
(an object lock on the remote address and port), so its sessions go to as many addresses of the
ToR (10.0.246.1 …). The ToR still accepts all of them on one listening socket (BIRD listens on
the wildcard address), whose backlog BIRD sets to 8: connecting all at once overflows it, and the
sessions whose connections the ToR never accepted sit in OpenSent until their hold timer (issue
11; bgpd paces its connects per peer, ``bgpd/speaker/connect_gate.py``). The target (≤ 10 s in
every run) is absolute.

Each measurement gets a fresh ToR (started before the speaker, stopped after): a run whose
sessions got stuck leaves the ToR's listening queue full of dead connections for a while, which
would slow whoever comes next.

Per speaker and run (``--runs``, alternating, each a fresh process; bgpd a first boot):

- ``all_established_s``: process start → the ToR has every session of that speaker Established
  (the last one's Established time as BIRD records it, with milliseconds);
- ``half_established_s``: the same for half of them;
- ``up_at_end``: how many were Established when watching stopped (all, or those up after
  ``TIMEOUT``: a run that got stuck, as issue 11 saw, has ``all_established_s`` null).

Once, while all of bgpd's sessions are up (the last run): the cost of a status request (issue 11,
target 3) — 100 ``sessions`` requests (what ``bgpctl get bgpsessions`` sends) against 100
``show protocols all`` of the reference BIRD with its sessions up, each speaker's CPU per request with
its idle CPU taken off (``lab.request_cost``).

The medians are printed with bgpd / BIRD ratios, the slowest run of each, then one JSON line.

    python bench/sessions.py [--sessions 500] [--nodes 20] [--runs 3] [--quick]   (root: namespaces)
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

TIMEOUT = 120.0  # per run: a session not up by then is stuck (issue 11 saw 116 s and 221 s)
POLL = 0.05
STATUS_REQUESTS = 100


def addresses(first_octet: int, count: int) -> list[str]:
    """``count`` addresses from 10.0.<first_octet>.1 on, 250 per /24."""
    return [f"10.0.{first_octet + i // 250}.{i % 250 + 1}" for i in range(count)]


def _measure(
    start: Callable[[], int], stop: Callable[[], None], *, tor: lab.Bird, names: set[str]
) -> dict[str, float | None]:
    """Start the ToR (a fresh one: sessions stuck in an earlier run leave its listening socket's
    queue full of dead connections for a while), then a speaker, and watch the ToR until every
    protocol in ``names`` is Established (or ``TIMEOUT`` passed: then ``all_established_s`` is None
    and ``up_at_end`` says how many were)."""
    tor.start(timeout=60.0)
    try:
        t0 = time.time()
        pid = start()
        try:
            lab.watch(
                lambda: len(names & tor.control.established().keys()),
                pid,
                len(names),
                timeout=TIMEOUT,
                what=f"{len(names)} sessions",
                interval=POLL,
                required=False,
            )
            times = sorted(t for name, t in tor.control.established().items() if name in names)
        finally:
            stop()
    finally:
        tor.stop()
    return {
        "all_established_s": times[-1] - t0 if len(times) == len(names) else None,
        "half_established_s": times[len(names) // 2] - t0 if len(times) > len(names) // 2 else None,
        "up_at_end": len(times),
    }


def run(sessions: int, nodes: int, runs: int) -> dict[str, Any]:
    ours, theirs, tor_side = addresses(250, sessions), addresses(252, sessions), addresses(246, sessions)
    with lab.Lab() as net:
        tor_ns = net.host(lab.TOR_IP, *tor_side)
        tors: list[lab.Bird] = []

        def tor(neighbors: Sequence[tuple[str, str, str]]) -> lab.Bird:
            """A ToR (not started) with passive protocols (name, neighbor, local address)."""
            made = lab.Bird(tor_ns, asn=lab.TOR_ASN, router_id=lab.TOR_IP, name=f"tor{len(tors)}")
            for name, address, local in neighbors:
                made.add_neighbor(
                    name, address, lab.LOCAL_ASN, local_address=local, passive=True, families=("ipv4",)
                )
            tors.append(made)
            return made

        bgpd = lab.Bgpd(
            net.host(*ours),
            net.path("gw"),
            lab.cluster_yaml(
                nodes, floating_ips=ours, peers=(lab.Peer("tor", lab.TOR_IP, sessions=sessions),)
            ),
            lab.bgpd_settings(addresses=ours),
        )
        routes = lab.planned_routes(bgpd.config)
        ref_ns = net.host(*theirs)
        net.know_neighbors(tor_ns, bgpd.ns, ours)
        net.know_neighbors(tor_ns, ref_ns, theirs)
        net.know_neighbors(ref_ns, tor_ns, tor_side)
        refs: list[lab.Bird] = []

        def start_reference() -> int:
            ref = lab.Bird(ref_ns, asn=lab.LOCAL_ASN, router_id=theirs[0], name=f"ref{len(refs)}")
            for i, (address, remote) in enumerate(zip(theirs, tor_side, strict=True)):
                ref.add_neighbor(
                    f"tor{i}",
                    remote,
                    lab.TOR_ASN,
                    local_address=address,
                    families=("ipv4",),
                    options=(lab.BIRD_CONNECT_NOW,),
                )
            for prefix, next_hop in routes.items():
                ref.add_static(prefix, via=next_hop)
            refs.append(ref)
            ref.start()
            return ref.pid

        status: dict[str, tuple[float, float]] = {}

        def status_of_bird() -> None:
            status["bird"] = lab.request_cost(
                refs[-1].pid, lambda: refs[-1].control.command('show protocols all "tor*"'), STATUS_REQUESTS
            )

        def status_of_bgpd() -> None:
            status["bgpd"] = lab.request_cost(bgpd.pid, lambda: bgpd.ask(Command.SESSIONS), STATUS_REQUESTS)

        ours_at_tor = [(f"g{i}", address, lab.TOR_IP) for i, address in enumerate(ours)]
        theirs_at_tor = [
            (f"r{i}", address, local) for i, (address, local) in enumerate(zip(theirs, tor_side, strict=True))
        ]
        results: lab.Runs = {"bgpd": [], "bird": []}
        for index in range(runs):
            last = index == runs - 1

            def stop_reference(last: bool = last) -> None:
                if last:
                    status_of_bird()
                refs[-1].stop()

            def stop_bgpd(last: bool = last) -> None:
                if last:
                    status_of_bgpd()
                bgpd.stop()

            results["bird"].append(
                _measure(
                    start_reference,
                    stop_reference,
                    tor=tor(theirs_at_tor),
                    names={n for n, _, _ in theirs_at_tor},
                )
            )
            results["bgpd"].append(
                _measure(
                    lambda: bgpd.start().pid,
                    stop_bgpd,
                    tor=tor(ours_at_tor),
                    names={n for n, _, _ in ours_at_tor},
                )
            )
    return {"sessions": sessions, "nodes": nodes, "runs": runs, "results": results, "status": status}


def report(found: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: found[k] for k in ("sessions", "nodes", "runs")}
    print(
        f"sessions: {found['sessions']} sessions to one ToR, {found['nodes']} routes each; "
        f"median of {found['runs']} runs"
    )
    lab.compare(found["results"], out)
    for who in ("bgpd", "bird"):
        runs = found["results"][who]
        stuck = [r["up_at_end"] for r in runs if r["all_established_s"] is None]
        out[f"{who}_runs_not_all_up"] = len(stuck)
        out[f"{who}_slowest_all_established_s"] = (
            None if stuck else round(max(r["all_established_s"] for r in runs), 3)
        )
        slowest = out[f"{who}_slowest_all_established_s"]
        print(
            f"{who}: slowest run to all Established: "
            + (f"{slowest:.2f} s" if slowest is not None else f"not within {TIMEOUT:g} s ({stuck} up)")
            + (" (target ≤ 10 s in every run)" if who == "bgpd" else "")
        )
    lab.status_report(found["status"], out, f"{found['sessions']} sessions")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 sessions, 5 nodes, one run (the CI check)")
    args = parser.parse_args(argv)
    sessions, nodes, runs = (20, 5, 1) if args.quick else (args.sessions, args.nodes, args.runs)
    if not 0 < sessions <= 500:
        parser.error("1 to 500 sessions (two /24s of addresses per speaker)")
    return lab.finish("sessions", lambda: run(sessions, nodes, runs), report)


if __name__ == "__main__":
    sys.exit(main())
