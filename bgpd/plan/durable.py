"""Rule 1 across a failed ledger write: a pod CIDR is announced only once the ledger that gives it
is on disk (docs/allocation.md, "The ledger file").

Were a block announced that the ledger on disk does not record, a restart would read the old
ledger and could give that block to another node, or the node another block, while the routers
already route it and the node's pods use it. So when the daemon cannot write a plan's ledger it
asks ``unrecorded`` which of the plan's grants the ledger on disk lacks, and runs the plan
``withheld`` from them: every other route goes out as planned. A block a Node document in the
cluster file gives its node is recorded there, whatever this gateway's ledger says (a restart reads
the same file), so it never waits for the ledger. Pure.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Collection

from bgpd.manifests.cluster import NodePodCidrs
from bgpd.plan.model import Plan, Problem, Session
from bgpd.plan.segments import Announced, Skipped
from bgpd.rib.ledger import Ledger

__all__ = ["Grant", "unrecorded", "withheld"]

Grant = tuple[str, str]
"""(node, block): one pod CIDR given to one node."""


def unrecorded(on_disk: Ledger, planned: Ledger, pinned: Collection[NodePodCidrs] = ()) -> frozenset[Grant]:
    """The blocks ``planned`` gives its present nodes that neither ``on_disk`` gives the same node
    as a present node nor a Node document (``pinned``, the file's) gives it. A reservation on disk
    does not count: it runs out, and a restart after that could serve the returning node afresh."""
    known = set(on_disk.entries)
    new = [entry for entry in planned.entries if entry not in known]
    if not new:
        return frozenset()
    recorded = {(e.node, b) for e in on_disk.entries for b in (e.ipv4, e.ipv6) if b is not None}
    recorded |= {(n.node, _canonical(b)) for n in pinned for b in (n.ipv4, n.ipv6) if b is not None}
    return frozenset(
        (e.node, b)
        for e in new
        for b in (e.ipv4, e.ipv6)
        if b is not None and (e.node, b) not in recorded and (e.node, _canonical(b)) not in recorded
    )


def _canonical(block: str) -> str:
    """One spelling per block (a Node document may write ``2222:3:0::/120``)."""
    return str(ipaddress.ip_network(block, strict=False))


def withheld(plan: Plan, grants: Collection[Grant], why: str) -> Plan:
    """``plan`` announcing none of ``grants``: every session skips their routes, saying ``why``
    (``"its block is …"``), and each of their nodes has a problem saying so. Sessions that share
    one tuple of routes keep sharing one."""
    if not grants:
        return plan
    held = frozenset(grants)
    cut: dict[tuple[int, int], tuple[tuple[Announced, ...], tuple[Skipped, ...]]] = {}
    sessions: list[Session] = []
    for session in plan.sessions:
        key = (id(session.announced), id(session.skipped))
        found = cut.get(key)
        if found is None:
            out = [a for a in session.announced if (a.node, a.prefix) in held]
            found = (session.announced, session.skipped)
            if out:
                kept = tuple(a for a in session.announced if (a.node, a.prefix) not in held)
                said = tuple(Skipped(a.prefix, a.family, a.node, f"not announced: {why}") for a in out)
                found = (kept, session.skipped + said)
            cut[key] = found
        announced, skipped = found
        sessions.append(
            session
            if announced is session.announced
            else dataclasses.replace(session, announced=announced, skipped=skipped)
        )
    blocks: dict[str, list[str]] = {}
    for node, block in sorted(held):
        blocks.setdefault(node, []).append(block)
    reasons = {p.node: p.reason for p in plan.problems}
    for node, its in blocks.items():
        text = f"{' and '.join(its)} not announced: {why}"
        reasons[node] = f"{reasons[node]}; {text}" if node in reasons else text
    problems = tuple(Problem(node, reasons[node]) for node in sorted(reasons))
    return dataclasses.replace(plan, sessions=tuple(sessions), problems=problems)
