"""The ``bgpd`` command: one sub-command per module, each registering its own arguments.

Every sub-command returns its exit code; anything expected (bad input, missing files) is reported
as a message, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from bgpd import __version__
from bgpd.cli import check, decode, demo, plan, run, shellfiles

Handler = Callable[[argparse.Namespace], int]


def _subcommands() -> list[ModuleType]:
    """The modules that provide sub-commands; each has ``register(subparsers) -> None``."""
    return [check, decode, demo, plan, run, shellfiles]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bgpd", description="BGP speaker for flat-mode pod networking")
    parser.add_argument("--version", action="version", version=f"bgpd {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _subcommands():
        module.register(subparsers)
    shellfiles.add_completion_command(subparsers, build_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
