"""Control-socket answers: the JSON shapes of docs/control-protocol.md, built from daemon snapshots.

The data functions are pure (a ``Snapshot`` in, JSON-ready values out), so their shapes are tested
without sockets; ``commands`` wires them to a running daemon (``DaemonControl``) for the server.
Listings (routes, allocations) are generators the server sends in parts (``Streamed``): they
yield their objects one by one, and ``None`` where they did a slice of work without one, so no
listing holds the loop or exists as one list in the daemon.
Sessions the plan has but this host does not run (their floating IP is elsewhere) are listed too,
``NotEstablished`` with the reason in ``lastError``: the operator sees every session of the
cluster file on every gateway, and which gateway runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from bgpd.control.protocol import Command, ControlError, ErrorCode, optional_bool, require_str
from bgpd.control.queries import Prefix, RouteQuery, only_known, optional_name
from bgpd.control.server import CommandSpec, Streamed
from bgpd.daemon.loop_lag import LoopLag
from bgpd.daemon.metrics import Format
from bgpd.plan import Announced, Plan, Session
from bgpd.speaker import ReceivedRoute, SessionStatus, SessionSummary
from bgpd.speaker.status import rfc3339
from bgpd.wire.notification import MAX_SHUTDOWN_COMMUNICATION

__all__ = [
    "DaemonControl",
    "LedgerLag",
    "Listing",
    "ReloadRejectedError",
    "Snapshot",
    "advertised_listing",
    "allocations_listing",
    "commands",
    "describe_session_data",
    "listed",
    "received_listing",
    "sessions_data",
    "status_data",
]

METRICS_FORMATS = {"openmetrics": Format.OPENMETRICS, "prometheus": Format.PROMETHEUS}
DEFAULT_SHUTDOWN_MESSAGE = "disabled by bgpctl"  # what the peer reads when no --message is given

SESSION_FIELDS = (
    "name",
    "localASN",
    "peerASN",
    "localIP",
    "peerIP",
    "state",
    "lastReport",
    "fsmState",
    "uptimeSeconds",
    "prefixesSent",
    "prefixesReceived",
    "lastError",
    "disabled",
    "disabledMessage",
    "drained",
)


@dataclass(frozen=True, slots=True)
class LedgerLag:
    """The ledger on disk lags the daemon's: a write failed (docs/allocation.md, "The ledger file")."""

    since: float  # POSIX time of the first failed write since the last good one
    error: str  # why the last write failed
    withheld: int  # pod CIDRs not announced until it is written
    reload_waiting: bool  # a reload refused until then, applied once it is written


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the daemon runs right now: the plan, the sessions it runs here, and their status."""

    plan: Plan
    running: Mapping[str, Session]  # as the speaker runs them
    summaries: Mapping[str, SessionSummary]  # of the sessions running here
    planned_at: float  # POSIX time the plan (or the held floating IPs) last changed
    ledger_lag: LedgerLag | None = None  # None: the ledger on disk is the daemon's


class ReloadRejectedError(Exception):
    """The new configuration was refused; ``errors`` lists every problem, the old plan still runs."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = tuple(errors)


class DaemonControl(Protocol):
    generation: int

    @property
    def loop_lag(self) -> LoopLag: ...

    def snapshot(self) -> Snapshot: ...

    def session_status(self, name: str) -> SessionStatus | None:
        """The full status of a session running here (None: not run here)."""
        ...

    def received(self, name: str, within: Prefix | None) -> Iterator[ReceivedRoute | None]:
        """The routes received on a session run here, inside ``within``, as a listing."""
        ...

    async def reload(self, reason: str, force: bool = False) -> str: ...

    async def reset_session(self, name: str, soft: bool, hard: bool = False) -> str: ...

    def request_stop(self, withdraw: bool) -> str: ...

    async def disable_session(self, name: str, message: str) -> str: ...

    async def enable_session(self, name: str) -> str: ...

    async def set_drained(self, name: str | None, drained: bool) -> str: ...

    async def metrics_text(self, fmt: Format) -> str: ...

    async def release_node(self, name: str) -> str: ...


def _not_running(session: Session, planned_at: float) -> dict[str, Any]:
    return {
        "name": session.name,
        "localASN": session.local_asn,
        "peerASN": session.peer_asn,
        "localIP": session.local_ip,
        "peerIP": session.peer_ip,
        "state": "NotEstablished",
        "lastReport": rfc3339(planned_at),
        "fsmState": "Idle",
        "uptimeSeconds": None,
        "prefixesSent": 0,
        "prefixesReceived": 0,
        "lastError": f"not run on this host: floating IP {session.local_ip} is not here",
    }


def _session_object(snapshot: Snapshot, session: Session) -> dict[str, Any]:
    summary = snapshot.summaries.get(session.name)
    return _maintained(
        session, _not_running(session, snapshot.planned_at) if summary is None else summary.to_control()
    )


def _maintained(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a session object) with the operator's maintenance state of ``session``."""
    data["disabled"] = session.disabled is not None
    data["disabledMessage"] = session.disabled
    data["drained"] = session.drained
    return data


def _planned(snapshot: Snapshot, name: str) -> Session:
    session = next((s for s in snapshot.plan.sessions if s.name == name), None)
    if session is None:
        raise ControlError(ErrorCode.NOT_FOUND, f"no bgpsession named {name!r}")
    return session


def sessions_data(snapshot: Snapshot, name: str | None = None) -> list[dict[str, Any]]:
    """The ``sessions`` reply: every session of the plan in plan order, or only the one named."""
    wanted = snapshot.plan.sessions if name is None else [_planned(snapshot, name)]
    return [_session_object(snapshot, session) for session in wanted]


def listed(items: Iterable[Any]) -> list[Any]:
    """A listing's items as one list (its ``None`` pauses dropped): for small answers and tests."""
    return [item for item in items if item is not None]


Listing = Iterator[dict[str, Any] | None]  # a listing's items, and None where it may pause
_PAUSE_EVERY: Final = 4096  # routes looked at between two pause points of a listing
_RouteKey = tuple[str, str, tuple[str, ...]]  # prefix, next hop, communities


def advertised_listing(snapshot: Snapshot, query: RouteQuery | None = None) -> Listing:
    """The ``advertised-routes`` listing: one object per (prefix, next hop, communities) with the
    sessions carrying it.

    Every planned route is listed, even when no session here carries it (``sessions`` empty); a
    route announced differently on some sessions — with next-hop-self, or with GRACEFUL_SHUTDOWN
    from a drained session — is an extra object, right after the planned one (those of no planned
    route last, as sessions by name carry them). ``query`` keeps the routes carried by its session
    and inside its prefix, at most ``limit``. Sessions alike share one export
    (``bgpd.plan.segments``), so the routes are gone through once per distinct export, not once
    per session."""
    query = query or RouteQuery()
    if query.session is not None:
        _planned(snapshot, query.session)
    groups: dict[int, tuple[tuple[Announced, ...], list[str]]] = {}  # by id of the shared export
    for name in sorted(snapshot.running):
        announced = snapshot.running[name].announced
        groups.setdefault(id(announced), (announced, []))[1].append(name)
    carriers: dict[_RouteKey, list[int]] = {}
    shown: dict[_RouteKey, tuple[str, str]] = {}  # route name, family
    variants: dict[tuple[str, str], list[_RouteKey]] = {}  # (prefix, next hop) → its keys
    looked = 0
    for group, (announced, _) in groups.items():
        for item in announced:
            key = (item.prefix, item.next_hop, item.communities)
            carried = carriers.get(key)
            if carried is None:
                carried = carriers[key] = []
                shown[key] = (item.name, str(item.family))
                variants.setdefault(key[:2], []).append(key)
            carried.append(group)
            looked += 1
            if looked % _PAUSE_EVERY == 0:
                yield None
    ordered: list[_RouteKey] = []
    for route in snapshot.plan.routes:
        keys = variants.pop((route.prefix, route.next_hop), None)
        if keys is None:
            keys = [(route.prefix, route.next_hop, ())]
            carriers[keys[0]] = []
            shown[keys[0]] = (route.name, str(route.family))
        ordered += sorted(keys, key=lambda k: k[2])
    ordered += [key for keys in variants.values() for key in sorted(keys, key=lambda k: k[2])]
    only = None if query.session is None else _group_of(groups, query.session)
    inside = _prefix_test(query)
    left = query.limit
    for key in ordered:
        carried = carriers[key]
        if query.session is not None and (only is None or only not in carried):
            continue
        if not inside(key[0]):
            continue
        names = (
            groups[carried[0]][1] if len(carried) == 1 else sorted(n for g in carried for n in groups[g][1])
        )
        name, family = shown[key]
        yield {
            "name": name,
            "prefix": key[0],
            "metric": None,
            "nextHop": key[1],
            "family": family,
            "communities": list(key[2]),
            "sessions": names,
        }
        if left is not None:
            left -= 1
            if not left:
                return


def _group_of(groups: Mapping[int, tuple[Any, list[str]]], session: str) -> int | None:
    return next((group for group, (_, names) in groups.items() if session in names), None)


def _prefix_test(query: RouteQuery) -> Callable[[str], bool]:
    """``query.wants_prefix``, remembered per prefix text (many routes share a prefix)."""
    answers: dict[str, bool] = {}

    def inside(prefix: str) -> bool:
        answer = answers.get(prefix)
        if answer is None:
            answer = answers[prefix] = query.wants_prefix(prefix)
        return answer

    return inside


def received_listing(
    names: Sequence[str],
    routes_of: Callable[[str, Prefix | None], Iterator[ReceivedRoute | None]],
    query: RouteQuery,
) -> Listing:
    """The ``received-routes`` listing: the routes of the sessions ``names`` (in that order)
    inside the query's prefix (the speaker filters), at most its ``limit``. A session's table is
    read only while more routes are wanted, and in slices (``bgpd.speaker.listing``)."""
    left = query.limit
    for name in names:
        for route in routes_of(name, query.prefix):
            if route is None:
                yield None
                continue
            yield route.to_control()
            if left is not None:
                left -= 1
                if not left:
                    return


def allocations_listing(plan: Plan) -> Listing:
    """Every node of the plan, then every node that left the file and whose blocks are reserved
    (``nodePool`` null, ``missingSince`` set: what ``bgpctl release node`` can free)."""
    for node in plan.nodes:
        yield {
            "node": node.name,
            "nodePool": node.pool,
            "clusterCIDRConfig": node.config,
            "podCIDRs": list(node.pod_cidrs),
            "nodeIPs": [ip for ip in (node.address, node.ipv6_address) if ip is not None],
            "missingSince": None,
        }
    for r in plan.ledger.reserved:
        yield {
            "node": r.node,
            "nodePool": None,
            "clusterCIDRConfig": r.allocation.config,
            "podCIDRs": [c for c in (r.allocation.ipv4, r.allocation.ipv6) if c is not None],
            "nodeIPs": [],
            "missingSince": rfc3339(r.missing_since),
        }


def status_data(snapshot: Snapshot, generation: int, lag: LoopLag) -> dict[str, Any]:
    """The ``status`` reply: the daemon as a whole, from counts it keeps (cheap at any size)."""
    established = sum(1 for s in snapshot.summaries.values() if s.established)
    return {
        "generation": generation,
        "plannedAt": rfc3339(snapshot.planned_at),
        "nodes": len(snapshot.plan.nodes),
        "routes": len(snapshot.plan.routes),
        "sessions": {
            "planned": len(snapshot.plan.sessions),
            "running": len(snapshot.running),
            "established": established,
        },
        "loopLag": lag.to_control(),
        "ledgerUnwritten": _ledger_lag(snapshot.ledger_lag),
    }


def _ledger_lag(lag: LedgerLag | None) -> dict[str, Any] | None:
    if lag is None:
        return None
    return {
        "since": rfc3339(lag.since),
        "error": lag.error,
        "withheldPodCIDRs": lag.withheld,
        "reloadWaiting": lag.reload_waiting,
    }


def describe_session_data(snapshot: Snapshot, name: str, status: SessionStatus | None) -> dict[str, Any]:
    """The ``describe-session`` reply: the speaker's detail (``status``, None when the session does
    not run here) plus what the session carries and why."""
    session = _planned(snapshot, name)
    data = _maintained(
        session, status.to_control() if status is not None else _not_running(session, snapshot.planned_at)
    )
    data["peer"] = session.peer
    data["families"] = [str(f) for f in session.families]
    running = snapshot.running.get(name)
    if running is not None:
        routes: dict[str, Any] = {
            "segment": str(running.segment) if running.segment is not None else None,
            "offSegmentNextHop": str(running.config.off_segment_next_hop),
            "announced": [
                {
                    "prefix": a.prefix,
                    "nextHop": a.next_hop,
                    "family": str(a.family),
                    "communities": list(a.communities),
                    "reason": a.reason,
                }
                for a in running.announced
            ],
            "skipped": [
                {"prefix": s.prefix, "family": str(s.family), "reason": s.reason} for s in running.skipped
            ],
        }
        previous = data.get("routes")
        if isinstance(previous, dict) and "notSent" in previous:
            routes["notSent"] = previous["notSent"]
        data["routes"] = routes
    return data


def commands(daemon: DaemonControl) -> dict[str, CommandSpec]:
    """The command table the control server serves for ``daemon``."""

    async def sessions(args: Mapping[str, Any]) -> Any:
        only_known(args, ("name",))
        return sessions_data(daemon.snapshot(), optional_name(args, "name"))

    async def advertised(args: Mapping[str, Any]) -> Any:
        return Streamed(advertised_listing(daemon.snapshot(), RouteQuery.from_args(args)))

    async def received(args: Mapping[str, Any]) -> Any:
        query = RouteQuery.from_args(args)
        snapshot = daemon.snapshot()
        names = sorted(snapshot.running)
        if query.session is not None:
            _planned(snapshot, query.session)  # a planned session run by another gateway has none here
            names = [query.session] if query.session in snapshot.running else []
        return Streamed(received_listing(names, daemon.received, query))

    async def allocations(_args: Mapping[str, Any]) -> Any:
        return Streamed(allocations_listing(daemon.snapshot().plan))

    async def describe(args: Mapping[str, Any]) -> Any:
        name = require_str(args, "name")
        return describe_session_data(daemon.snapshot(), name, daemon.session_status(name))

    async def status(args: Mapping[str, Any]) -> Any:
        only_known(args, ())
        return status_data(daemon.snapshot(), daemon.generation, daemon.loop_lag)

    async def reload(args: Mapping[str, Any]) -> Any:
        force = optional_bool(args, "force")
        try:
            return {
                "message": await daemon.reload("bgpctl reload --force" if force else "bgpctl reload", force)
            }
        except ReloadRejectedError as err:
            count = len(err.errors)
            text = "; ".join(err.errors)
            raise ControlError(
                ErrorCode.FAILED,
                f"new configuration rejected ({count} error{'s' if count != 1 else ''}), "
                f"the old one keeps running: {text}",
            ) from None

    async def reset(args: Mapping[str, Any]) -> Any:
        name = require_str(args, "name")
        soft = optional_bool(args, "soft")
        hard = optional_bool(args, "hard")
        if soft and hard:
            raise ControlError(ErrorCode.INVALID_ARGUMENT, 'a reset is "soft" or "hard", not both')
        if name not in daemon.snapshot().running:
            raise ControlError(ErrorCode.NOT_FOUND, f"no bgpsession named {name!r} runs on this host")
        return {"message": await daemon.reset_session(name, soft, hard)}

    async def stop(args: Mapping[str, Any]) -> Any:
        only_known(args, ("withdraw",))
        return {"message": daemon.request_stop(optional_bool(args, "withdraw"))}

    async def disable(args: Mapping[str, Any]) -> Any:
        only_known(args, ("name", "message"))
        message = args.get("message", DEFAULT_SHUTDOWN_MESSAGE)
        if not isinstance(message, str):
            raise ControlError(ErrorCode.INVALID_ARGUMENT, 'argument "message" must be a string')
        size = len(message.encode("utf-8"))
        if size > MAX_SHUTDOWN_COMMUNICATION:
            raise ControlError(
                ErrorCode.INVALID_ARGUMENT,
                f'argument "message" is {size} octets in UTF-8; a shutdown communication holds at '
                f"most {MAX_SHUTDOWN_COMMUNICATION} (RFC 9003 §2)",
            )
        return {"message": await daemon.disable_session(require_str(args, "name"), message)}

    async def enable(args: Mapping[str, Any]) -> Any:
        only_known(args, ("name",))
        return {"message": await daemon.enable_session(require_str(args, "name"))}

    async def drain(args: Mapping[str, Any]) -> Any:
        only_known(args, ("session",))
        return {"message": await daemon.set_drained(optional_name(args, "session"), True)}

    async def undrain(args: Mapping[str, Any]) -> Any:
        only_known(args, ("session",))
        return {"message": await daemon.set_drained(optional_name(args, "session"), False)}

    async def metrics(args: Mapping[str, Any]) -> Any:
        only_known(args, ("format",))
        wanted = args.get("format", "openmetrics")
        if wanted not in METRICS_FORMATS:
            known = ", ".join(METRICS_FORMATS)
            raise ControlError(ErrorCode.INVALID_ARGUMENT, f'argument "format" must be one of {known}')
        fmt = METRICS_FORMATS[wanted]
        return {"contentType": fmt.content_type, "text": await daemon.metrics_text(fmt)}

    async def release(args: Mapping[str, Any]) -> Any:
        return {"message": await daemon.release_node(require_str(args, "name"))}

    return {
        Command.STATUS: CommandSpec(status),
        Command.SESSIONS: CommandSpec(sessions),
        Command.ADVERTISED_ROUTES: CommandSpec(advertised),
        Command.RECEIVED_ROUTES: CommandSpec(received),
        Command.ALLOCATIONS: CommandSpec(allocations),
        Command.DESCRIBE_SESSION: CommandSpec(describe),
        Command.RELOAD: CommandSpec(reload, privileged=True),
        Command.RESET_SESSION: CommandSpec(reset, privileged=True),
        Command.DISABLE_SESSION: CommandSpec(disable, privileged=True),
        Command.ENABLE_SESSION: CommandSpec(enable, privileged=True),
        Command.DRAIN: CommandSpec(drain, privileged=True),
        Command.UNDRAIN: CommandSpec(undrain, privileged=True),
        Command.METRICS: CommandSpec(metrics),
        Command.RELEASE_NODE: CommandSpec(release, privileged=True),
        Command.STOP: CommandSpec(stop, privileged=True),
    }
