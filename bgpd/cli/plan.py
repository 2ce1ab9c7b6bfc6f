"""``bgpd plan``: show what ``bgpd run`` would do with the same inputs, without running it.

The same inputs as ``bgpd run`` and ``bgpd check``: the cluster file, the settings (``--settings``)
and the addresses this host holds (``--local-address IP[/LEN]``, else the settings'
``localAddresses``, else the host's own addresses). The output is the plan the daemon executes:
allocations, every session with its settings, and for each session run here the routes it exports
and every route it leaves out with the reason.

Without ``--state-dir`` it plans from an empty ledger and writes nothing. With it, the ledger is
read (a corrupt one is an error, never replaced) and written back only with ``--commit``, and the
maintenance state is read too (sessions disabled or drained with ``bgpctl``), as ``bgpd run`` does;
the current time and the settings' ``allocation.reservationTime`` decide the reservations, as in the
daemon. ``-o nodes`` prints the allocation as a ``kind: List`` of Node objects (docs/allocation.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bgpd.cli.check import add_input_arguments, load_inputs
from bgpd.daemon.heap import collector_paused
from bgpd.daemon.host.statefile import load_ledger, load_maintenance, save_ledger
from bgpd.plan import Plan, Session
from bgpd.plan.allocation import node_list
from bgpd.plan.maintenance import Maintenance, MaintenanceError
from bgpd.plan.session_config import declared_settings
from bgpd.rib.ledger import Ledger, LedgerError, format_time


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show the pod-CIDR allocations, BGP sessions and the routes each one exports",
        description="Show the plan bgpd run executes: allocations, sessions with their settings, "
        "and per session the routes it exports and those it leaves out, with the reason.",
    )
    add_input_arguments(parser)
    parser.add_argument("--state-dir", type=Path, metavar="DIR", help="read the allocation ledger from DIR")
    parser.add_argument(
        "-o",
        "--output",
        choices=("table", "json", "yaml", "nodes"),
        default="table",
        help="table (default), json, yaml; nodes: the allocation as a List of Node objects, "
        "to apply and to add to the cluster file",
    )
    parser.add_argument("--commit", action="store_true", help="write the new ledger to --state-dir")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    with collector_paused():  # one shot that keeps what it makes (``bgpd.daemon.heap``)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.commit and args.state_dir is None:
        print("bgpd plan: --commit needs --state-dir (where the ledger is kept)", file=sys.stderr)
        return 2
    inputs = load_inputs(args)
    if inputs is None:
        return 1
    try:
        ledger = load_ledger(args.state_dir) if args.state_dir is not None else Ledger.empty()
        maintenance = load_maintenance(args.state_dir) if args.state_dir is not None else Maintenance()
    except (LedgerError, MaintenanceError, OSError) as error:
        print(f"bgpd plan: {error}", file=sys.stderr)
        return 1
    plan = inputs.plan(ledger, int(time.time()), maintenance)
    if args.output == "nodes":
        for problem in plan.problems:
            print(f"bgpd plan: node {problem.node}: {problem.reason}", file=sys.stderr)
        sys.stdout.write(yaml.safe_dump(node_list(inputs.loaded.manifests, plan.ledger), sort_keys=False))
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


def _json_value(value: object) -> object:
    return value if value is None or isinstance(value, bool | int | float) else str(value)


def session_settings(session: Session) -> dict[str, Any]:
    """The session's router ID and every declared setting, by its settings-file key (a grouped
    key, ``gracefulRestart.restartTime``, nested as in the file)."""
    values: dict[str, Any] = {"routerID": str(session.config.router_id)}
    for row in declared_settings():
        group, dot, key = row.key.rpartition(".")
        where = values.setdefault(group, {}) if dot else values
        where[key] = _json_value(getattr(session.config, row.name))
    return values


def session_data(session: Session) -> dict[str, Any]:
    return {
        "name": session.name,
        "peer": session.peer,
        "localIP": session.local_ip,
        "peerIP": session.peer_ip,
        "localASN": session.local_asn,
        "peerASN": session.peer_asn,
        "families": [str(f) for f in session.families],
        "local": session.local,
        "segment": str(session.segment) if session.segment is not None else None,
        "settings": session_settings(session),
        "disabled": session.disabled is not None,
        "drained": session.drained,
        "routes": [a.prefix for a in session.announced],
        "announced": [
            {
                "prefix": a.prefix,
                "nextHop": a.next_hop,
                "communities": list(a.communities),
                "reason": a.reason,
            }
            for a in session.announced
        ],
        "skipped": [{"prefix": s.prefix, "reason": s.reason} for s in session.skipped],
    }


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
        "sessions": [session_data(s) for s in plan.sessions],
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
            "yes" if s.local else "no",
            str(s.segment) if s.segment is not None else "-",
            str(len(s.announced)) if s.local else "-",
            str(len(s.skipped)) if s.local else "-",
        ]
        for s in plan.sessions
    ]
    exports = [
        row
        for s in plan.sessions
        for row in (
            *([s.name, a.prefix, a.next_hop, a.reason] for a in s.announced),
            *([s.name, k.prefix, "-", f"left out: {k.reason}"] for k in s.skipped),
        )
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
            [
                "NAME",
                "LOCAL ASN",
                "PEER ASN",
                "LOCAL IP",
                "PEER IP",
                "FAMILIES",
                "LOCAL",
                "SEGMENT",
                "ROUTES",
                "SKIPPED",
            ],
            sessions,
        ),
        "EXPORTS",
        _table(["SESSION", "PREFIX", "NEXT HOP", "REASON"], exports),
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
