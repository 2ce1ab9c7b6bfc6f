"""``bgpd check``: are these files usable? Every error of both files, or a summary.

It reads what ``bgpd run`` reads — the cluster file, the settings file (``--settings``) and the
addresses this host holds (``--local-address``, else the settings' ``localAddresses``, else the
host's own addresses) — through the same loaders, so a settings typo is found here, with its file
and line, not at the next restart. Besides the manifest rules it allocates pod CIDRs from an empty
ledger, so a file with more nodes than its ClusterCIDRConfigs have blocks for fails here, before
the daemon ever runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bgpd.daemon.inputs import held_now
from bgpd.manifests import Diagnostic, InputError, Loaded, Severity, load_manifests
from bgpd.plan import LocalAddress, Plan, Settings, build_plan
from bgpd.plan.maintenance import Maintenance
from bgpd.plan.settings import load_settings, settings_warnings
from bgpd.rib.ledger import Ledger


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate the cluster configuration file and the settings file",
        description="Validate the cluster file and the settings: exit 0 with a summary, "
        "or 1 with every error.",
    )
    add_input_arguments(parser)
    parser.set_defaults(handler=run)


def _local_address(text: str) -> LocalAddress:
    try:
        return LocalAddress.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """The inputs ``bgpd run`` plans from, for ``check`` and ``plan``."""
    parser.add_argument(
        "--config", required=True, metavar="FILE", help="multi-document YAML of cluster manifests"
    )
    parser.add_argument("--settings", type=Path, metavar="FILE", help="daemon settings, as given to bgpd run")
    parser.add_argument(
        "--local-address",
        action="append",
        type=_local_address,
        metavar="IP[/LEN]",
        help="a floating IP this host holds, optionally with its segment's prefix length (repeat); "
        "default: the settings' localAddresses, else this host's addresses, as bgpd run",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also show skipped documents")


def print_diagnostics(diagnostics: Iterable[Diagnostic], source: str, verbose: bool, out: TextIO) -> None:
    for diagnostic in diagnostics:
        if diagnostic.severity is not Severity.DEBUG or verbose:
            print(diagnostic.format(source), file=out)


@dataclass(frozen=True, slots=True)
class Inputs:
    """What ``bgpd run`` would plan from."""

    loaded: Loaded
    settings: Settings
    local: tuple[LocalAddress, ...]

    def plan(self, ledger: Ledger, now: int, maintenance: Maintenance | None = None) -> Plan:
        """The plan at ``now`` (POSIX seconds: when reservations in ``ledger`` start and end)."""
        return build_plan(self.loaded.manifests, self.settings, ledger, self.local, maintenance, now=now)


def _report(error: InputError, verbose: bool) -> None:
    print_diagnostics(error.diagnostics, error.source, verbose, sys.stderr)
    count = len(error.errors)
    print(f"{error.source}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)


def load_inputs(args: argparse.Namespace) -> Inputs | None:
    """Both files validated, or None after printing every error of both (the caller exits 1)."""
    loaded: Loaded | None = None
    settings: Settings | None = None
    try:
        loaded = load_manifests(args.config)
    except InputError as error:
        _report(error, args.verbose)
    else:
        print_diagnostics(loaded.diagnostics, loaded.source, args.verbose, sys.stderr)
    try:
        settings = load_settings(args.settings)
    except InputError as error:
        _report(error, args.verbose)
    if loaded is None or settings is None:
        return None
    entries = args.local_address if args.local_address else settings.local_addresses
    return Inputs(loaded, settings, held_now(entries))


def _unused_overrides(inputs: Inputs) -> list[str]:
    """Settings for a peer IP no BGPPeer has: most likely a typo, worth a warning."""
    peers = {p.peer_ip for p in inputs.loaded.manifests.peers}
    return [str(ip) for ip in inputs.settings.peers if str(ip) not in peers]


def summary(loaded: Loaded, plan: Plan) -> str:
    m = loaded.manifests
    pools = len({n.pool for n in m.nodes})
    families = ", ".join(str(f) for f in plan.sessions[0].families) if plan.sessions else "none"
    here = [s for s in plan.sessions if s.local]
    exported = sum(len(s.announced) for s in here)
    skipped = sum(len(s.skipped) for s in here)
    return (
        f"{loaded.source}: valid: cluster {m.cluster} (namespace {m.namespace}): "
        f"{len(m.nodes)} nodes in {pools} pools, {len(m.cidr_configs)} ClusterCIDRConfig(s), "
        f"{len(m.peers)} BGPPeer(s), {len(plan.sessions)} sessions, {len(plan.routes)} routes ({families}); "
        f"{len(here)} sessions run here, exporting {exported} routes, {skipped} left out"
    )


def run(args: argparse.Namespace) -> int:
    inputs = load_inputs(args)
    if inputs is None:
        return 1
    for peer in _unused_overrides(inputs):
        where = f'{args.settings}: warning: peers["{peer}"]'
        print(f"{where}: no BGPPeer has this peerIP; the override applies to nothing", file=sys.stderr)
    for warning in settings_warnings(inputs.settings):
        print(f"{args.settings}: warning: {warning}", file=sys.stderr)
    plan = inputs.plan(Ledger.empty(), int(time.time()))
    source = inputs.loaded.source
    for problem in plan.problems:
        print(f"{source}: error: node {problem.node}: {problem.reason}", file=sys.stderr)
    if plan.problems:
        count = len(plan.problems)
        print(f"{source}: {count} node{'s' if count != 1 else ''} cannot be served", file=sys.stderr)
        return 1
    print(summary(inputs.loaded, plan))
    return 0
