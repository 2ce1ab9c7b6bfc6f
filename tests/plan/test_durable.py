"""Which grants the ledger on disk lacks, and a plan that announces none of them."""

from __future__ import annotations

from bgpd.manifests.cluster import NodePodCidrs
from bgpd.plan.durable import unrecorded, withheld
from bgpd.rib.ledger import Ledger, NodeAllocation, Reservation
from tests.plan._fixtures import SINGLE, plan, with_node

A = NodeAllocation("10.0.1.11", "cluster-wide-1", "222.2.0.0/24", None)
B = NodeAllocation("10.0.1.21", "cluster-wide-1", "222.2.1.0/24", None)


def test_a_new_node_and_a_moved_block_are_unrecorded_a_renamed_config_is_not() -> None:
    on_disk = Ledger((A, B))
    renamed = NodeAllocation(A.node, "renamed", A.ipv4, None)
    moved = NodeAllocation(B.node, B.config, "222.2.2.0/24", None)
    new = NodeAllocation("10.0.1.31", "cluster-wide-1", "222.2.3.0/24", None)
    assert unrecorded(on_disk, Ledger((renamed, moved, new))) == {
        (B.node, "222.2.2.0/24"),
        (new.node, "222.2.3.0/24"),
    }
    assert unrecorded(on_disk, Ledger((A,), (Reservation(B, 10),))) == frozenset()  # only removed


def test_a_gained_family_is_unrecorded_alone_and_a_reservation_on_disk_is_not_a_record() -> None:
    dual = NodeAllocation(A.node, A.config, A.ipv4, "2222:3::/120")
    assert unrecorded(Ledger((A,)), Ledger((dual,))) == {(A.node, "2222:3::/120")}
    assert unrecorded(Ledger((), (Reservation(B, 10),)), Ledger((B,))) == {(B.node, B.ipv4)}


def test_a_block_a_node_document_gives_needs_no_ledger_on_disk() -> None:
    """The cluster file records it: a restart reads the same Node document, whatever the ledger."""
    dual = NodeAllocation("10.0.1.31", "cluster-wide-1", "222.2.3.0/24", "2222:3::300/120")
    pinned = [NodePodCidrs(dual.node, "node-10-0-1-31", "222.2.3.0/24", "2222:3:0::300/120")]
    assert unrecorded(Ledger(()), Ledger((dual,)), pinned) == frozenset()
    v4_only = [NodePodCidrs(dual.node, "node-10-0-1-31", "222.2.3.0/24", None)]
    assert unrecorded(Ledger(()), Ledger((dual,)), v4_only) == {(dual.node, "2222:3::300/120")}
    other = [NodePodCidrs("10.0.1.41", "node-10-0-1-41", "222.2.3.0/24", None)]  # not this node's
    assert unrecorded(Ledger(()), Ledger((dual,)), other) == {
        (dual.node, b) for b in ("222.2.3.0/24", "2222:3::300/120")
    }


def test_withheld_routes_are_skipped_with_the_reason_everything_else_as_planned() -> None:
    full = plan(with_node(SINGLE, "10.0.1.31"))
    block = next(r.prefix for r in full.routes if r.next_hop == "10.0.1.31")
    cut = withheld(full, {("10.0.1.31", block)}, "the disk is full")
    for before, after in zip(full.sessions, cut.sessions, strict=True):
        assert [a for a in before.announced if a.prefix != block] == list(after.announced)
        carried = any(a.prefix == block for a in before.announced)
        assert after.skipped[: len(before.skipped)] == before.skipped
        assert [(s.prefix, s.reason) for s in after.skipped[len(before.skipped) :]] == (
            [(block, "not announced: the disk is full")] if carried else []
        )
    assert any(a.prefix == block for s in full.sessions for a in s.announced)
    shared = {(id(s.announced), id(t.announced)) for s, t in zip(full.sessions, cut.sessions, strict=True)}
    assert len({old for old, _ in shared}) == len({new for _, new in shared})  # alike still share one
    assert [(p.node, p.reason) for p in cut.problems] == [
        ("10.0.1.31", f"{block} not announced: the disk is full")
    ]
    assert (cut.nodes, cut.routes, cut.ledger) == (full.nodes, full.routes, full.ledger)
    assert withheld(full, (), "unused") is full
