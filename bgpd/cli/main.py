"""The ``bgpd`` command: one sub-command per module, each registering its own arguments.

Every sub-command returns its exit code; anything expected (bad input, missing files) is reported
as a message, never as a traceback.

Only the module of the command being run is imported: ``bgpd run`` starts the service and the
other commands' modules (the demo's loopback routers, the decoder's JSON view, the plan tables)
were a fifth of its start-up. Help and unknown commands import them all, to list them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Final

from bgpd import __version__
from bgpd.cli import shellfiles

Handler = Callable[[argparse.Namespace], int]
# command name → the bgpd.cli module that registers it (``register(subparsers)``)
COMMANDS: Final = {
    "check": "check",
    "decode": "decode",
    "demo": "demo",
    "plan": "plan",
    "run": "run",
    "install-shell-files": "shellfiles",
}


def _subcommands(argv: Sequence[str]) -> list[ModuleType]:
    """The modules that provide sub-commands; each has ``register(subparsers) -> None``. The first
    argument that is not an option names the command (the global options take no values)."""
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    names = [COMMANDS[chosen]] if chosen in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    return [importlib.import_module(f"bgpd.cli.{name}") for name in names]


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bgpd", description="BGP speaker for flat-mode pod networking")
    parser.add_argument("--version", action="version", version=f"bgpd {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _subcommands(argv):
        module.register(subparsers)
    shellfiles.add_completion_command(subparsers, build_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(args_in)
    args = parser.parse_args(args_in)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
