"""The plan layer: validated inputs (manifests, settings, allocation state, local addresses) → what
this host runs and announces. Pure: no I/O, no clock, so ``bgpd plan`` shows exactly what ``bgpd
run`` does and the daemon only diffs two plans (``bgpd.plan.diff``).

Modules: ``session_config`` (one session's configuration and the declaration of every per-session
setting), ``settings`` (the settings file, generated from those declarations), ``segments`` (the
next-hop rule: which routes a session carries and why), ``model`` (the plan's values), ``build``
(making plans, again only for what changed), ``diff`` (running sessions vs a new plan → changes)."""

from bgpd.plan.build import Planner, build_plan, planned_sessions
from bgpd.plan.model import (
    Plan,
    PlannedNode,
    Problem,
    Route,
    Session,
    router_id,
    session_name,
)
from bgpd.plan.segments import Announced, Skipped, route_name
from bgpd.plan.session_config import NextHopPolicy, SessionConfig
from bgpd.plan.settings import LocalAddress, Settings

__all__ = [
    "Announced",
    "LocalAddress",
    "NextHopPolicy",
    "Plan",
    "PlannedNode",
    "Planner",
    "Problem",
    "Route",
    "Session",
    "SessionConfig",
    "Settings",
    "Skipped",
    "build_plan",
    "planned_sessions",
    "route_name",
    "router_id",
    "session_name",
]
