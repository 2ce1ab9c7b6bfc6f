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
from bgpd.daemon.loop_lag import LoopLag
from bgpd.plan import Plan, Session
from bgpd.speaker import ReceivedRoute, SessionStatus, SessionSummary
from bgpd.speaker.status import rfc3339

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
    "status_data",
]

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
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the daemon runs right now: the plan, the sessions it runs here, and their status."""

    plan: Plan
    running: Mapping[str, Session]  # as the speaker runs them
    summaries: Mapping[str, SessionSummary]  # of the sessions running here
    planned_at: float  # POSIX time the plan (or the held floating IPs) last changed


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

    def received_routes(self, name: str) -> list[ReceivedRoute]: ...

    async def reload(self, reason: str) -> str: ...

    async def reset_session(self, name: str, soft: bool) -> str: ...


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
    if summary is None:
        return _not_running(session, snapshot.planned_at)
    return summary.to_control()


def _planned(snapshot: Snapshot, name: str) -> Session:
    session = next((s for s in snapshot.plan.sessions if s.name == name), None)
    if session is None:
        raise ControlError(ErrorCode.NOT_FOUND, f"no bgpsession named {name!r}")
    return session


def sessions_data(snapshot: Snapshot, name: str | None = None) -> list[dict[str, Any]]:
    """The ``sessions`` reply: every session of the plan in plan order, or only the one named."""
    wanted = snapshot.plan.sessions if name is None else [_planned(snapshot, name)]
    return [_session_object(snapshot, session) for session in wanted]


def advertised_routes_data(snapshot: Snapshot, query: RouteQuery | None = None) -> list[dict[str, Any]]:
    """The ``advertised-routes`` reply: one object per (prefix, next hop) with the sessions carrying it.

    Every planned route is listed, even when no session here carries it (``sessions`` empty); a
    route announced with next-hop-self on some sessions is an extra object with that next hop.
    ``query`` keeps the routes carried by its session and inside its prefix, at most ``limit``."""
    query = query or RouteQuery()
    if query.session is not None:
        _planned(snapshot, query.session)
    carriers: dict[tuple[str, str], list[str]] = {}
    names: dict[tuple[str, str], tuple[str, str]] = {}
    for route in snapshot.plan.routes:
        key = (route.prefix, route.next_hop)
        carriers[key] = []
        names[key] = (route.name, str(route.family))
    for name in sorted(snapshot.running):
        for announced in snapshot.running[name].announced:
            key = (announced.prefix, announced.next_hop)
            carriers.setdefault(key, []).append(name)
            names.setdefault(key, (announced.name, str(announced.family)))
    wanted = (
        key
        for key in carriers
        if query.wants_prefix(key[0]) and (query.session is None or query.session in carriers[key])
    )
    return [
        {
            "name": names[key][0],
            "prefix": key[0],
            "metric": None,
            "nextHop": key[1],
            "family": names[key][1],
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
    return [
        {
            "node": node.name,
            "nodePool": node.pool,
            "clusterCIDRConfig": node.config,
            "podCIDRs": list(node.pod_cidrs),
            "nodeIPs": [ip for ip in (node.address, node.ipv6_address) if ip is not None],
        }
        for node in plan.nodes
    ]


def describe_session_data(snapshot: Snapshot, name: str, status: SessionStatus | None) -> dict[str, Any]:
    """The ``describe-session`` reply: the speaker's detail (``status``, None when the session does
    not run here) plus what the session carries and why."""
    session = _planned(snapshot, name)
    data = status.to_control() if status is not None else _not_running(session, snapshot.planned_at)
    data["peer"] = session.peer
    data["families"] = [str(f) for f in session.families]
    running = snapshot.running.get(name)
    if running is not None:
        routes: dict[str, Any] = {
            "segment": str(running.segment) if running.segment is not None else None,
            "offSegmentNextHop": str(running.config.off_segment_next_hop),
            "announced": [
                {"prefix": a.prefix, "nextHop": a.next_hop, "family": str(a.family), "reason": a.reason}
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
    }


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
        names = sorted(snapshot.running)
        if query.session is not None:
            _planned(snapshot, query.session)  # a planned session run by another gateway has none here
            names = [query.session] if query.session in snapshot.running else []
        return received_routes_data(names, daemon.received_routes, query)

    async def allocations(_args: Mapping[str, Any]) -> Any:
        return allocations_data(daemon.snapshot().plan)

    async def describe(args: Mapping[str, Any]) -> Any:
        name = require_str(args, "name")
        return describe_session_data(daemon.snapshot(), name, daemon.session_status(name))

    async def reload(_args: Mapping[str, Any]) -> Any:
        try:
            return {"message": await daemon.reload("bgpctl reload")}
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
        if name not in daemon.snapshot().running:
            raise ControlError(ErrorCode.NOT_FOUND, f"no bgpsession named {name!r} runs on this host")
        return {"message": await daemon.reset_session(name, soft)}

    async def status(args: Mapping[str, Any]) -> Any:
        only_known(args, ())
        return status_data(daemon.snapshot(), daemon.generation, daemon.loop_lag)

    return {
        Command.STATUS: CommandSpec(status),
        Command.SESSIONS: CommandSpec(sessions),
        Command.ADVERTISED_ROUTES: CommandSpec(advertised),
        Command.RECEIVED_ROUTES: CommandSpec(received),
        Command.ALLOCATIONS: CommandSpec(allocations),
        Command.DESCRIBE_SESSION: CommandSpec(describe),
        Command.RELOAD: CommandSpec(reload, privileged=True),
        Command.RESET_SESSION: CommandSpec(reset, privileged=True),
    }
