"""Proof that ``bgpd plan`` is what ``bgpd run`` does: generated clusters and settings, real routers.

For each generated case (tests/plan/_generated.py) a gateway namespace holds the case's floating IPs
on their segments, GoBGP and BIRD play the ToRs on them, and ``bgpd run`` runs with the case's
files and nothing else (it follows the addresses through netlink). ``bgpd plan`` runs in the same
namespace with the same files, so both see the same addresses. Then, for every session:

- what ``bgpd plan -o json`` lists as its routes (prefix and next hop) is exactly what the ToR
  holds from that session's floating IP, once it is up;
- and exactly what ``bgpctl get bgpadvertisedroutes -o json`` says the session carries.

Sessions from a floating IP on another subnet than their peer never come up here (as in the field);
the plan shows why they carry nothing, and bgpctl agrees. BIRD drops a route whose next hop is not
on a directly connected subnet (interop-notes.md): with the segment rule nothing the plan announces
to it is dropped, which the equality below checks. BIRD ToRs get ``skip`` or ``self`` only, since
``node`` announces off-link next hops on purpose (for multihop fabrics) and would test BIRD, not bgpd.
"""

from __future__ import annotations

import ipaddress
import json
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.interop.netlab import BirdPeer, GoBgpPeer, Namespace, NetLab, Process, wait_for
from tests.manifests._cluster import render
from tests.plan._generated import Generated, Tor, generate

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0
CASES = 4


def _coverage(case: Generated) -> set[str]:
    """What a case exercises: which routers get a session on their own link, dual stack."""
    plan_free = {t.kind for t in case.tors if t.segment in case.held and t.kind != "none"}
    return plan_free | ({"dual-stack"} if case.dual_stack else set())


def _cases() -> list[tuple[int, Generated]]:
    """The first seeds whose cases have a GoBGP and a BIRD ToR on the gateway's segments; the set
    covers single and dual stack."""
    chosen: list[tuple[int, Generated]] = []
    for seed in range(1000):
        case = generate(random.Random(seed))
        want_dual = len(chosen) % 2 == 1
        if {"gobgp", "bird"} <= _coverage(case) and case.dual_stack == want_dual:
            chosen.append((seed, case))
        if len(chosen) == CASES:
            return chosen
    raise AssertionError("the generator no longer yields the cases this test needs")


class Lab:
    """One case in namespaces: the gateway on its held segments, a router per ToR on those."""

    def __init__(self, netlab: NetLab, case: Generated) -> None:
        self.netlab = netlab
        self.case = case
        self.config = netlab.path("cluster.yaml")
        self.config.write_text(render(case.docs), encoding="utf-8")
        self.settings = netlab.path("bgpd.yaml")
        self.settings.write_text(yaml.safe_dump(case.settings), encoding="utf-8")
        self.socket = netlab.path("bgpd.sock")
        self.gateway: Namespace = netlab.namespace()
        self.routers: dict[str, GoBgpPeer | BirdPeer] = {}
        self.daemon: Process | None = None
        self.plan: dict[str, dict[str, Any]] = {}  # filled by run_plan
        for segment in case.held:
            link = netlab.segment()
            netlab.attach(self.gateway, link, [f"10.0.{segment}.100/24"])
            tor = next((t for t in case.tors if t.segment == segment), None)
            if tor is not None:
                self._router(tor, link)

    def _router(self, tor: Tor, link: Any) -> None:
        ns = self.netlab.namespace()
        self.netlab.attach(ns, link, [f"{tor.address}/24", f"{tor.ipv6}/64"])
        if tor.kind == "gobgp":
            self.routers[tor.address] = GoBgpPeer(
                ns, asn=65002, router_id=tor.address, name=f"tor{tor.segment}"
            )
        else:
            self.routers[tor.address] = BirdPeer(
                ns, asn=65002, router_id=tor.address, name=f"tor{tor.segment}"
            )

    def bgpd(self, *args: str) -> str:
        """``bgpd …`` in the gateway namespace, as the operator would run it there."""
        return self.gateway.exec([sys.executable, "-m", "bgpd", *args], timeout=60)

    def run_plan(self) -> dict[str, dict[str, Any]]:
        out = self.bgpd("plan", "--config", str(self.config), "--settings", str(self.settings), "-o", "json")
        self.plan = {s["name"]: s for s in json.loads(out)["sessions"]}
        return self.plan

    def on_link(self) -> list[dict[str, Any]]:
        """The sessions that come up here: run here, from the floating IP on the peer's own segment."""
        return [
            s
            for s in self.plan.values()
            if s["local"]
            and s["peerIP"] in self.routers
            and s["segment"] is not None
            and _in(s["peerIP"], s["segment"])
        ]

    def start_routers(self) -> None:
        for session in self.on_link():
            router = self.routers[session["peerIP"]]
            if isinstance(router, GoBgpPeer):
                router.add_neighbor(session["localIP"], 65001, passive=True, local_address=session["peerIP"])
            else:
                router.add_neighbor(
                    _protocol(session),
                    session["localIP"],
                    65001,
                    local_address=session["peerIP"],
                    passive=True,
                )
        for router in self.routers.values():
            router.start()

    def start_bgpd(self) -> None:
        argv = [sys.executable, "-m", "bgpd", "run", "--config", str(self.config)]
        argv += ["--settings", str(self.settings), "--state-dir", str(self.netlab.path("state"))]
        argv += ["--socket", str(self.socket)]
        self.daemon = self.gateway.spawn("bgpd", argv)
        wait_for(self.socket.exists, WAIT, "bgpd's control socket")

    def wait_established(self, session: dict[str, Any]) -> None:
        router = self.routers[session["peerIP"]]
        if isinstance(router, GoBgpPeer):
            router.wait_established(session["localIP"], WAIT)
        else:
            router.wait_established(_protocol(session), WAIT)

    def received(self, session: dict[str, Any]) -> dict[str, str]:
        """prefix → next hop, as the ToR holds them from ``session``'s floating IP."""
        router = self.routers[session["peerIP"]]
        families = ("ipv4", "ipv6") if len(session["families"]) == 2 else ("ipv4",)
        found: dict[str, str] = {}
        for family in families:
            if isinstance(router, GoBgpPeer):
                for prefix, paths in router.adj_in(session["localIP"], family).items():
                    hops = [a["nexthop"] for a in paths[0]["attrs"] if a["type"] in (3, 14)]
                    found[prefix] = str(hops[0])
            else:
                table = "master4" if family == "ipv4" else "master6"
                found.update(router.next_hops(table, _protocol(session)))
        return found

    def bgpctl(self, *args: str) -> Any:
        command = [sys.executable, "-m", "bgpd.cli.bgpctl", "--socket", str(self.socket), *args, "-o", "json"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=WAIT, check=True)
        return json.loads(done.stdout)


def _in(address: str, network: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(network)


def _protocol(session: dict[str, Any]) -> str:
    return "s" + session["localIP"].replace(".", "_")


def _expected(session: dict[str, Any]) -> dict[str, str]:
    return {a["prefix"]: a["nextHop"] for a in session["announced"]}


@pytest.fixture
def lab_for(netlab: NetLab, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Generated], Lab]]:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # ``ip netns exec`` runs bgpd from this checkout
    yield lambda case: Lab(netlab, case)


@pytest.mark.parametrize(("seed", "case"), _cases(), ids=lambda v: f"seed{v}" if isinstance(v, int) else "")
def test_the_plan_is_what_the_tors_receive_and_bgpctl_reports(
    lab_for: Callable[[Generated], Lab], seed: int, case: Generated
) -> None:
    lab = lab_for(case)
    plan = lab.run_plan()
    on_link = lab.on_link()
    assert {type(lab.routers[s["peerIP"]]).__name__ for s in on_link} == {"GoBgpPeer", "BirdPeer"}
    lab.start_routers()
    lab.start_bgpd()
    for session in on_link:
        lab.wait_established(session)
        expected = _expected(session)
        try:
            wait_for(lambda s=session, e=expected: lab.received(s) == e, WAIT, session["name"])
        except TimeoutError:
            got = lab.received(session)
            pytest.fail(f"seed {seed}: {session['name']}: the ToR holds {got}, the plan says {expected}")
    states = {s["name"]: s["state"] for s in lab.bgpctl("get", "bgpsessions")}
    assert all(states[s["name"]] == "Established" for s in on_link)
    advertised = lab.bgpctl("get", "bgpadvertisedroutes")
    for name, session in plan.items():
        carried = {r["prefix"]: r["nextHop"] for r in advertised if name in r["sessions"]}
        assert carried == _expected(session), name
        assert sorted(session["routes"]) == sorted(carried)
        if not session["local"]:
            assert states[name] == "NotEstablished" and carried == {}
    for session in on_link:  # still exactly the plan: nothing arrived late
        assert lab.received(session) == _expected(session)
