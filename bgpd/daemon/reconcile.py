"""Plan → the sessions this host should run, and old vs new of those → the fewest actions.

Pure, so the "reload without flaps" rule is a tested function rather than a property of the loop:

- a session only in the new set starts; one only in the old set stops: withdrawing its routes
  (Cease 6/3, a Hard Reset with the N bit) when the configuration dropped it; gracefully (Cease 6/4
  that is no Hard Reset, or a bare close, RFC 4724/8538) when its floating IP left this host,
  because the session goes on from the IP's new holder and the peer should keep the routes;
- a session whose OPEN-level settings changed (``OPEN_FIELDS``: ASNs, router id, families, hold and
  keepalive timers, extended next hop, graceful restart, and the addresses that identify it) is
  reset (Cease 6/6, RFC 4486 "Other Configuration Change", graceful: a graceful restart peer keeps
  the routes, RFC 8538 §5) and starts again with the new config: the peer only learns them from a
  new OPEN (RFC 4271 §4.2), and a session's address pair is what it is;
- a session where only connection-level settings changed (``CONNECTION_FIELDS``: TCP port,
  passive, freebind, TTL/multihop, connect-retry, DelayOpen and idle-hold timers, peer damping,
  send hold time) is reconfigured in place, without a flap: a live connection keeps running (it
  gets the new TTL at once), the rest applies to the session's next connection (one still only
  trying to connect starts its attempt again with the new settings);
- a session whose routes changed gets only the new route set (the speaker's Adj-RIB-Out turns it
  into announcements and withdrawals);
- anything else is not touched at all.

A ``SessionConfig`` field in neither set counts as OPEN-level: resetting is the safe default for a
setting nobody classified.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from bgpd.plan import Plan, Session
from bgpd.plan.segments import Network, SessionExport, export_routes
from bgpd.plan.settings import Settings
from bgpd.rib.routes import Route
from bgpd.speaker import SessionConfig
from bgpd.wire.constants import CeaseSub

__all__ = [
    "CONNECTION_FIELDS",
    "OPEN_FIELDS",
    "Action",
    "DesiredSession",
    "ReconfigureSession",
    "ResetSession",
    "StartSession",
    "StopSession",
    "UpdateRoutes",
    "desired_sessions",
    "needs_reset",
    "reconcile",
    "router_id",
]


@dataclass(frozen=True, slots=True)
class DesiredSession:
    """One session this host should run: how (config), and what it announces (routes, export)."""

    plan: Session
    config: SessionConfig
    routes: frozenset[Route]
    export: SessionExport


@dataclass(frozen=True, slots=True)
class StartSession:
    session: DesiredSession


@dataclass(frozen=True, slots=True)
class StopSession:
    name: str
    subcode: CeaseSub
    text: str
    graceful: bool = False  # the session goes on elsewhere: the peer is to keep our routes


@dataclass(frozen=True, slots=True)
class ResetSession:
    session: DesiredSession
    changed: tuple[str, ...]  # the SessionConfig fields that differ, for the log


@dataclass(frozen=True, slots=True)
class ReconfigureSession:
    """Only connection-level settings changed: swap the session's config without a reset."""

    session: DesiredSession
    changed: tuple[str, ...]  # the SessionConfig fields that differ, for the log


@dataclass(frozen=True, slots=True)
class UpdateRoutes:
    session: DesiredSession
    announced: int  # routes added or changed
    withdrawn: int  # prefixes no longer carried


Action = StartSession | StopSession | ResetSession | ReconfigureSession | UpdateRoutes

OPEN_FIELDS: Final = frozenset(
    {
        "name",
        "local_ip",
        "peer_ip",
        "local_asn",
        "peer_asn",
        "router_id",
        "families",
        "hold_time",
        "keepalive_time",
        "extended_next_hop",
        "graceful_restart",
        "restart_time",
    }
)
"""Settings the peer sees in our OPEN, or that identify the session: a change needs a reset."""

CONNECTION_FIELDS: Final = frozenset(
    {
        "port",
        "passive",
        "freebind",
        "ttl",
        "connect_retry_time",
        "delay_open_time",
        "idle_hold_time",
        "idle_hold_max",
        "damp_peer_oscillations",
        "send_hold_time",
        "stale_time",
    }
)
"""Settings of the TCP connection and of the local FSM's retry pacing: applied without a flap."""


def router_id(plan: Plan, session: Session) -> ipaddress.IPv4Address:
    """Our BGP Identifier for ``session``: its floating IP when IPv4, else the first IPv4 floating IP
    of the plan, else 32 bits derived from the floating IP (RFC 6286: unique per AS is enough)."""
    local = ipaddress.ip_address(session.local_ip)
    if local.version == 4:
        return ipaddress.IPv4Address(local)
    for candidate in sorted({s.local_ip for s in plan.sessions}):
        address = ipaddress.ip_address(candidate)
        if address.version == 4:
            return ipaddress.IPv4Address(address)
    digest = int.from_bytes(hashlib.sha256(local.packed).digest()[:4], "big")
    return ipaddress.IPv4Address(digest or 1)


def _config(plan: Plan, session: Session, settings: Settings) -> SessionConfig:
    policy = settings.for_peer(session.peer_ip)
    return SessionConfig(
        name=session.name,
        local_ip=ipaddress.ip_address(session.local_ip),
        peer_ip=ipaddress.ip_address(session.peer_ip),
        local_asn=session.local_asn,
        peer_asn=session.peer_asn,
        router_id=router_id(plan, session),
        families=session.families,
        hold_time=policy.hold_time,
        keepalive_time=policy.keepalive_time,
        connect_retry_time=float(policy.connect_retry_time),
        delay_open_time=float(policy.delay_open_time),
        idle_hold_time=float(policy.idle_hold_time),
        damp_peer_oscillations=policy.damp_peer_oscillations,
        passive=policy.passive,
        port=policy.port,
        ttl=policy.ttl,
        freebind=policy.freebind,
    )


def desired_sessions(
    plan: Plan, settings: Settings, segments: Mapping[str, Network | None]
) -> dict[str, DesiredSession]:
    """The sessions of ``plan`` whose floating IP this host holds, keyed by name.

    ``segments`` maps each held floating IP (text) to its interface prefix, or None if unknown."""
    out: dict[str, DesiredSession] = {}
    for session in plan.sessions:
        if not session.local:
            continue
        policy = settings.for_peer(session.peer_ip).off_segment_next_hop
        export = export_routes(plan, session, segments.get(session.local_ip), policy)
        routes = frozenset(Route.parse(a.prefix, a.next_hop) for a in export.announced)
        out[session.name] = DesiredSession(session, _config(plan, session, settings), routes, export)
    return out


def _changed_fields(old: SessionConfig, new: SessionConfig) -> tuple[str, ...]:
    return tuple(f for f in SessionConfig.__dataclass_fields__ if getattr(old, f) != getattr(new, f))


def needs_reset(changed: tuple[str, ...]) -> bool:
    """True if any of the ``changed`` SessionConfig fields is not connection-level (see above)."""
    return any(field not in CONNECTION_FIELDS for field in changed)


def reconcile(
    current: Mapping[str, DesiredSession],
    desired: Mapping[str, DesiredSession],
    *,
    dropped_by_config: frozenset[str] = frozenset(),
) -> list[Action]:
    """The actions that turn ``current`` into ``desired``, stops first (they free listeners).

    ``dropped_by_config`` names the sessions the new configuration no longer has at all; any other
    session that disappears does so because its floating IP left this host."""
    actions: list[Action] = []
    for name in sorted(set(current) - set(desired)):
        if name in dropped_by_config:
            actions.append(StopSession(name, CeaseSub.PEER_DECONFIGURED, "peer de-configured"))
        else:
            text = f"floating IP {current[name].config.local_ip} left this host"
            actions.append(StopSession(name, CeaseSub.ADMINISTRATIVE_RESET, text, graceful=True))
    for name in sorted(desired):
        new = desired[name]
        old = current.get(name)
        if old is None:
            actions.append(StartSession(new))
            continue
        changed = _changed_fields(old.config, new.config)
        if needs_reset(changed):
            actions.append(ResetSession(new, changed))
            continue
        if changed:
            actions.append(ReconfigureSession(new, changed))
        if old.routes != new.routes:
            withdrawn = {r.prefix for r in old.routes} - {r.prefix for r in new.routes}
            actions.append(UpdateRoutes(new, len(new.routes - old.routes), len(withdrawn)))
    return actions
