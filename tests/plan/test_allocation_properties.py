"""Property (issue 9 §2): no sequence of reloads, crashes, partial files, node removals and re-adds
gives a block to a second node while the first may still use it, and no node moves while present.

The machine drives the plan the way the daemon does: parse the cluster file (whole, or cut at any
character, as a writer that paused mid-write leaves it; a file that does not validate is refused
and changes nothing), plan with the in-memory ledger and the clock, commit the ledger, then the
plan is in effect. A crash either comes before the commit (the plan never took effect: the
daemon commits before it announces) or after it; a restart reads the committed ledger and the
file as it is then. The reload guard is left out on purpose: the allocation must be safe alone.

What "may still use" means is kept apart from bgpd's own bookkeeping: a node's pods may hold its
blocks while it is in the plan in effect, and for ``RESERVATION`` seconds after the first plan in
effect without it, unless an operator released it in between.
"""

from __future__ import annotations

import ipaddress
import itertools
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bgpd.manifests import POOL_LABEL, ManifestError, parse_manifests
from bgpd.plan import Plan, build_plan
from bgpd.plan.settings import parse_settings
from bgpd.rib.ledger import Ledger
from tests.manifests._cluster import cidr_config, cluster, flat_mode, gateway, node_pool, peer, render

RESERVATION = 1000
SETTINGS = parse_settings({"allocation": {"reservationTime": RESERVATION}})
NAMES = [f"10.0.1.{20 + i}" for i in range(6)]
POOLS = ["np-a", "np-b"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


CONTROL_PLANE = "10.0.1.11"


def documents(nodes: dict[str, str]) -> list[dict[str, Any]]:
    """The whole file: the three documents a file cannot do without, then a 4-block config for pool
    np-a, a 4-block fallback, the two NodePools and the peer."""
    cluster_doc = cluster()
    cluster_doc["spec"]["controlPlane"]["nodePoolSpec"]["nodes"] = [{"address": CONTROL_PLANE}]
    return [
        cluster_doc,
        gateway("10.0.1.100"),
        flat_mode(ipv6=False),
        cidr_config("a", ipv4=("10.200.0.0/28", 30), ipv6=None, selector={POOL_LABEL: "np-a"}),
        cidr_config("b", ipv4=("10.201.0.0/28", 30), ipv6=None),
        *(node_pool(pool, [{"address": n} for n, p in sorted(nodes.items()) if p == pool]) for pool in POOLS),
        peer("tor", "10.0.1.254", sessions=1),
    ]


DOCUMENTS = len(documents({}))
REQUIRED = [0, 1, 2]
OPTIONAL = list(range(3, DOCUMENTS))


def blocks(plan: Plan) -> dict[str, frozenset[Network]]:
    """Every node of the plan that holds a block → its blocks."""
    return {
        n.name: frozenset(ipaddress.ip_network(c) for c in n.pod_cidrs) for n in plan.nodes if n.pod_cidrs
    }


class Gateway(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.nodes: dict[str, str] = {n: POOLS[i % 2] for i, n in enumerate(NAMES[:3])}  # the full file
        self.now = 1_740_830_400
        self.disk = Ledger.empty()  # the committed ledger
        self.memory: Ledger | None = Ledger.empty()  # the running daemon's ledger; None: down
        self.in_effect: dict[str, frozenset[Network]] = {}  # node -> blocks of the plan in effect
        self.present: set[str] = set()  # nodes of the plan in effect (with or without blocks)
        self.claims: dict[str, tuple[frozenset[Network], int | None]] = {}  # until None: present

    # --- what the operator and the file writer do ----------------------------------------------------

    @rule(name=st.sampled_from(NAMES), pool=st.sampled_from(POOLS))
    def add_or_move_node(self, name: str, pool: str) -> None:
        self.nodes[name] = pool

    @rule(name=st.sampled_from(NAMES))
    def remove_node(self, name: str) -> None:
        self.nodes.pop(name, None)

    @rule(seconds=st.sampled_from([1, RESERVATION // 2, RESERVATION - 1, RESERVATION, 3 * RESERVATION]))
    def time_passes(self, seconds: int) -> None:
        self.now += seconds

    @precondition(lambda self: self.memory is not None and self.memory.reserved != ())
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        assert self.memory is not None
        name = data.draw(st.sampled_from([r.node for r in self.memory.reserved]))
        self.memory = self.memory.release(name)
        self.disk = self.memory
        self.claims.pop(name, None)  # the operator says its pods are gone

    @rule(
        order=st.one_of(st.permutations(range(DOCUMENTS)), st.permutations(OPTIONAL).map(REQUIRED.__add__)),
        cut=st.one_of(st.none(), st.floats(0, 1), st.integers(1, DOCUMENTS - 1)),
        crash=st.sampled_from(["none", "before-commit", "after-commit"]),
    )
    def reload_or_restart(self, order: list[int], cut: float | int | None, crash: str) -> None:
        """A reload (or, when down, a start) reading the file, maybe cut, maybe crashing.

        ``cut``: a float cuts at that fraction of the text (anywhere, even inside a value: a cut
        address is another node), an int after that many documents (the cut that still parses)."""
        ledger = self.memory if self.memory is not None else self.disk
        docs = documents(self.nodes)
        if isinstance(cut, int):
            text = render([docs[i] for i in order[:cut]])
        else:
            text = render([docs[i] for i in order])
            text = text[: int(cut * len(text))] if cut is not None else text
        try:
            manifests = parse_manifests(text, "c.yaml").manifests
        except ManifestError:
            return  # refused: the running plan (or the stopped daemon) stays as it is
        plan = build_plan(manifests, SETTINGS, ledger, (), now=self.now)
        if cut is not None and {n.name for n in manifests.nodes} != {*self.nodes, CONTROL_PLANE}:
            event("a cut file with other nodes was applied")
        if crash == "before-commit":
            self.memory = None
            return
        self.disk = plan.ledger
        self.memory = None if crash == "after-commit" else plan.ledger
        self.take_effect(plan)

    # --- the plan in effect, and the properties --------------------------------------------------------

    def take_effect(self, plan: Plan) -> None:
        now_held = blocks(plan)
        names = {n.name for n in plan.nodes}
        for name, (held, until) in self.claims.items():
            if name not in names:
                continue
            if until is None or self.now < until:  # present all along, or back within its reservation
                assert now_held.get(name) == held, (name, held, now_held.get(name), until)
                if until is not None:
                    event("a node came back within its reservation")
        for name, (held, until) in list(self.claims.items()):
            if until is None and name not in names:
                self.claims[name] = (held, self.now + RESERVATION)
        for name, held in now_held.items():
            self.claims[name] = (held, None)
        self.claims = {n: c for n, c in self.claims.items() if c[1] is None or self.now < c[1]}
        self.in_effect, self.present = now_held, names

    @invariant()
    def no_block_is_held_by_two_nodes_that_may_use_it(self) -> None:
        owned = sorted((network, name) for name, (held, _) in self.claims.items() for network in held)
        for (left, left_node), (right, right_node) in itertools.pairwise(owned):
            assert not left.overlaps(right), (left_node, left, right_node, right)

    @invariant()
    def the_committed_ledger_is_what_runs(self) -> None:
        if self.memory is not None:
            assert self.memory == self.disk
        assert Ledger.from_json(self.disk.to_json()) == self.disk


Gateway.TestCase.settings = settings(
    max_examples=120, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestGateway = Gateway.TestCase
