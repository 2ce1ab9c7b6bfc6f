"""The planner plans again only what changed, and what it plans equals a plan from scratch.

Property: over random sequences of edits (nodes added, removed, moved between pools and segments,
readdressed; now and then a setting, a session drained, the floating IPs held or a
ClusterCIDRConfig changed) while time goes on (a removed node's blocks are reserved for a while,
then free), the plan a remembering ``Planner`` gives after each edit equals ``build_plan`` on the
same inputs, and what it says changed per export turns the old routes into the new ones."""

from __future__ import annotations

import copy
import ipaddress
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bgpd.manifests import ManifestError, Manifests, parse_manifests
from bgpd.plan import LocalAddress, Plan, Planner, Settings, build_plan
from bgpd.plan import build as build_module
from bgpd.plan.diff import diff
from bgpd.plan.maintenance import Maintenance
from bgpd.plan.settings import parse_settings
from bgpd.rib.ledger import Ledger
from tests.manifests._cluster import Docs, cidr_config, cluster, flat_mode, gateway, node_pool, peer, render

SEGMENTS = (1, 2, 3, 4)  # the gateway holds 10.0.1.100 and 10.0.2.100; 3 and 4 have nodes only


def _node(rng: random.Random, used: set[str]) -> dict[str, str]:
    while True:
        segment, host = rng.choice(SEGMENTS), rng.randint(20, 90)
        address = f"10.0.{segment}.{host}"
        if address not in used:
            used.add(address)
            entry = {"address": address, "ipv6Address": f"2001:db8:{segment}::{host:x}"}
            if rng.random() < 0.1:
                entry["k8sIP"] = f"10.0.{segment}.{host + 100}"
                used.add(entry["k8sIP"])
            return entry


def _docs(rng: random.Random) -> Docs:
    used: set[str] = {"10.0.1.11"}
    pools = [
        node_pool(f"np{i}", [_node(rng, used) for _ in range(rng.randint(0, 5))], labels={"rack": f"r{i}"})
        for i in (1, 2, 3)
    ]
    configs = [
        cidr_config("wide", ("10.200.0.0/26", 29), ("fd00:200::/120", 124)),  # 8 blocks: runs out
        cidr_config("rack1", ("10.201.0.0/28", 30), ("fd00:201::/122", 124), selector={"rack": "r1"}),
    ]
    return [
        cluster(),
        *pools,
        *configs,
        gateway("10.0.1.100", "10.0.2.100", "10.0.3.101"),
        flat_mode(ipv6=rng.random() < 0.5),
        peer("tor1", "10.0.1.254", rng.randint(1, 3)),
        peer("tor2", "10.0.2.254", rng.randint(1, 3)),
    ]


def _pools(docs: Docs) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "NodePool"]


def _edit(rng: random.Random, docs: Docs, policies: dict[str, str], held: list[str]) -> None:
    """One random edit: mostly of nodes, sometimes of something that needs a plan from scratch."""
    pools = _pools(docs)
    every = [n for p in pools for n in p["spec"]["nodes"]]
    used = {a for n in every for a in (n["address"], n.get("k8sIP")) if a} | {"10.0.1.11"}
    roll = rng.random()
    if roll < 0.35 or not every:
        rng.choice(pools)["spec"]["nodes"].append(_node(rng, used))
    elif roll < 0.6:
        pool = rng.choice([p for p in pools if p["spec"]["nodes"]])
        pool["spec"]["nodes"].pop(rng.randrange(len(pool["spec"]["nodes"])))
    elif roll < 0.72:  # to another pool: other labels, the same blocks
        source = rng.choice([p for p in pools if p["spec"]["nodes"]])
        node = source["spec"]["nodes"].pop(rng.randrange(len(source["spec"]["nodes"])))
        rng.choice(pools)["spec"]["nodes"].append(node)
    elif roll < 0.82:  # a new IPv6 address (another next hop), or a k8sIP
        node = rng.choice(every)
        segment = rng.choice(SEGMENTS)
        node["ipv6Address"] = f"2001:db8:{segment}::{rng.randint(200, 250):x}"
    elif roll < 0.88:
        policies[rng.choice(("10.0.1.254", "10.0.2.254"))] = rng.choice(("skip", "self", "node"))
    elif roll < 0.94:
        held[:] = rng.sample(["10.0.1.100", "10.0.2.100", "10.0.3.101"], rng.randint(0, 3))
    else:
        wide = next(d for d in docs if d["kind"] == "ClusterCIDRConfig")
        wide["spec"]["ipv4"]["cidr"] = rng.choice(("10.200.0.0/26", "10.200.0.0/27", "10.202.0.0/25"))


def _local(held: list[str]) -> tuple[LocalAddress, ...]:
    return tuple(
        LocalAddress(ipaddress.ip_address(a), ipaddress.ip_network(f"{a.rsplit('.', 1)[0]}.0/24"))
        for a in held
    )


def _settings(policies: dict[str, str], reservation: int) -> Settings:
    return parse_settings(
        {
            "peers": {ip: {"offSegmentNextHop": p} for ip, p in policies.items()},
            "allocation": {"reservationTime": reservation},
        }
    )


def _check_deltas(planner: Planner, before: Plan, after: Plan) -> None:
    """Every export change the planner reports turns the old routes into the new ones."""
    old_sessions = before.local_sessions()
    for name, session in after.local_sessions().items():
        old = old_sessions.get(name)
        if old is None or old.announced is session.announced:
            continue
        change = planner.deltas.get(id(old.announced))
        if change is None or change.old is not old.announced or change.new is not session.announced:
            continue
        routes = {(a.route.family, a.route.prefix): a.route for a in old.announced}
        for key in change.withdraw:
            del routes[key]
        routes.update({(r.family, r.prefix): r for r in change.announce})
        assert routes == {(a.route.family, a.route.prefix): a.route for a in session.announced}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32))
def test_a_remembering_planner_equals_a_plan_from_scratch_after_every_edit(seed: int) -> None:
    rng = random.Random(seed)
    docs = _docs(rng)
    policies: dict[str, str] = {}
    held = ["10.0.1.100", "10.0.2.100"]
    planner = Planner()
    ledger = Ledger.empty()
    previous: Plan | None = None
    last_good = copy.deepcopy(docs)
    reservation = rng.choice((0, 100))
    now = 1_700_000_000
    maintenance = Maintenance()
    for _ in range(12):
        now += rng.choice((0, 30, 60))  # reservations of 100 s run out now and then
        try:
            manifests: Manifests = parse_manifests(render(docs)).manifests
        except ManifestError:
            docs = copy.deepcopy(last_good)
            continue
        last_good = copy.deepcopy(docs)
        inputs = (manifests, _settings(policies, reservation), ledger, _local(held), maintenance)
        planned = planner.plan(*inputs, now=now)
        assert planned == build_plan(*inputs, now=now)
        if previous is not None:
            _check_deltas(planner, previous, planned)
            running = previous.local_sessions()
            assert diff(running, planned, planner.deltas) == diff(running, planned)
        previous, ledger = planned, planned.ledger
        edited = copy.deepcopy(docs)
        if rng.random() < 0.8:  # else only time goes on: reservations may run out
            _edit(rng, edited, policies, held)
        if rng.random() < 0.05:
            maintenance = maintenance.drain(None) if not maintenance.drained else Maintenance()
        docs = edited


def _big(nodes: int) -> str:
    hosts = [h for h in range(1, 250) if h != 100]  # .100 is the floating IP of each segment
    per_pool = [
        [{"address": f"10.0.{1 + (i % 2)}.{hosts[i // 2]}"} for i in range(p, nodes, 4)] for p in range(4)
    ]
    docs = [
        cluster(),
        *(node_pool(f"np{p}", per_pool[p], labels={"rack": f"r{p}"}) for p in range(4)),
        cidr_config("wide", ("10.128.0.0/9", 24), None),
        gateway("10.0.1.100", "10.0.2.100"),
        flat_mode(ipv6=False),
        peer("tor1", "10.0.1.254", 2),
        peer("tor2", "10.0.2.254", 2),
    ]
    docs[0]["spec"]["controlPlane"]["nodePoolSpec"]["nodes"] = [{"address": "10.0.1.251"}]
    return render(docs)


def test_one_node_more_is_planned_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The allocator sees the new node only, the sessions away from its segment keep their very
    routes (only their explanations gain the new node), and the one export that changed says:
    announce this route, withdraw nothing."""
    text = _big(400)
    held = _local(["10.0.1.100", "10.0.2.100"])
    planner = Planner()
    first = planner.plan(parse_manifests(text).manifests, Settings(), Ledger.empty(), held, now=0)
    served: list[int] = []
    real = build_module.allocate
    monkeypatch.setattr(
        build_module,
        "allocate",
        lambda nodes, *rest, **options: served.append(len(nodes)) or real(nodes, *rest, **options),
    )
    grown = text.replace("  - address: 10.0.1.1\n", "  - address: 10.0.1.1\n  - address: 10.0.1.240\n", 1)
    second = planner.plan(parse_manifests(grown).manifests, Settings(), first.ledger, held, now=1)
    assert served == [1]
    assert second == build_plan(parse_manifests(grown).manifests, Settings(), first.ledger, held, now=1)
    new = next(n for n in second.nodes if n.name == "10.0.1.240")
    for before, after in zip(first.sessions, second.sessions, strict=True):
        if after.local_ip == "10.0.2.100" or after.peer_ip == "10.0.2.254":
            assert after.announced is before.announced  # nothing of 10.0.1.0/24 reaches these sessions
            assert [s.node for s in after.skipped if s not in before.skipped] == ["10.0.1.240"]
    changed = [s for s in second.sessions if s.announced is not first.by_name()[s.name].announced]
    assert {s.name for s in changed} == {"10.0.1.254-node-01"}
    change = planner.deltas[id(first.by_name()["10.0.1.254-node-01"].announced)]
    assert [(str(r.path.next_hop), r.text) for r in change.announce] == [("10.0.1.240", new.ipv4)]
    assert change.withdraw == ()
