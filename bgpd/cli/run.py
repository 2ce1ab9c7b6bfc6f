"""``bgpd run``: the daemon. Validates everything first and refuses to start on any error.

Errors found before the daemon runs (cluster file, settings file, ledger) go to stderr, all of
them, one per line, and the exit code is 1; from then on everything is a structlog line on stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import uvloop

from bgpd.cli.check import print_diagnostics
from bgpd.daemon.heap import collect_as_a_daemon, long_lived
from bgpd.daemon.host.statefile import load_ledger, load_maintenance
from bgpd.daemon.inputs import ConfigFile, ConfigRejectedError, read_settings
from bgpd.daemon.runner import RunOptions, serve
from bgpd.logs import configure_logging
from bgpd.manifests import Loaded
from bgpd.plan.maintenance import Maintenance, MaintenanceError
from bgpd.plan.settings import Settings
from bgpd.rib.ledger import Ledger, LedgerError

DEFAULT_STATE_DIR = Path("/var/lib/bgpd")
DEFAULT_SOCKET = Path("/run/bgpd/bgpd.sock")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the daemon (the systemd service's command)",
        description="Run the BGP sessions of the floating IPs this host holds, until SIGTERM.",
    )
    parser.add_argument("--config", required=True, type=Path, metavar="FILE", help="cluster manifests (YAML)")
    parser.add_argument(
        "--settings", type=Path, metavar="FILE", help="daemon settings (docs/operator-guide.md)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        metavar="DIR",
        help="allocation ledger and maintenance state directory",
    )
    parser.add_argument("--socket", type=Path, default=DEFAULT_SOCKET, metavar="PATH", help="control socket")
    parser.set_defaults(handler=run)


def _fail(lines: list[str]) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    print(f"bgpd run: not started ({len(lines)} error{'s' if len(lines) != 1 else ''})", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    config = ConfigFile(args.config)
    with long_lived():  # what is read here lives as long as the process (``bgpd.daemon.heap``)
        read = _read_inputs(args, config)
    if isinstance(read, int):
        return read
    loaded, settings, ledger, maintenance = read
    collect_as_a_daemon()
    configure_logging(settings.log.level, settings.log.format)
    options = RunOptions(
        config=args.config, settings=args.settings, state_dir=args.state_dir, socket=args.socket
    )
    return uvloop.run(serve(options, config, loaded, settings, ledger, maintenance=maintenance))


def _read_inputs(
    args: argparse.Namespace, config: ConfigFile
) -> tuple[Loaded, Settings, Ledger, Maintenance] | int:
    """The cluster file, settings, ledger and maintenance state, or (all errors printed) the exit code."""
    errors: list[str] = []
    loaded = None
    try:
        loaded = config.load()
    except ConfigRejectedError as err:
        errors += err.errors
    settings = None
    try:
        settings = read_settings(args.settings)
    except ConfigRejectedError as err:
        errors += err.errors
    try:
        ledger = load_ledger(args.state_dir)
    except (LedgerError, OSError) as err:
        errors.append(str(err))
    try:
        maintenance = load_maintenance(args.state_dir)
    except MaintenanceError as err:
        errors.append(str(err))
    if errors or loaded is None or settings is None:
        return _fail(errors)
    print_diagnostics(loaded.diagnostics, loaded.source, False, sys.stderr)
    return loaded, settings, ledger, maintenance
