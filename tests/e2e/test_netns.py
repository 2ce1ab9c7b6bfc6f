"""The seed's single-stack example in network namespaces, GoBGP and BIRD as the two ToRs.

A gateway namespace holds floating IPs 10.0.1.100/24 and 10.0.3.100/24 on two separate L2
segments; ``tor1`` (GoBGP, 10.0.1.254) sits on the first, ``tor2`` (BIRD, 10.0.3.254) on the
second. ``bgpd run`` runs in the gateway with no settings file at all, so it follows the addresses
through netlink, and is driven only through its files, signals and ``bgpctl``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bgpd.control import client
from bgpd.control.protocol import Command
from tests.interop.netlab import BirdPeer, GoBgpPeer, Namespace, NetLab, Process, wait_for

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "config" / "examples"
FIP1, FIP3 = "10.0.1.100", "10.0.3.100"
TOR1, TOR3 = "10.0.1.254", "10.0.3.254"


class Gateway:
    def __init__(
        self,
        lab: NetLab,
        example: str,
        hold_time: int | None = None,
        *,
        settings: str | None = None,
        tor1_password: str | None = None,
    ) -> None:
        self.lab = lab
        self.settings: Path | None = None
        if settings is not None:
            self.settings = lab.path("bgpd.yaml")
            self.settings.write_text(settings, encoding="utf-8")
        self.config = lab.path("cluster.yaml")
        self.text = (EXAMPLES / example).read_text(encoding="utf-8")
        self.config.write_text(self.text, encoding="utf-8")
        self.socket = lab.path("bgpd.sock")
        self.state = lab.path("state")
        seg1, seg3 = lab.segment(), lab.segment()
        self.ns: Namespace = lab.namespace()
        self.eth1 = lab.attach(self.ns, seg1, [f"{FIP1}/24"])
        self.eth3 = lab.attach(self.ns, seg3, [f"{FIP3}/24"])
        self.tor1_ns = lab.namespace()
        # The ToRs' IPv6 prefixes on the segments: what makes the nodes' IPv6 next hops direct.
        lab.attach(self.tor1_ns, seg1, [f"{TOR1}/24", "2001:db8:1::254/64"])
        self.tor3_ns = lab.namespace()
        lab.attach(self.tor3_ns, seg3, [f"{TOR3}/24", "2001:db8:3::254/64"])
        self.gobgp = GoBgpPeer(self.tor1_ns, asn=65002, router_id=TOR1, name="tor1")
        self.gobgp.add_neighbor(
            FIP1,
            65001,
            passive=True,
            local_address=TOR1,
            families=("ipv4", "ipv6"),
            hold_time=hold_time,
            auth_password=tor1_password,
        )
        self.gobgp.start()
        self.bird = BirdPeer(self.tor3_ns, asn=65002, router_id=TOR3, name="tor2")
        self.bird.add_neighbor(
            "gwsession", FIP3, 65001, local_address=TOR3, passive=True, families=("ipv4", "ipv6")
        )
        self.bird.start()
        self.daemon: Process | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "bgpd", "run", "--config", str(self.config)]
        argv += ["--state-dir", str(self.state), "--socket", str(self.socket)]
        if self.settings is not None:
            argv += ["--settings", str(self.settings)]
        self.daemon = self.ns.spawn("bgpd", argv)
        wait_for(lambda: self.gobgp.neighbor_state(FIP1) == "established", 15, "GoBGP session")
        self.bird.wait_established("gwsession", 15)

    def write(self, text: str) -> None:
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.config)

    def signal(self, sig: signal.Signals) -> None:
        assert self.daemon is not None
        os.kill(self.daemon.pid, sig)

    def ctl(self, cmd: Command, args: dict[str, Any] | None = None) -> Any:
        reply = client.request(self.socket, cmd, args, timeout=5.0)
        assert reply.ok, reply.error_message
        return reply.data

    def states(self) -> dict[str, str]:
        return {s["name"]: s["state"] for s in self.ctl(Command.SESSIONS)}

    def gobgp_routes(self, family: str = "ipv4") -> dict[str, str]:
        out = {}
        for prefix, paths in self.gobgp.adj_in(FIP1, family).items():
            for attr in paths[0]["attrs"]:
                if attr["type"] in (3, 14):
                    out[prefix] = str(attr["nexthop"])
        return out

    def gobgp_flops(self) -> int:
        return int(self.gobgp.neighbor(FIP1).get("state", {}).get("flops", 0))

    def bird_since(self) -> str:
        out = self.bird.cli("show", "protocols", "gwsession") or ""
        row = next(line for line in out.splitlines() if line.startswith("gwsession "))
        return row.split()[4]  # the "Since" column: changes whenever the session goes down or up


@pytest.fixture
def gateway(netlab: NetLab, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # ``ip netns exec`` runs bgpd from this checkout
    yield Gateway(netlab, "single-stack-ipv4.yaml")


def _allocated(gw: Gateway) -> dict[str, str]:
    """node → its IPv4 pod CIDR, as the daemon reports."""
    return {a["node"]: a["podCIDRs"][0] for a in gw.ctl(Command.ALLOCATIONS)}


def test_products_table_segments_reload_and_stop(gateway: Gateway) -> None:
    gw = gateway
    gw.start()
    wait_for(lambda: len(gw.gobgp_routes()) == 2, 10, "tor1's two on-segment routes")
    assert gw.states() == {
        "10.0.1.254-node-01": "Established",
        "10.0.1.254-node-02": "NotEstablished",
        "10.0.3.254-node-01": "NotEstablished",
        "10.0.3.254-node-02": "Established",
    }
    blocks = _allocated(gw)
    assert gw.gobgp_routes() == {blocks["10.0.1.11"]: "10.0.1.11", blocks["10.0.1.21"]: "10.0.1.21"}
    wait_for(lambda: len(gw.bird.next_hops("master4", "gwsession")) == 2, 10, "tor2's two routes")
    assert gw.bird.next_hops("master4", "gwsession") == {
        blocks["10.0.3.11"]: "10.0.3.11",
        blocks["10.0.3.21"]: "10.0.3.21",
    }
    flops, since = gw.gobgp_flops(), gw.bird_since()

    # a node added + SIGHUP: at its segment's ToR within 2 s, nobody flaps
    gw.write(
        gw.text.replace("  - address: 10.0.1.21\n", "  - address: 10.0.1.21\n  - address: 10.0.1.31\n", 1)
    )
    started = time.monotonic()
    gw.signal(signal.SIGHUP)
    wait_for(lambda: "10.0.1.31" in gw.gobgp_routes().values(), 2.0, "new node at tor1")
    assert time.monotonic() - started < 2.0
    assert len(gw.bird.next_hops("master4", "gwsession")) == 2  # off its segment: not at tor2

    # a node removed: withdrawn
    gw.write(
        gw.text.replace("  - address: 10.0.1.21\n", "", 1).replace(
            "  - address: 10.0.3.21\n", "  - address: 10.0.3.21\n  - address: 10.0.1.31\n", 1
        )
    )
    gw.signal(signal.SIGHUP)
    wait_for(lambda: "10.0.1.21" not in gw.gobgp_routes().values(), 5, "removed node withdrawn at tor1")
    assert gw.gobgp_flops() == flops and gw.bird_since() == since

    # an invalid file: old plan kept, bgpctl answers, nothing flaps
    before = gw.gobgp_routes()
    gw.write("apiVersion: v1\nkind: Cluster\nmetadata: [\n")
    gw.signal(signal.SIGHUP)
    assert gw.daemon is not None
    wait_for(lambda: "reload_rejected" in gw.daemon.log(), 5, "rejection logged")
    assert gw.states()["10.0.1.254-node-01"] == "Established"
    assert gw.gobgp_routes() == before
    assert gw.gobgp_flops() == flops and gw.bird_since() == since

    # SIGTERM: both ToRs record our Cease, exit 0 within 2 s
    started = time.monotonic()
    gw.signal(signal.SIGTERM)
    code = gw.daemon.popen.wait(timeout=5)
    assert code == 0 and time.monotonic() - started < 2.0
    wait_for(lambda: "bgpd stopping" in gw.gobgp.log_text(), 5, "Cease text at GoBGP")
    wait_for(
        lambda: 'Administrative shutdown: "bgpd stopping"' in gw.bird.log_text(), 5, "Cease text at BIRD"
    )


def test_peer_asn_change_resets_only_that_peer(gateway: Gateway) -> None:
    gw = gateway
    gw.start()
    since = gw.bird_since()
    gw.gobgp.add_neighbor(FIP1, 65001, passive=True, local_address=TOR1, families=("ipv4", "ipv6"))
    gw.write(gw.text.replace("peerASN: 65002\n  peerIP: 10.0.1.254", "peerASN: 65010\n  peerIP: 10.0.1.254"))
    gw.signal(signal.SIGHUP)
    wait_for(lambda: gw.gobgp.neighbor_state(FIP1) != "established", 5, "tor1's session reset")
    assert gw.bird_since() == since
    assert gw.states()["10.0.3.254-node-02"] == "Established"
    described = client.request(gw.socket, Command.DESCRIBE_SESSION, {"name": "10.0.1.254-node-01"}).data
    assert described["peerASN"] == 65010


def test_floating_ip_leaving_and_returning(netlab: NetLab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    # Once the address is gone our Cease cannot leave (its subnet route went with it): GoBGP notices
    # by its hold timer, kept short here.
    gw = Gateway(netlab, "single-stack-ipv4.yaml", hold_time=3)
    gw.start()
    gw.ns.ip("address", "del", f"{FIP1}/24", "dev", gw.eth1)

    def stopped() -> bool:
        data = {s["name"]: s for s in gw.ctl(Command.SESSIONS)}
        return "not run on this host" in (data["10.0.1.254-node-01"]["lastError"] or "")

    wait_for(stopped, 2, "the daemon to stop 10.0.1.100's sessions")
    assert gw.daemon is not None
    assert "floating_ip_removed" in gw.daemon.log()
    assert gw.states()["10.0.3.254-node-02"] == "Established"
    wait_for(lambda: gw.gobgp.neighbor_state(FIP1) != "established", 10, "tor1's hold timer")
    gw.ns.add_address(gw.eth1, f"{FIP1}/24")
    wait_for(lambda: gw.gobgp.neighbor_state(FIP1) == "established", 15, "tor1's session back")
    wait_for(lambda: len(gw.gobgp_routes()) == 2, 10, "tor1's routes back")
    assert gw.states()["10.0.1.254-node-01"] == "Established"


def test_dual_stack_ipv6_routes_with_node_next_hops_over_ipv4_sessions(
    netlab: NetLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    gw = Gateway(netlab, "dual-stack-flat.yaml")
    gw.start()
    v6 = {n["node"]: n for n in gw.ctl(Command.ALLOCATIONS)}
    expected1 = {
        next(c for c in v6[node]["podCIDRs"] if ":" in c): next(ip for ip in v6[node]["nodeIPs"] if ":" in ip)
        for node in v6
        if v6[node]["nodeIPs"][0].startswith("10.0.1.")
    }
    assert expected1
    wait_for(lambda: gw.gobgp_routes("ipv6") == expected1, 10, "IPv6 routes at tor1")
    expected3 = {
        next(c for c in v6[node]["podCIDRs"] if ":" in c): next(ip for ip in v6[node]["nodeIPs"] if ":" in ip)
        for node in v6
        if v6[node]["nodeIPs"][0].startswith("10.0.3.")
    }
    wait_for(lambda: gw.bird.next_hops("master6", "gwsession") == expected3, 10, "IPv6 routes at tor2")


def test_md5_password_file_rotation_resets_only_that_peer(
    netlab: NetLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TCP-MD5 through ``bgpd run``: a ``passwordFile`` for tor1 (GoBGP ``auth-password``), none for
    tor2. Rotating the password (new file content, reload) resets tor1's session, which comes back
    once GoBGP has the new password too; tor2 never notices. No output shows either password."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    first, second = "first-md5-5e1b", "second-md5-a7c2"
    key = netlab.path("tor1.key")
    key.write_text(first + "\n")
    key.chmod(0o600)
    gw = Gateway(
        netlab,
        "single-stack-ipv4.yaml",
        settings=f'peers:\n  "{TOR1}": {{passwordFile: "{key}"}}\n',
        tor1_password=first,
    )
    gw.start()
    since = gw.bird_since()
    described = gw.ctl(Command.DESCRIBE_SESSION, {"name": "10.0.1.254-node-01"})
    assert described["security"]["tcpMd5"] is True
    assert gw.ctl(Command.DESCRIBE_SESSION, {"name": "10.0.3.254-node-02"})["security"]["tcpMd5"] is False

    key.write_text(second + "\n")
    gw.signal(signal.SIGHUP)
    wait_for(lambda: gw.gobgp.neighbor_state(FIP1) != "established", 5, "tor1's session reset")
    assert gw.daemon is not None
    wait_for(lambda: "session_reset" in gw.daemon.log(), 5, "the reset logged")
    gw.gobgp.add_neighbor(
        FIP1, 65001, passive=True, local_address=TOR1, families=("ipv4", "ipv6"), auth_password=second
    )
    wait_for(lambda: gw.gobgp.neighbor_state(FIP1) == "established", 20, "tor1 back with the new key")
    assert gw.bird_since() == since  # tor2 has no password: untouched
    shown = gw.daemon.log() + repr(gw.ctl(Command.SESSIONS)) + repr(described)
    assert first not in shown and second not in shown
