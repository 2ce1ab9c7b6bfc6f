"""The sessions running now vs a new plan → the fewest changes. Pure, so the "reload without flaps"
rule is a tested function rather than a property of the event loop.

Sessions are compared by name (a name always means the same peer and floating IP), their settings
field by field, their routes prefix by prefix:

- a session only in the plan starts; one only running stops — as de-configured (Cease 6/3) when the
  plan no longer has it at all, as an administrative shutdown (6/2) when it is still planned but
  its floating IP left this host;
- a changed setting takes effect as its declaration says (``Apply`` on ``SessionConfig``):
  ``OPEN`` resets the session (Cease 6/6, RFC 4486 "Other Configuration Change"), because the peer
  only learns it from a new OPEN (RFC 4271 §4.2) or it names another session; ``CONNECTION``
  reconfigures it in place, without a flap; ``ROUTES`` changes only what it announces;
- a session whose routes changed gets the routes to announce and the prefixes to withdraw
  (``UpdateRoutes``); draining or undraining a session is such a change (its routes gain or lose
  the GRACEFUL_SHUTDOWN community). Sessions alike share one export tuple, so the comparison is
  made once per pair of exports, not per session; and when the planner says what an export
  changed (``bgpd.plan.build.ExportChange``) that is taken as it is, without comparing the tables;
- a session the operator disabled (``Session.disabled``) is held down: ``Disable`` takes it down
  first, and every later change (a start, a reset) leaves it down, so no reload or restart brings
  it up; ``Enable`` comes last, once the session has its new configuration;
- anything else is not touched at all.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass

from bgpd.plan.build import ExportChange
from bgpd.plan.model import Plan, Session
from bgpd.plan.segments import Announced
from bgpd.plan.session_config import Apply, SessionConfig, apply_of
from bgpd.rib.routes import Route as RibRoute
from bgpd.wire.constants import Family
from bgpd.wire.nlri import Prefix

__all__ = [
    "Change",
    "Disable",
    "Enable",
    "Reconfigure",
    "Reset",
    "Start",
    "Stop",
    "StopReason",
    "UpdateRoutes",
    "changed_settings",
    "diff",
    "needs_reset",
    "speaker_changes",
]


class StopReason(enum.Enum):
    DECONFIGURED = "peer de-configured"  # the plan has no such session any more
    ADDRESS_LEFT = "floating IP left this host"  # still planned, run elsewhere


@dataclass(frozen=True, slots=True)
class Start:
    session: Session


@dataclass(frozen=True, slots=True)
class Stop:
    session: Session  # as it ran
    reason: StopReason


@dataclass(frozen=True, slots=True)
class Reset:
    session: Session
    changed: tuple[str, ...]  # the SessionConfig fields that differ, for the log


@dataclass(frozen=True, slots=True)
class Reconfigure:
    """Only connection-level settings changed: swap the session's config without a reset."""

    session: Session
    changed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UpdateRoutes:
    session: Session
    announce: tuple[RibRoute, ...]  # prefixes added, or with a new next hop or communities
    withdraw: tuple[tuple[Family, Prefix], ...]  # prefixes no longer carried

    @property
    def announced(self) -> int:
        return len(self.announce)

    @property
    def withdrawn(self) -> int:
        return len(self.withdraw)


@dataclass(frozen=True, slots=True)
class Disable:
    """The operator disabled a running session: Cease 6/2 with ``session.disabled`` (RFC 9003)."""

    session: Session


@dataclass(frozen=True, slots=True)
class Enable:
    """The operator enabled a session held down: start it."""

    session: Session


Change = Start | Stop | Reset | Reconfigure | UpdateRoutes | Disable | Enable


def changed_settings(old: SessionConfig, new: SessionConfig) -> tuple[str, ...]:
    """The ``SessionConfig`` fields whose values differ, in field order."""
    return tuple(
        f.name for f in dataclasses.fields(SessionConfig) if getattr(old, f.name) != getattr(new, f.name)
    )


def speaker_changes(old: SessionConfig, new: SessionConfig) -> tuple[str, ...]:
    """The changed fields the speaker must act on (``ROUTES`` ones reach it as routes)."""
    return tuple(name for name in changed_settings(old, new) if apply_of(name) is not Apply.ROUTES)


def needs_reset(changed: tuple[str, ...]) -> bool:
    """True if any of the ``changed`` fields applies with a new OPEN (undeclared ones do)."""
    return any(apply_of(name) is Apply.OPEN for name in changed)


def diff(
    running: Mapping[str, Session], plan: Plan, deltas: Mapping[int, ExportChange] | None = None
) -> list[Change]:
    """The changes that turn the ``running`` sessions into ``plan``'s local ones, stops first (they
    free listeners), then the rest by session name. ``deltas``: what the planner says each export
    changed (``Planner.deltas``), keyed by the id of the old export's routes."""
    desired = plan.local_sessions()
    planned = {s.name for s in plan.sessions}
    compared: dict[tuple[int, int], _Moved] = {}  # pairs of exports compared once
    changes: list[Change] = []
    for name in sorted(set(running) - set(desired)):
        reason = StopReason.ADDRESS_LEFT if name in planned else StopReason.DECONFIGURED
        changes.append(Stop(running[name], reason))
    for name in sorted(desired):
        new = desired[name]
        old = running.get(name)
        if old is None:
            changes.append(Start(new))
            continue
        if new.disabled is not None and old.disabled is None:
            changes.append(Disable(new))
        changed = speaker_changes(old.config, new.config)
        if needs_reset(changed):
            changes.append(Reset(new, changed))
        else:
            if changed:
                changes.append(Reconfigure(new, changed))
            routes = _route_change(old, new, compared, deltas or {})
            if routes is not None:
                changes.append(routes)
        if new.disabled is None and old.disabled is not None:
            changes.append(Enable(new))
    return changes


_Moved = tuple[tuple[RibRoute, ...], tuple[tuple[Family, Prefix], ...]]  # to announce, to withdraw


def _route_change(
    old: Session, new: Session, compared: dict[tuple[int, int], _Moved], deltas: Mapping[int, ExportChange]
) -> UpdateRoutes | None:
    if old.announced is new.announced:
        return None  # the same export (the plan shares it between alike sessions): nothing moved
    pair = (id(old.announced), id(new.announced))
    found = compared.get(pair)
    if found is None:
        known = deltas.get(pair[0])
        if known is not None and known.old is old.announced and known.new is new.announced:
            found = (known.announce, known.withdraw)
        else:
            found = _compare(old.announced, new.announced)
        compared[pair] = found
    announce, withdraw = found
    if not announce and not withdraw:  # a new reason alone (the segment's wording) sends nothing
        return None
    return UpdateRoutes(new, announce, withdraw)


def _compare(old: tuple[Announced, ...], new: tuple[Announced, ...]) -> _Moved:
    """What to announce and withdraw to go from ``old`` to ``new``, table against table."""
    before = {(a.route.family, a.route.prefix): a.route for a in old}
    after = {(a.route.family, a.route.prefix): a.route for a in new}
    announce = tuple(route for key, route in after.items() if before.get(key) != route)
    return announce, tuple(key for key in before if key not in after)
