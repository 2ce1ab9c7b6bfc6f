"""``bgpctl``: ask a running bgpd over its control socket and print what it says.

Shaped after the product's ``kubectl get bgpsessions`` / ``bgpadvertisedroutes`` so the product's
troubleshooting steps carry over. Every failure is one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bgpd import __version__
from bgpd.cli.tables import render_describe, table_for
from bgpd.control import client
from bgpd.control.protocol import Command

DEFAULT_SOCKET = Path("/run/bgpd/bgpd.sock")

# resource name (and the aliases kubectl users type) -> (table kind, command)
_RESOURCES: dict[str, tuple[str, Command]] = {
    "bgpsessions": ("bgpsessions", Command.SESSIONS),
    "bgpadvertisedroutes": ("bgpadvertisedroutes", Command.ADVERTISED_ROUTES),
    "bgpreceivedroutes": ("bgpreceivedroutes", Command.RECEIVED_ROUTES),
    "allocations": ("allocations", Command.ALLOCATIONS),
}
_ALIASES = {
    "bgpsession": "bgpsessions",
    "bgpadvertisedroute": "bgpadvertisedroutes",
    "bgpreceivedroute": "bgpreceivedroutes",
    "allocation": "allocations",
}
OUTPUTS = ("table", "wide", "json", "yaml")


def _resource(value: str) -> str:
    name = _ALIASES.get(value.lower(), value.lower())
    if name not in _RESOURCES:
        raise argparse.ArgumentTypeError(f"unknown resource {value!r} (choose from {', '.join(_RESOURCES)})")
    return name


def _node_resource(value: str) -> str:
    if value.lower() not in ("node", "nodes"):
        raise argparse.ArgumentTypeError(f"unknown resource {value!r} (only node)")
    return "node"


def _session_resource(value: str) -> str:
    if value.lower() not in ("bgpsession", "bgpsessions"):
        raise argparse.ArgumentTypeError(f"unknown resource {value!r} (only bgpsession)")
    return "bgpsession"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bgpctl", description="Query and control a running bgpd")
    parser.add_argument("--version", action="version", version=f"bgpctl {__version__}")
    parser.add_argument(
        "--socket",
        type=Path,
        default=Path(os.environ.get("BGPD_SOCKET", str(DEFAULT_SOCKET))),
        help=f"control socket (default: $BGPD_SOCKET or {DEFAULT_SOCKET})",
    )
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    get = sub.add_parser("get", help="list sessions, routes or allocations")
    get.add_argument("resource", type=_resource, metavar="{" + ",".join(_RESOURCES) + "}")
    get.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    get.set_defaults(run=_run_get)

    describe = sub.add_parser("describe", help="everything bgpd knows about one session")
    describe.add_argument("resource", type=_session_resource, metavar="bgpsession")
    describe.add_argument("name")
    describe.add_argument("-o", "--output", choices=("text", "json", "yaml"), default="text")
    describe.set_defaults(run=_run_describe)

    reload = sub.add_parser("reload", help="re-read the configuration (like SIGHUP); needs privilege")
    reload.add_argument(
        "--force",
        action="store_true",
        help="apply it even if it removes more nodes or BGP peers at once than removals.maxShare",
    )
    reload.set_defaults(run=_run_reload)

    release = sub.add_parser(
        "release", help="free the pod CIDRs reserved for a node that left the file; needs privilege"
    )
    release.add_argument("resource", type=_node_resource, metavar="node")
    release.add_argument("name", help="the node's name (its address in the cluster file)")
    release.set_defaults(run=_run_release)

    reset = sub.add_parser("reset", help="reset a session (or soft-refresh it); needs privilege")
    reset.add_argument("resource", type=_session_resource, metavar="bgpsession")
    reset.add_argument("name")
    reset.add_argument("--soft", action="store_true", help="re-send our routes without closing the session")
    reset.set_defaults(run=_run_reset)
    return parser


class _FailedError(Exception):
    """A failure already phrased for the operator."""


def _call(args: argparse.Namespace, cmd: Command, cmd_args: dict[str, Any] | None = None) -> Any:
    try:
        reply = client.request(args.socket, cmd, cmd_args)
    except client.ControlClientError as err:
        raise _FailedError(str(err)) from None
    if not reply.ok:
        raise _FailedError(f"bgpd: {reply.error_message} ({reply.error_code})")
    return reply.data


def _dump(data: Any, output: str) -> str:
    if output == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False))


def _run_get(args: argparse.Namespace) -> str:
    kind, cmd = _RESOURCES[args.resource]
    data = _call(args, cmd)
    if args.output in ("json", "yaml"):
        return _dump(data, args.output)
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise _FailedError(f"bgpd sent {cmd} data that is not a list of objects")
    if not data:
        return "No resources found.\n"
    return table_for(kind, data, datetime.now(UTC), wide=args.output == "wide")


def _run_describe(args: argparse.Namespace) -> str:
    data = _call(args, Command.DESCRIBE_SESSION, {"name": args.name})
    if args.output != "text":
        return _dump(data, args.output)
    if not isinstance(data, dict):
        raise _FailedError("bgpd sent describe-session data that is not an object")
    return render_describe(data, datetime.now(UTC))


def _summary(data: Any, default: str) -> str:
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, str):
        return message + "\n"
    return default + "\n"


def _run_reload(args: argparse.Namespace) -> str:
    return _summary(_call(args, Command.RELOAD, {"force": True} if args.force else None), "reload done")


def _run_release(args: argparse.Namespace) -> str:
    return _summary(_call(args, Command.RELEASE_NODE, {"name": args.name}), f"node {args.name} released")


def _run_reset(args: argparse.Namespace) -> str:
    data = _call(args, Command.RESET_SESSION, {"name": args.name, "soft": args.soft})
    return _summary(data, f"bgpsession {args.name} {'soft-reset' if args.soft else 'reset'}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        text = args.run(args)
    except _FailedError as err:
        print(err, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
