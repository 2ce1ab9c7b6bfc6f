"""The daemon's side of allocation: the log lines that say what happened to reservations and node
problems, and the reload guard against mass removals.

Kept apart from the runner so the runner only calls two hooks (docs/allocation.md): ``report``
after it planned, ``guard_reload`` before a reload swaps files.
"""

from __future__ import annotations

import structlog

from bgpd.daemon.handlers import ReloadRejectedError
from bgpd.manifests import Manifests
from bgpd.plan import Plan, Problem
from bgpd.plan.allocation import ledger_changes
from bgpd.plan.removals import removal_refusals
from bgpd.plan.settings import Settings
from bgpd.rib.ledger import Ledger, format_time

__all__ = ["guard_reload", "report"]

_log = structlog.get_logger("bgpd.daemon")


def report(reported: tuple[Problem, ...], plan: Plan, old_ledger: Ledger, reservation_time: int) -> None:
    """Log each node problem not ``reported`` before, and each reservation that began or ended.

    A node without any block is ``node_not_served``; a node that is served but has something to say
    (its ledger contradicted the file, a block outside every range kept) is ``allocation_problem``.
    """
    new = [problem for problem in plan.problems if problem not in reported]
    served = {node.name for node in plan.nodes if node.config is not None} if new else set()
    for problem in new:
        event = "allocation_problem" if problem.node in served else "node_not_served"
        _log.warning(event, node=problem.node, reason=problem.reason)
    for change in ledger_changes(old_ledger, plan.ledger, reservation_time):
        _log.info(
            change.event,
            node=change.node,
            pod_cidrs=list(change.pod_cidrs),
            missing_since=format_time(change.missing_since),
            reserved_until=format_time(change.reserved_until),
        )


def guard_reload(old: Manifests, new: Manifests, settings: Settings, *, force: bool, reason: str) -> None:
    """Refuse (``ReloadRejectedError``, logged) a reload removing more than ``removals.maxShare`` of
    the nodes or BGP peers at once, unless ``force``; a forced one is logged as such."""
    refusals = removal_refusals(old, new, settings.removals.max_share)
    for refusal in refusals:
        fields = {"what": refusal.what, "removed": list(refusal.removed), "running": refusal.running}
        if force:
            _log.warning("reload_forced", reason=reason, **fields)
        else:
            _log.error("reload_refused", reason=reason, max_share=refusal.max_share, **fields)
    if refusals and not force:
        raise ReloadRejectedError([r.reason for r in refusals])
