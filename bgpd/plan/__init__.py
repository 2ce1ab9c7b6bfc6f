"""The plan layer: validated inputs (manifests, settings, allocation state, local addresses) → what
this host runs and announces. Pure: no I/O, no clock, so ``bgpd plan`` shows exactly what ``bgpd
run`` does and the daemon only diffs two plans."""

from bgpd.plan.build import (
    Plan,
    PlannedNode,
    Problem,
    Route,
    Session,
    build_plan,
    route_name,
    session_name,
)

__all__ = ["Plan", "PlannedNode", "Problem", "Route", "Session", "build_plan", "route_name", "session_name"]
