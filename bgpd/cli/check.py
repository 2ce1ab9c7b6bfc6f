"""``bgpd check --config FILE``: is this cluster configuration file usable? Every error, or a summary.

Besides the manifest rules it allocates pod CIDRs from an empty ledger, so a file with more nodes
than its ClusterCIDRConfigs have blocks for fails here, before the daemon ever runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from bgpd.manifests import Diagnostic, Loaded, ManifestError, Severity, load_manifests
from bgpd.plan import Plan, build_plan
from bgpd.rib.ledger import Ledger


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate the cluster configuration file",
        description="Validate the cluster configuration file: exit 0 with a summary, or 1 with every error.",
    )
    add_config_arguments(parser)
    parser.set_defaults(handler=run)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, metavar="FILE", help="multi-document YAML of cluster manifests"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also show skipped documents")


def print_diagnostics(diagnostics: Iterable[Diagnostic], source: str, verbose: bool, out: TextIO) -> None:
    for diagnostic in diagnostics:
        if diagnostic.severity is not Severity.DEBUG or verbose:
            print(diagnostic.format(source), file=out)


def load(args: argparse.Namespace) -> Loaded | None:
    """The validated file, or None after printing every error (the caller exits 1)."""
    try:
        loaded = load_manifests(args.config)
    except ManifestError as error:
        print_diagnostics(error.diagnostics, error.source, args.verbose, sys.stderr)
        count = len(error.errors)
        print(f"{error.source}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
        return None
    print_diagnostics(loaded.diagnostics, loaded.source, args.verbose, sys.stderr)
    return loaded


def summary(loaded: Loaded, plan: Plan) -> str:
    m = loaded.manifests
    pools = len({n.pool for n in m.nodes})
    families = ", ".join(str(f) for f in plan.sessions[0].families) if plan.sessions else "none"
    return (
        f"{loaded.source}: valid: cluster {m.cluster} (namespace {m.namespace}): "
        f"{len(m.nodes)} nodes in {pools} pools, {len(m.cidr_configs)} ClusterCIDRConfig(s), "
        f"{len(m.peers)} BGPPeer(s), {len(plan.sessions)} sessions, {len(plan.routes)} routes ({families})"
    )


def run(args: argparse.Namespace) -> int:
    loaded = load(args)
    if loaded is None:
        return 1
    plan = build_plan(loaded.manifests, Ledger.empty(), ())
    for problem in plan.problems:
        print(f"{loaded.source}: error: node {problem.node}: {problem.reason}", file=sys.stderr)
    if plan.problems:
        count = len(plan.problems)
        print(f"{loaded.source}: {count} node{'s' if count != 1 else ''} cannot be served", file=sys.stderr)
        return 1
    print(summary(loaded, plan))
    return 0
