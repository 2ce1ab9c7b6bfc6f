"""For generated clusters and settings: what ``bgpd plan -o json`` lists per session is what the daemon
hands the speaker and what ``bgpadvertisedroutes`` reports; and every route follows the segment
rule, checked here against an independent statement of it.

The namespace test (tests/e2e/test_plan_proof.py) closes the loop to real routers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.cli.plan import as_data
from bgpd.daemon.handlers import advertised_listing, listed
from bgpd.daemon.inputs import ConfigFile
from bgpd.daemon.runner import Daemon
from bgpd.manifests import parse_manifests
from bgpd.plan import Plan, PlannedNode, Session, build_plan
from bgpd.plan.settings import parse_settings
from bgpd.rib.ledger import Ledger
from tests.daemon._fakes import FakeSpeaker, FixedAddresses
from tests.manifests._cluster import render
from tests.plan._generated import Generated, generate


def _plan(case: Generated) -> Plan:
    manifests = parse_manifests(render(case.docs), "generated").manifests
    return build_plan(manifests, parse_settings(case.settings), Ledger.empty(), case.local(), now=0)


async def _run(case: Generated, workdir: Path) -> tuple[Daemon, FakeSpeaker]:
    path = workdir / "cluster.yaml"
    path.write_text(render(case.docs), encoding="utf-8")
    config = ConfigFile(path)
    speaker = FakeSpeaker()
    daemon = Daemon(
        config,
        settings_path=None,
        state_dir=workdir / "state",
        loaded=config.load(),
        settings=parse_settings(case.settings),
        ledger=Ledger.empty(),
        speaker=speaker,
        addresses=FixedAddresses({str(a.address): a.prefix for a in case.local()}),
    )
    await daemon.start()
    return daemon, speaker


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_the_plan_is_what_the_daemon_runs_and_reports(
    tmp_path_factory: pytest.TempPathFactory, rng: random.Random
) -> None:
    case = generate(rng, bird_policies=("skip", "self", "node"))
    workdir = tmp_path_factory.mktemp("run")
    daemon, speaker = asyncio.run(_run(case, workdir))
    shown = {s["name"]: s for s in as_data(daemon.plan)["sessions"]}
    planned = as_data(_plan(case))["sessions"]
    assert [s["name"] for s in planned] == list(shown)
    advertised = listed(advertised_listing(daemon.snapshot()))
    for session in planned:
        name = session["name"]
        assert session == shown[name]  # bgpd plan and the daemon's plan agree, field by field
        exported = {(a["prefix"], a["nextHop"]) for a in session["announced"]}
        assert {a["prefix"] for a in session["announced"]} == set(session["routes"])
        if session["local"]:
            sent = {(r.text, str(r.path.next_hop)) for r in speaker.routes[name]}
            assert sent == exported
        else:
            assert name not in speaker.sessions and exported == set()
        reported = {(r["prefix"], r["nextHop"]) for r in advertised if name in r["sessions"]}
        assert reported == exported


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_every_route_follows_the_segment_rule(rng: random.Random) -> None:
    case = generate(rng, bird_policies=("skip", "self", "node"))
    plan = _plan(case)
    nodes = {n.name: n for n in plan.nodes}
    for session in plan.sessions:
        if session.local:
            _check(session, nodes)


def _check(session: Session, nodes: dict[str, PlannedNode]) -> None:
    segment = session.segment
    assert segment is not None
    peer_on = ipaddress.ip_address(session.peer_ip) in segment
    policy = str(session.config.off_segment_next_hop)
    decided = {a.prefix for a in session.announced} | {s.prefix for s in session.skipped}
    assert len(decided) == len(session.announced) + len(session.skipped)  # each prefix decided once
    for route in session.announced:
        node = nodes[route.node]
        node_on = ipaddress.ip_address(node.address) in segment
        own = node.address if ":" not in route.prefix else node.ipv6_address
        if node_on and peer_on:
            assert route.next_hop == own
            assert route.reason == f"node {node.name} and the peer are on segment {segment}"
        elif policy == "self":
            assert route.next_hop == session.local_ip and route.reason.endswith("offSegmentNextHop: self")
        else:
            assert policy == "node" and route.reason.endswith("offSegmentNextHop: node")
            assert route.next_hop == own
        if not (node_on and peer_on):
            assert _side(route.reason) == (node_on, peer_on)
    for skipped in session.skipped:
        node_on = ipaddress.ip_address(nodes[skipped.node].address) in segment
        assert not (node_on and peer_on)
        assert _side(skipped.reason) == (node_on, peer_on)
        assert policy == "skip" or (policy == "self" and "has no ipv6-unicast next hop" in skipped.reason)


def _side(reason: str) -> tuple[bool, bool]:
    """(node on, peer on) as the reason tells it."""
    if "and the peer are both off" in reason:
        return False, False
    if reason.startswith("the peer is off"):
        return True, False
    assert reason.startswith("node ") and " is off segment" in reason, reason
    return False, True
