"""Which pod CIDRs the plan announces for each node: the Node documents' when the file has them,
else this gateway's ledger's (docs/allocation.md).

- **Without Node documents** a lone gateway allocates: the allocator keeps every present node's
  recorded blocks, reserves a missing node's blocks for ``reservation_time`` seconds and gives new
  nodes the lowest free blocks (``bgpd.rib.allocator``).
- **With Node documents** (``kind: Node``, as ``kubectl get nodes -o yaml`` prints them) the file is
  the truth, so every gateway reading it announces the same prefix with the same next hop for every
  node, whatever its own ledger's history. A node's ``spec.podCIDRs`` are announced exactly; the
  ledger is made to agree (each contradiction is a problem naming the node and both CIDRs, logged
  once by the daemon: the ledger never moves silently). A node of the NodePools with no Node
  document, or one without ``podCIDRs``, is not announced at all (another gateway might allocate it
  differently); its ledger block is what ``bgpd plan -o nodes`` proposes for it.

Time is an input (``now``): the plan stays pure, and a test can replay any history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bgpd.manifests import Manifests
from bgpd.rib.allocator import (
    AllocationProblem,
    AllocationResult,
    CidrConfig,
    CidrRange,
    NodeSpec,
    PodCidrs,
    allocate,
)
from bgpd.rib.ledger import Ledger, NodeAllocation, Reservation

__all__ = [
    "LedgerChange",
    "allocate_nodes",
    "cidr_configs",
    "ledger_changes",
    "node_list",
]


def allocate_nodes(
    manifests: Manifests, ledger: Ledger, *, now: int, reservation_time: int
) -> AllocationResult:
    """The blocks to announce per node (``allocations``), the problems, and the ledger to commit.

    ``now`` (POSIX seconds) stamps new reservations; each lasts ``reservation_time`` seconds."""
    specs = [NodeSpec(n.name, n.labels) for n in manifests.nodes]
    configs = cidr_configs(manifests)
    if manifests.node_cidrs is None:
        return allocate(specs, configs, ledger, now=now, reservation_time=reservation_time)
    pinned: dict[str, PodCidrs] = {
        n.node: (n.ipv4, n.ipv6) for n in manifests.node_cidrs if n.ipv4 is not None or n.ipv6 is not None
    }
    result = allocate(specs, configs, ledger, now=now, reservation_time=reservation_time, pinned=pinned)
    proposed = {a.node: a for a in result.allocations}
    notes: dict[str, list[str]] = {}
    for node in manifests.nodes:
        if node.name not in pinned:
            notes[node.name] = [_unpinned(node.name, manifests, proposed.get(node.name))]
    for name, (v4, v6) in pinned.items():
        for enabled, family, block in (
            (manifests.enable_ipv4, "IPv4", v4),
            (manifests.enable_ipv6, "IPv6", v6),
        ):
            if enabled and block is None:
                notes.setdefault(name, []).append(
                    f"its Node document lists no {family} pod CIDR: no {family} route"
                )
    return AllocationResult(
        tuple(a for a in result.allocations if a.node in pinned),
        _merge(result.problems, notes),
        result.ledger,
    )


def cidr_configs(manifests: Manifests) -> list[CidrConfig]:
    """The ClusterCIDRConfigs as the allocator reads them."""
    return [
        CidrConfig(
            name=c.name,
            selector=c.selector,
            ipv4=CidrRange(c.ipv4.cidr, c.ipv4.per_node_mask) if c.ipv4 is not None else None,
            ipv6=CidrRange(c.ipv6.cidr, c.ipv6.per_node_mask) if c.ipv6 is not None else None,
        )
        for c in manifests.cidr_configs
    ]


def _unpinned(name: str, manifests: Manifests, proposal: NodeAllocation | None) -> str:
    described = any(n.node == name for n in manifests.node_cidrs or ())
    why = "its Node document has no spec.podCIDRs" if described else "the file has no Node document for it"
    offer = ""
    if proposal is not None:
        blocks = " and ".join(b for b in (proposal.ipv4, proposal.ipv6) if b is not None)
        offer = f" (`bgpd plan -o nodes` proposes {blocks})"
    return (
        f"not announced: {why}, and with Node documents in the file only their pod CIDRs are announced"
        + offer
    )


def _merge(
    problems: Iterable[AllocationProblem], notes: Mapping[str, list[str]]
) -> tuple[AllocationProblem, ...]:
    """One problem per node, sorted by node: the allocator's reason first, then the plan's notes."""
    reasons: dict[str, list[str]] = {p.node: [p.reason] for p in problems}
    for name, extra in notes.items():
        reasons.setdefault(name, []).extend(extra)
    return tuple(AllocationProblem(name, "; ".join(reasons[name])) for name in sorted(reasons))


def node_list(manifests: Manifests, ledger: Ledger) -> dict[str, Any]:
    """The allocation as a ``kind: List`` of Node objects, for the cluster and for the file.

    One Node per node holding blocks in ``ledger`` (a plan's ledger: the Node documents' blocks, and
    the proposals for the others), named as its Node document names it (else by its address), with
    its data address as InternalIP: read back by any gateway, it makes that gateway announce these.
    """
    object_names = {n.node: n.object_name for n in manifests.node_cidrs or ()}
    blocks = {entry.node: entry for entry in ledger.entries}
    items: list[dict[str, Any]] = []
    for node in manifests.nodes:
        entry = blocks.get(node.name)
        if entry is None:
            continue
        cidrs = [cidr for cidr in (entry.ipv4, entry.ipv6) if cidr is not None]
        addresses = [a for a in (node.address, node.ipv6_address) if a is not None]
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": object_names.get(node.name, node.name)},
                "spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs},
                "status": {"addresses": [{"type": "InternalIP", "address": a} for a in addresses]},
            }
        )
    return {"apiVersion": "v1", "kind": "List", "items": items}


@dataclass(frozen=True, slots=True)
class LedgerChange:
    """A reservation that began or ended between two ledgers, for the daemon's log."""

    event: str  # "node_reserved" | "node_returned" | "reservation_ended"
    node: str
    pod_cidrs: tuple[str, ...]
    missing_since: int
    reserved_until: int


def ledger_changes(old: Ledger, new: Ledger, reservation_time: int) -> tuple[LedgerChange, ...]:
    """What happened to reservations from ``old`` to ``new``, sorted by node.

    A reservation that ended without the node coming back ran out, was released, or was taken by a
    Node document (the plan's problems say which)."""
    before = {r.node: r for r in old.reserved}
    after = {r.node: r for r in new.reserved}
    changes = [
        _change("node_reserved", r, reservation_time) for name, r in after.items() if name not in before
    ]
    ended = [reservation for name, reservation in before.items() if name not in after]
    if ended:  # the nodes of the new ledger are looked at only then: a reload of 10k nodes has none
        present = {e.node for e in new.entries}
        for reservation in ended:
            event = "node_returned" if reservation.node in present else "reservation_ended"
            changes.append(_change(event, reservation, reservation_time))
    return tuple(sorted(changes, key=lambda c: c.node))


def _change(event: str, reservation: Reservation, reservation_time: int) -> LedgerChange:
    allocation = reservation.allocation
    return LedgerChange(
        event,
        reservation.node,
        tuple(b for b in (allocation.ipv4, allocation.ipv6) if b is not None),
        reservation.missing_since,
        reservation.missing_since + reservation_time,
    )
