"""``bgpctl``: ask a running bgpd over its control socket and print what it says.

Shaped after the product's ``kubectl get bgpsessions`` / ``bgpadvertisedroutes`` so the product's
troubleshooting steps carry over, and after ``kubectl`` itself where operators expect it: ``get
RESOURCE [NAME]``, ``-w/--watch``, ``No resources found.`` on stderr. Filters (``--session``,
``--prefix``, ``--limit``) travel in the request, so the daemon answers only what was asked.
Every failure is one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import yaml

from bgpd import __version__
from bgpd.cli.shellfiles import add_completion_command
from bgpd.cli.tables import column_widths, format_rows, render_describe, render_status, table_cells
from bgpd.control import client
from bgpd.control.protocol import Command
from bgpd.control.queries import Prefix, RouteQuery, parse_prefix

DEFAULT_SOCKET = Path("/run/bgpd/bgpd.sock")
NO_RESOURCES: Final = "No resources found."
_TABLE_SPOOL: Final = 8 * 1024 * 1024  # octets of table rows kept in memory before going to disk
# Fields that change with the clock alone: --watch does not print an item again for them.
_TIME_VARYING: Final = frozenset({"lastReport", "uptimeSeconds"})


@dataclass(frozen=True, slots=True)
class Resource:
    """A ``get`` resource: its table (``tables.TABLES`` key, also its name), the command serving it,
    the fields that identify one item, and whether it takes the route filters."""

    name: str
    command: Command
    identity: tuple[str, ...]
    routes: bool = False


_RESOURCES: Final = {
    r.name: r
    for r in (
        Resource("bgpsessions", Command.SESSIONS, ("name",)),
        Resource("bgpadvertisedroutes", Command.ADVERTISED_ROUTES, ("prefix", "nextHop"), routes=True),
        Resource("bgpreceivedroutes", Command.RECEIVED_ROUTES, ("session", "family", "prefix"), routes=True),
        Resource("allocations", Command.ALLOCATIONS, ("node",)),
    )
}
_ALIASES = {
    "bgpsession": "bgpsessions",
    "bgpadvertisedroute": "bgpadvertisedroutes",
    "bgpreceivedroute": "bgpreceivedroutes",
    "allocation": "allocations",
}
OUTPUTS = ("table", "wide", "json", "yaml")


METRICS: Final = "metrics"  # not a list: the exposition text, printed as bgpd renders it
_GET_CHOICES: Final = (*_RESOURCES, METRICS)


def _resource(value: str) -> str:
    name = _ALIASES.get(value.lower(), value.lower())
    if name not in _GET_CHOICES:
        raise argparse.ArgumentTypeError(
            f"unknown resource {value!r} (choose from {', '.join(_GET_CHOICES)})"
        )
    return name


def _node_resource(value: str) -> str:
    if value.lower() not in ("node", "nodes"):
        raise argparse.ArgumentTypeError(f"unknown resource {value!r} (only node)")
    return "node"


def _session_resource(value: str) -> str:
    if value.lower() not in ("bgpsession", "bgpsessions"):
        raise argparse.ArgumentTypeError(f"unknown resource {value!r} (only bgpsession)")
    return "bgpsession"


def _prefix(value: str) -> Prefix:
    try:
        return parse_prefix(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            number = 0
        if not (math.isfinite(number) and number > 0):
            raise argparse.ArgumentTypeError(f"{value!r} is not a positive number")
        return number

    return parse


def _session_verb(sub: Any, verb: str, **texts: str) -> argparse.ArgumentParser:
    """A verb that acts on one session: ``bgpctl VERB bgpsession NAME``."""
    parser: argparse.ArgumentParser = sub.add_parser(verb, **texts)
    parser.add_argument("resource", type=_session_resource, metavar="bgpsession")
    parser.add_argument("name", metavar="NAME")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bgpctl", description="Query and control a running bgpd")
    parser.add_argument("--version", action="version", version=f"bgpctl {__version__}")
    parser.add_argument(
        "--socket",
        type=Path,
        metavar="FILE",
        default=Path(os.environ.get("BGPD_SOCKET", str(DEFAULT_SOCKET))),
        help=f"control socket (default: $BGPD_SOCKET or {DEFAULT_SOCKET})",
    )
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    get = sub.add_parser(
        "get",
        help="list sessions, routes or allocations, or print the metrics",
        description="List sessions, routes or allocations. Nothing to list: 'No resources found.' on "
        "stderr. 'get metrics' prints what the metrics listener serves (OpenMetrics text).",
    )
    get.add_argument(
        "resource", type=_resource, choices=_GET_CHOICES, metavar="{" + ",".join(_GET_CHOICES) + "}"
    )
    get.add_argument("name", nargs="?", metavar="NAME", help="bgpsessions only: just this session")
    get.add_argument(
        "-o",
        "--output",
        choices=OUTPUTS,
        default="table",
        help="table (default), wide (more columns), json, yaml",
    )
    routes = get.add_argument_group(
        "route filters (bgpadvertisedroutes, bgpreceivedroutes; the daemon filters)"
    )
    routes.add_argument("--session", metavar="NAME", help="routes received on (or carried by) this session")
    routes.add_argument(
        "--prefix",
        type=_prefix,
        metavar="PREFIX",
        help="routes inside PREFIX: PREFIX itself and its more-specifics (an address: its host route)",
    )
    routes.add_argument("--limit", type=_positive(int), metavar="N", help="at most N routes")
    get.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="after listing, print items again as they change (Ctrl-C stops)",
    )
    get.add_argument(
        "--watch-interval",
        type=_positive(float),
        default=2.0,
        metavar="SECONDS",
        help="how often --watch asks bgpd (default: 2)",
    )
    get.set_defaults(handler=_run_get)

    describe = sub.add_parser("describe", help="everything bgpd knows about one session")
    describe.add_argument("resource", type=_session_resource, metavar="bgpsession")
    describe.add_argument("name", metavar="NAME")
    describe.add_argument(
        "-o", "--output", choices=("text", "json", "yaml"), default="text", help="text (default), json, yaml"
    )
    describe.set_defaults(handler=_run_describe)

    status = sub.add_parser(
        "status", help="the daemon as a whole: plan generation, sessions, routes, event-loop lag"
    )
    status.add_argument(
        "-o", "--output", choices=("text", "json", "yaml"), default="text", help="text (default), json, yaml"
    )
    status.set_defaults(handler=_run_status)

    reload = sub.add_parser("reload", help="re-read the configuration (like SIGHUP); needs privilege")
    reload.add_argument(
        "--force",
        action="store_true",
        help="apply it even if it removes more nodes or BGP peers at once than removals.maxShare",
    )
    reload.set_defaults(handler=_run_reload)

    release = sub.add_parser(
        "release", help="free the pod CIDRs reserved for a node that left the file; needs privilege"
    )
    release.add_argument("resource", type=_node_resource, metavar="node")
    release.add_argument("name", metavar="NAME", help="the node's name (its address in the cluster file)")
    release.set_defaults(handler=_run_release)

    reset = _session_verb(sub, "reset", help="reset a session (or soft-refresh it); needs privilege")
    how = reset.add_mutually_exclusive_group()
    how.add_argument("--soft", action="store_true", help="re-send our routes without closing the session")
    how.add_argument(
        "--hard",
        action="store_true",
        help="withdraw our routes at the peer at once (Hard Reset, RFC 8538); "
        "without it a graceful restart peer keeps them through the reset",
    )
    reset.set_defaults(handler=_run_reset)

    disable = _session_verb(
        sub,
        "disable",
        help="take a session down and keep it down (Cease/Administrative Shutdown, a Hard Reset "
        "with the N bit: the peer drops our routes); needs privilege",
        description="Send Cease/Administrative Shutdown with the message (RFC 9003) and keep the "
        "session down, across reloads and restarts of bgpd, until 'bgpctl enable'.",
    )
    disable.add_argument(
        "--message",
        metavar="TEXT",
        help="what the peer's operator reads (at most 255 octets in UTF-8; default: disabled by bgpctl)",
    )
    disable.set_defaults(handler=_run_disable)

    enable = _session_verb(sub, "enable", help="bring a disabled session back; needs privilege")
    enable.set_defaults(handler=_run_enable)

    for verb, what in (
        (
            "drain",
            "announce our routes with GRACEFUL_SHUTDOWN (65535:0, RFC 8326) so routers move traffic away",
        ),
        ("undrain", "announce our routes without GRACEFUL_SHUTDOWN again"),
    ):
        parser_ = sub.add_parser(
            verb,
            help=f"{what}; every session, or one; needs privilege",
            description=f"{what[0].upper()}{what[1:]}: on every session (now and any added later), "
            "or on the one named. Kept across reloads and restarts of bgpd.",
        )
        parser_.add_argument("resource", nargs="?", type=_session_resource, metavar="bgpsession")
        parser_.add_argument("name", nargs="?", metavar="NAME")
        parser_.set_defaults(handler=_run_drain)

    stop = sub.add_parser(
        "stop",
        help="stop bgpd (like SIGTERM: graceful restart peers keep our routes); needs privilege",
    )
    stop.add_argument(
        "--withdraw",
        action="store_true",
        help="withdraw every route at once (Hard Reset on every session), for a gateway leaving for good",
    )
    stop.set_defaults(handler=_run_stop)
    add_completion_command(sub, build_parser)
    return parser


class _FailedError(Exception):
    """A failure already phrased for the operator."""


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


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


def _check_get_arguments(args: argparse.Namespace, resource: Resource) -> str | None:
    """What is wrong with this combination of ``get`` arguments, for a usage error."""
    if args.name is not None and resource.name != "bgpsessions":
        hint = " (use --session or --prefix)" if resource.routes else ""
        return f"NAME is only for bgpsessions{hint}"
    if not resource.routes:
        given = [flag for flag, value in (("--session", args.session), ("--prefix", args.prefix)) if value]
        given += ["--limit"] if args.limit is not None else []
        if given:
            return f"{', '.join(given)}: only for bgpadvertisedroutes and bgpreceivedroutes"
    return None


def _request_args(args: argparse.Namespace, resource: Resource) -> dict[str, Any]:
    if resource.routes:
        # One more than asked, so bgpctl can say that more routes match than it shows.
        limit = None if args.limit is None else args.limit + 1
        return RouteQuery(session=args.session, prefix=args.prefix, limit=limit).to_args()
    return {} if args.name is None else {"name": args.name}


def _fetch(args: argparse.Namespace, resource: Resource) -> tuple[list[dict[str, Any]], bool]:
    """The daemon's list for ``resource`` and whether ``--limit`` cut it short."""
    data = _call(args, resource.command, _request_args(args, resource))
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise _FailedError(f"bgpd sent {resource.command} data that is not a list of objects")
    if args.limit is not None and len(data) > args.limit:
        return data[: args.limit], True
    return data, False


def _run_metrics(args: argparse.Namespace) -> int:
    data = _call(args, Command.METRICS, {"format": "openmetrics"})
    if args.output in ("json", "yaml"):
        _out(_dump(data, args.output))
    elif not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise _FailedError("bgpd sent metrics data without the exposition text")
    else:
        _out(data["text"])
    return 0


def _run_get(args: argparse.Namespace) -> int:
    if args.resource == METRICS:
        return _run_metrics(args)
    resource = _RESOURCES[args.resource]
    if args.watch:
        return watch(args)
    if args.name is not None:
        data, _ = _fetch(args, resource)
        if args.output in ("json", "yaml"):
            _out(_dump(data[0] if data else data, args.output))
        else:
            _print_table(resource, data, args.output)
        return 0
    items = _items(args, resource)
    shown = itertools.islice(items, args.limit) if args.limit is not None else items
    if args.output == "json":
        _stream_json(shown)
    elif args.output == "yaml":
        _stream_yaml(shown)
    else:
        _print_table(resource, shown, args.output)
    if args.limit is not None and next(items, None) is not None:
        print(f"(the first {args.limit} shown; more routes match)", file=sys.stderr)
    return 0


def _items(args: argparse.Namespace, resource: Resource) -> Iterator[dict[str, Any]]:
    """The daemon's list for ``resource``, item by item as its parts arrive (a long listing is
    never one value here either)."""
    try:
        for reply in client.replies(args.socket, resource.command, _request_args(args, resource)):
            if not reply.ok:
                raise _FailedError(f"bgpd: {reply.error_message} ({reply.error_code})")
            if not isinstance(reply.data, list) or not all(isinstance(item, dict) for item in reply.data):
                raise _FailedError(f"bgpd sent {resource.command} data that is not a list of objects")
            yield from reply.data
    except client.ControlClientError as err:
        raise _FailedError(str(err)) from None


def _stream_json(items: Iterable[dict[str, Any]]) -> None:
    """What ``json.dumps(list, indent=2)`` prints, an item at a time."""
    first = True
    for item in items:
        _out(
            ("[\n" if first else ",\n")
            + textwrap.indent(json.dumps(item, indent=2, ensure_ascii=False), "  ")
        )
        first = False
    _out("[]\n" if first else "\n]\n")


def _stream_yaml(items: Iterable[dict[str, Any]]) -> None:
    """What ``yaml.safe_dump(list)`` prints, an item at a time."""
    first = True
    for item in items:
        _out(_dump([item], "yaml"))
        first = False
    if first:
        _out(_dump([], "yaml"))


def _print_table(resource: Resource, items: Iterable[dict[str, Any]], output: str) -> None:
    """The table of ``items``. Columns are as wide as their widest cell, so every row is seen
    before the first is printed: the rows wait in a temporary file (in memory while small)."""
    now = datetime.now(UTC)
    wide = output == "wide"
    headers, _ = table_cells(resource.name, [], now, wide=wide)
    widths = [len(header) for header in headers]
    count = 0
    with tempfile.SpooledTemporaryFile(max_size=_TABLE_SPOOL, mode="w+", encoding="utf-8") as rows:
        for item in items:
            _, (cells,) = table_cells(resource.name, [item], now, wide=wide)
            widths = [max(w, len(cell)) for w, cell in zip(widths, cells, strict=True)]
            rows.write(json.dumps(cells, ensure_ascii=False) + "\n")
            count += 1
        if not count:
            print(NO_RESOURCES, file=sys.stderr)
            return
        rows.seek(0)
        _out(format_rows([headers], widths))
        while batch := [json.loads(line) for line in itertools.islice(rows, 1000)]:
            _out(format_rows(batch, widths))


def _identity(resource: Resource, item: dict[str, Any]) -> str:
    return json.dumps([item.get(key) for key in resource.identity])


def _steady(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in _TIME_VARYING}


def watch(
    args: argparse.Namespace, refreshes: int | None = None, sleep: Callable[[float], None] = time.sleep
) -> int:
    """``get -w``: list once, then ask again every ``--watch-interval`` seconds and print the items
    that are new or changed (not for the clock alone), like ``kubectl get -w``. Ends with exit 0 on
    Ctrl-C (or after ``refreshes`` answers, for tests), and with exit 1 when bgpd goes away."""
    resource = _RESOURCES[args.resource]
    shown: dict[str, dict[str, Any]] = {}
    widths: list[int] | None = None
    answers = 0
    try:
        while refreshes is None or answers < refreshes:
            if answers:
                sleep(args.watch_interval)
            data, _ = _fetch(args, resource)
            changed = [item for item in data if shown.get(_identity(resource, item)) != _steady(item)]
            shown.update((_identity(resource, item), _steady(item)) for item in changed)
            if not answers and not data and args.output in ("table", "wide"):
                print(NO_RESOURCES, file=sys.stderr, flush=True)
            answers += 1
            if not changed:
                continue
            if args.output in ("json", "yaml"):
                sep = "---\n" if args.output == "yaml" else ""
                _out("".join(sep + _dump(item, args.output) for item in changed))
                continue
            headers, rows = table_cells(resource.name, changed, datetime.now(UTC), wide=args.output == "wide")
            if widths is None:
                widths = column_widths(headers, rows)
                rows = [headers, *rows]
            _out(format_rows(rows, widths))
    except KeyboardInterrupt:
        return 0
    return 0


def _print_object(
    args: argparse.Namespace,
    cmd: Command,
    cmd_args: dict[str, Any] | None,
    render: Callable[[dict[str, Any], datetime], str],
) -> int:
    """One object from the daemon: as text by ``render``, or as JSON/YAML (``-o``)."""
    data = _call(args, cmd, cmd_args)
    if args.output != "text":
        _out(_dump(data, args.output))
        return 0
    if not isinstance(data, dict):
        raise _FailedError(f"bgpd sent {cmd} data that is not an object")
    _out(render(data, datetime.now(UTC)))
    return 0


def _run_describe(args: argparse.Namespace) -> int:
    return _print_object(args, Command.DESCRIBE_SESSION, {"name": args.name}, render_describe)


def _run_status(args: argparse.Namespace) -> int:
    return _print_object(args, Command.STATUS, None, render_status)


def _summary(data: Any, default: str) -> str:
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, str):
        return message + "\n"
    return default + "\n"


def _run_reload(args: argparse.Namespace) -> int:
    _out(_summary(_call(args, Command.RELOAD, {"force": True} if args.force else None), "reload done"))
    return 0


def _run_release(args: argparse.Namespace) -> int:
    _out(_summary(_call(args, Command.RELEASE_NODE, {"name": args.name}), f"node {args.name} released"))
    return 0


def _run_reset(args: argparse.Namespace) -> int:
    data = _call(args, Command.RESET_SESSION, {"name": args.name, "soft": args.soft, "hard": args.hard})
    kind = "soft-reset" if args.soft else "hard-reset" if args.hard else "reset"
    _out(_summary(data, f"bgpsession {args.name} {kind}"))
    return 0


def _run_stop(args: argparse.Namespace) -> int:
    _out(_summary(_call(args, Command.STOP, {"withdraw": args.withdraw}), "bgpd stopping"))
    return 0


def _run_disable(args: argparse.Namespace) -> int:
    cmd_args = {"name": args.name} | ({} if args.message is None else {"message": args.message})
    _out(_summary(_call(args, Command.DISABLE_SESSION, cmd_args), f"bgpsession {args.name} disabled"))
    return 0


def _run_enable(args: argparse.Namespace) -> int:
    _out(
        _summary(_call(args, Command.ENABLE_SESSION, {"name": args.name}), f"bgpsession {args.name} enabled")
    )
    return 0


def _run_drain(args: argparse.Namespace) -> int:
    command = Command.DRAIN if args.verb == "drain" else Command.UNDRAIN
    cmd_args = {} if args.name is None else {"session": args.name}
    _out(_summary(_call(args, command, cmd_args), f"{args.verb} done"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb == "get" and args.resource == METRICS:
        if args.name is not None or args.watch or args.session or args.prefix or args.limit is not None:
            parser.error("get metrics: takes no NAME, filters or --watch (Prometheus scrapes it)")
    elif args.verb == "get":
        problem = _check_get_arguments(args, _RESOURCES[args.resource])
        if problem is not None:
            parser.error(f"get {args.resource}: {problem}")
    if args.verb in ("drain", "undrain") and (args.resource is None) != (args.name is None):
        parser.error(f"{args.verb}: name the session as 'bgpsession NAME', or nothing for every session")
    try:
        code: int = args.handler(args)
    except _FailedError as err:
        print(err, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
