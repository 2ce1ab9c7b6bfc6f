"""The reload guard as a pure function: old manifests vs new → a refusal per kind that loses too much."""

from __future__ import annotations

import pytest

from bgpd.manifests import Manifests, parse_manifests
from bgpd.plan.removals import removal_refusals
from tests.manifests._cluster import Docs, base, kind, node_pool, peer, render


def manifests(docs: Docs) -> Manifests:
    return parse_manifests(render(docs), "c.yaml").manifests


def with_workers(count: int, peers: int = 2) -> Docs:
    docs = base()
    docs[1] = node_pool(
        "np1",
        [{"address": f"10.0.1.{30 + i}", "ipv6Address": f"2001:db8:1::{30 + i:x}"} for i in range(count)],
    )
    docs[5:] = [peer(f"p{i}", f"10.0.1.{250 + i}", 1) for i in range(peers)]
    return docs


@pytest.mark.parametrize(
    ("before", "after", "max_share", "refused"),
    [
        (7, 5, 0.25, False),  # 2 of 8 nodes (the control-plane node counts): exactly 25%
        (7, 4, 0.25, True),  # 3 of 8
        (7, 0, 1.0, False),  # 1 turns the guard off
        (7, 6, 0.0, True),  # 0: every removal needs --force
        (3, 3, 0.0, False),  # nothing removed
    ],
)
def test_node_share(before: int, after: int, max_share: float, refused: bool) -> None:
    refusals = removal_refusals(manifests(with_workers(before)), manifests(with_workers(after)), max_share)
    assert bool(refusals) is refused
    if refused:
        assert refusals[0].what == "nodes" and refusals[0].running == before + 1


def test_peers_are_compared_by_address_and_named_in_the_reason() -> None:
    old = manifests(with_workers(2, peers=3))
    renamed = with_workers(2, peers=3)
    kind(renamed, "BGPPeer", 0)["metadata"]["name"] = "renamed"
    assert removal_refusals(old, manifests(renamed), 0.0) == ()
    (refusal,) = removal_refusals(old, manifests(with_workers(2, peers=1)), 0.25)
    assert refusal.what == "BGP peers" and refusal.removed == ("p1 (10.0.1.251)", "p2 (10.0.1.252)")
    assert refusal.reason == (
        "the new cluster file removes 2 of 3 BGP peers at once (67%, more than removals.maxShare 25%): "
        "p1 (10.0.1.251), p2 (10.0.1.252); refused, the running configuration stays (a half-written "
        "file looks like this); if the removal is intended, run `bgpctl reload --force`"
    )


def test_a_long_list_of_removed_nodes_is_cut_short() -> None:
    (refusal,) = removal_refusals(manifests(with_workers(20)), manifests(with_workers(1)), 0.25)
    assert refusal.reason.count("10.0.1.") == 8 and "and 11 more" in refusal.reason


def test_both_kinds_can_be_refused_at_once() -> None:
    refusals = removal_refusals(
        manifests(with_workers(7, peers=4)), manifests(with_workers(1, peers=1)), 0.25
    )
    assert [r.what for r in refusals] == ["nodes", "BGP peers"]
