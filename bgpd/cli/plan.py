"""``bgpd plan``: show the allocations, sessions and routes the daemon would run, without running it.

Without ``--state-dir`` it plans from an empty ledger and writes nothing. With it, the ledger is
read (a corrupt one is an error, never replaced) and written back only with ``--commit``; the
current time and the settings' ``allocation.reservationTime`` decide the reservations, as in the
daemon. ``-o nodes`` prints the allocation as a ``kind: List`` of Node objects (docs/allocation.md).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bgpd.cli.check import add_config_arguments, load
from bgpd.daemon.host.statefile import load_ledger, save_ledger
from bgpd.plan import Plan, build_plan
from bgpd.plan.allocation import AllocationPolicy, node_list
from bgpd.plan.settings import SettingsError, load_settings
from bgpd.rib.ledger import Ledger, LedgerError, format_time


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show the pod-CIDR allocations, BGP sessions and routes",
        description="Show the plan: pod-CIDR allocations, BGP sessions and the routes they announce.",
    )
    add_config_arguments(parser)
    parser.add_argument("--state-dir", type=Path, metavar="DIR", help="read the allocation ledger from DIR")
    parser.add_argument(
        "--local-address",
        action="append",
        default=[],
        type=_address,
        metavar="IP",
        help="a floating IP this host holds (repeat); its sessions are marked local",
    )
    parser.add_argument(
        "--settings", type=Path, metavar="FILE", help="daemon settings (for allocation.reservationTime)"
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("table", "json", "yaml", "nodes"),
        default="table",
        help="nodes: the allocation as a List of Node objects, to apply and to add to the file",
    )
    parser.add_argument("--commit", action="store_true", help="write the new ledger to --state-dir")
    parser.set_defaults(handler=run)


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address") from None


def run(args: argparse.Namespace) -> int:
    if args.commit and args.state_dir is None:
        print("bgpd plan: --commit needs --state-dir (where the ledger is kept)", file=sys.stderr)
        return 2
    loaded = load(args)
    if loaded is None:
        return 1
    try:
        ledger = load_ledger(args.state_dir) if args.state_dir is not None else Ledger.empty()
        settings = load_settings(args.settings)
    except (LedgerError, SettingsError, OSError) as error:
        print(f"bgpd plan: {error}", file=sys.stderr)
        return 1
    policy = AllocationPolicy(int(time.time()), settings.allocation.reservation_time)
    plan = build_plan(loaded.manifests, ledger, args.local_address, policy)
    if args.output == "nodes":
        for problem in plan.problems:
            print(f"bgpd plan: node {problem.node}: {problem.reason}", file=sys.stderr)
        sys.stdout.write(yaml.safe_dump(node_list(loaded.manifests, plan.ledger), sort_keys=False))
    elif args.output == "json":
        sys.stdout.write(json.dumps(as_data(plan), indent=1) + "\n")
    elif args.output == "yaml":
        sys.stdout.write(yaml.safe_dump(as_data(plan), sort_keys=False))
    else:
        sys.stdout.write(as_tables(plan))
    if args.commit:
        try:
            save_ledger(args.state_dir, plan.ledger)
        except OSError as error:
            print(f"bgpd plan: cannot write the ledger in {args.state_dir}: {error}", file=sys.stderr)
            return 1
        print(f"bgpd plan: ledger written to {args.state_dir}", file=sys.stderr)
    return 0


def as_data(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """The plan as the documented JSON object (also the YAML output)."""
    return {
        "nodes": [
            {
                "name": n.name,
                "address": n.address,
                "ipv6Address": n.ipv6_address,
                "nodePool": n.pool,
                "clusterCIDRConfig": n.config,
                "podCIDRs": list(n.pod_cidrs),
            }
            for n in plan.nodes
        ],
        "sessions": [
            {
                "name": s.name,
                "peer": s.peer,
                "localIP": s.local_ip,
                "peerIP": s.peer_ip,
                "localASN": s.local_asn,
                "peerASN": s.peer_asn,
                "families": [str(f) for f in s.families],
                "local": s.local,
            }
            for s in plan.sessions
        ],
        "routes": [
            {"name": r.name, "prefix": r.prefix, "nextHop": r.next_hop, "family": str(r.family)}
            for r in plan.routes
        ],
        "problems": [{"node": p.node, "reason": p.reason} for p in plan.problems],
        "reserved": [
            {
                "node": r.node,
                "podCIDRs": [c for c in (r.allocation.ipv4, r.allocation.ipv6) if c is not None],
                "missingSince": format_time(r.missing_since),
            }
            for r in plan.ledger.reserved
        ],
    }


def as_tables(plan: Plan) -> str:
    nodes = [
        [n.name, n.address, n.ipv6_address or "-", n.pool, n.config or "-", n.ipv4 or "-", n.ipv6 or "-"]
        for n in plan.nodes
    ]
    sessions = [
        [
            s.name,
            str(s.local_asn),
            str(s.peer_asn),
            s.local_ip,
            s.peer_ip,
            ",".join(str(f) for f in s.families) or "-",
            str(len(plan.routes_for(s))),
            "yes" if s.local else "no",
        ]
        for s in plan.sessions
    ]
    routes = [[r.name, r.prefix, r.next_hop, str(r.family)] for r in plan.routes]
    parts = [
        "ALLOCATIONS",
        _table(
            ["NODE", "ADDRESS", "IPV6 ADDRESS", "NODEPOOL", "CLUSTERCIDRCONFIG", "IPV4 BLOCK", "IPV6 BLOCK"],
            nodes,
        ),
        "SESSIONS",
        _table(
            ["NAME", "LOCAL ASN", "PEER ASN", "LOCAL IP", "PEER IP", "FAMILIES", "ROUTES", "LOCAL"], sessions
        ),
        "ROUTES",
        _table(["NAME", "PREFIX", "NEXT HOP", "FAMILY"], routes),
    ]
    if plan.problems:
        parts += ["PROBLEMS", _table(["NODE", "REASON"], [[p.node, p.reason] for p in plan.problems])]
    if plan.ledger.reserved:
        reserved = [
            [r.node, r.allocation.ipv4 or "-", r.allocation.ipv6 or "-", format_time(r.missing_since)]
            for r in plan.ledger.reserved
        ]
        parts += ["RESERVED", _table(["NODE", "IPV4 BLOCK", "IPV6 BLOCK", "MISSING SINCE"], reserved)]
    return "\n".join(parts)


def _table(header: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "(none)\n"
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines) + "\n"
