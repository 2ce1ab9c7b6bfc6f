"""Control-socket answers: the JSON shapes of docs/control-protocol.md, built from daemon snapshots.

The data functions are pure (a ``Snapshot`` in, JSON-ready values out), so their shapes are tested
without sockets; ``commands`` wires them to a running daemon (``DaemonControl``) for the server.
Sessions the plan has but this host does not run (their floating IP is elsewhere) are listed too,
``NotEstablished`` with the reason in ``lastError``: the operator sees every session of the
cluster file on every gateway, and which gateway runs it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bgpd.control.protocol import Command, ControlError, ErrorCode, optional_bool, require_str
from bgpd.control.queries import RouteQuery, only_known, optional_name
from bgpd.control.server import CommandSpec
from bgpd.daemon.metrics import Format
from bgpd.plan import Plan, Session
from bgpd.speaker import ReceivedRoute, SessionStatus
from bgpd.speaker.status import rfc3339
from bgpd.wire.notification import MAX_SHUTDOWN_COMMUNICATION

__all__ = [
    "DaemonControl",
    "ReloadRejectedError",
    "Snapshot",
    "advertised_routes_data",
    "allocations_data",
    "commands",
    "describe_session_data",
    "received_routes_data",
    "sessions_data",
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
class Snapshot:
    """What the daemon runs right now: the plan, the sessions it runs here, and their status."""

    plan: Plan
    running: Mapping[str, Session]  # as the speaker runs them
    statuses: Mapping[str, SessionStatus]
    planned_at: float  # POSIX time the plan (or the held floating IPs) last changed


class ReloadRejectedError(Exception):
    """The new configuration was refused; ``errors`` lists every problem, the old plan still runs."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = tuple(errors)


class DaemonControl(Protocol):
    def snapshot(self) -> Snapshot: ...

    def received_routes(self, name: str) -> list[ReceivedRoute]: ...

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


def _session_detail(snapshot: Snapshot, session: Session) -> dict[str, Any]:
    status = snapshot.statuses.get(session.name)
    data = _not_running(session, snapshot.planned_at) if status is None else status.to_control()
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
    out = []
    for session in wanted:
        detail = _session_detail(snapshot, session)
        out.append({key: detail[key] for key in SESSION_FIELDS})
    return out


_RouteKey = tuple[str, str, tuple[str, ...]]  # prefix, next hop, communities


def advertised_routes_data(snapshot: Snapshot, query: RouteQuery | None = None) -> list[dict[str, Any]]:
    """The ``advertised-routes`` reply: one object per (prefix, next hop, communities) with the
    sessions carrying it.

    Every planned route is listed, even when no session here carries it (``sessions`` empty); a
    route announced differently on some sessions — with next-hop-self, or with GRACEFUL_SHUTDOWN
    from a drained session — is an extra object, right after the planned one.
    ``query`` keeps the routes carried by its session and inside its prefix, at most ``limit``."""
    query = query or RouteQuery()
    if query.session is not None:
        _planned(snapshot, query.session)
    carriers: dict[_RouteKey, list[str]] = {}
    names: dict[_RouteKey, tuple[str, str]] = {}
    variants: dict[tuple[str, str], list[_RouteKey]] = {}  # (prefix, next hop) → its keys
    for name in sorted(snapshot.running):
        for announced in snapshot.running[name].announced:
            key = (announced.prefix, announced.next_hop, announced.communities)
            if key not in carriers:
                carriers[key] = []
                names[key] = (announced.name, str(announced.family))
                variants.setdefault(key[:2], []).append(key)
            carriers[key].append(name)
    ordered: list[_RouteKey] = []
    for route in snapshot.plan.routes:
        keys = variants.pop((route.prefix, route.next_hop), None)
        if keys is None:
            keys = [(route.prefix, route.next_hop, ())]
            carriers[keys[0]] = []
            names[keys[0]] = (route.name, str(route.family))
        ordered += sorted(keys, key=lambda k: k[2])
    ordered += [key for keys in variants.values() for key in sorted(keys, key=lambda k: k[2])]
    wanted = (
        key
        for key in ordered
        if query.wants_prefix(key[0]) and (query.session is None or query.session in carriers[key])
    )
    return [
        {
            "name": names[key][0],
            "prefix": key[0],
            "metric": None,
            "nextHop": key[1],
            "family": names[key][1],
            "communities": list(key[2]),
            "sessions": carriers[key],
        }
        for key in itertools.islice(wanted, query.limit)
    ]


def received_routes_data(
    names: Sequence[str], routes_of: Callable[[str], Sequence[ReceivedRoute]], query: RouteQuery
) -> list[dict[str, Any]]:
    """The ``received-routes`` reply: the routes of the sessions ``names`` (in that order) inside the
    query's prefix, at most its ``limit``. A session's table is fetched only while more are wanted."""
    wanted = (route for name in names for route in routes_of(name) if query.wants_prefix(route.prefix))
    return [route.to_control() for route in itertools.islice(wanted, query.limit)]


def allocations_data(plan: Plan) -> list[dict[str, Any]]:
    """Every node of the plan, then every node that left the file and whose blocks are reserved
    (``nodePool`` null, ``missingSince`` set: what ``bgpctl release node`` can free)."""
    present = [
        {
            "node": node.name,
            "nodePool": node.pool,
            "clusterCIDRConfig": node.config,
            "podCIDRs": list(node.pod_cidrs),
            "nodeIPs": [ip for ip in (node.address, node.ipv6_address) if ip is not None],
            "missingSince": None,
        }
        for node in plan.nodes
    ]
    reserved = [
        {
            "node": r.node,
            "nodePool": None,
            "clusterCIDRConfig": r.allocation.config,
            "podCIDRs": [c for c in (r.allocation.ipv4, r.allocation.ipv6) if c is not None],
            "nodeIPs": [],
            "missingSince": rfc3339(r.missing_since),
        }
        for r in plan.ledger.reserved
    ]
    return present + reserved


def describe_session_data(snapshot: Snapshot, name: str) -> dict[str, Any]:
    """The ``describe-session`` reply: the speaker's detail plus what the session carries and why."""
    session = _planned(snapshot, name)
    data = _session_detail(snapshot, session)
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
        return advertised_routes_data(daemon.snapshot(), RouteQuery.from_args(args))

    async def received(args: Mapping[str, Any]) -> Any:
        query = RouteQuery.from_args(args)
        snapshot = daemon.snapshot()
        names = sorted(snapshot.statuses)
        if query.session is not None:
            _planned(snapshot, query.session)  # a planned session run by another gateway has none here
            names = [query.session] if query.session in snapshot.statuses else []
        return received_routes_data(names, daemon.received_routes, query)

    async def allocations(_args: Mapping[str, Any]) -> Any:
        return allocations_data(daemon.snapshot().plan)

    async def describe(args: Mapping[str, Any]) -> Any:
        return describe_session_data(daemon.snapshot(), require_str(args, "name"))

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
        if name not in daemon.snapshot().statuses:
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
