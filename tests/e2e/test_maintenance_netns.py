"""The maintenance verbs against real routers: GoBGP (tor1) and BIRD (tor2) in namespaces, bgpd run
in the gateway namespace and driven with ``bgpctl`` as an operator would (the topology of
``test_netns``). Drained routes arrive at both ToRs with GRACEFUL_SHUTDOWN 65535:0 and lose it on
undrain; a disabled session goes down with the operator's text in the ToR's log, stays down across
``bgpctl reload`` and a restart of bgpd, and comes back on enable."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bgpd.control import client
from bgpd.control.protocol import Command
from tests.e2e.test_netns import FIP1, ROOT, Gateway
from tests.interop.netlab import NetLab, wait_for

pytestmark = pytest.mark.interop

GSHUT = 0xFFFF0000  # 65535:0 as GoBGP's JSON writes a community
TOR1_SESSION, TOR3_SESSION = "10.0.1.254-node-01", "10.0.3.254-node-02"
TEXT1, TEXT3 = "tor1 firmware upgrade CHG-1", "tor2 line card swap CHG-2"
STAY_DOWN = 3.0  # seconds a disabled session is watched for not coming back


@pytest.fixture
def gateway(netlab: NetLab, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # ``ip netns exec`` runs bgpd from this checkout
    yield Gateway(netlab, "single-stack-ipv4.yaml")


def bgpctl(gw: Gateway, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bgpd.cli.bgpctl", "--socket", str(gw.socket), *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def gobgp_communities(gw: Gateway) -> dict[str, tuple[int, ...]]:
    """prefix → the communities tor1 (GoBGP) holds for our route."""
    out = {}
    for prefix, paths in gw.gobgp.adj_in(FIP1, "ipv4").items():
        found: tuple[int, ...] = ()
        for attr in paths[0]["attrs"]:
            if attr["type"] == 8:
                found = tuple(attr["communities"])
        out[prefix] = found
    return out


def bird_communities(gw: Gateway) -> dict[str, str]:
    """prefix → BGP.community of tor2's (BIRD's) route from us ("" when it has none)."""
    return {
        prefix: next(r for r in routes if r.protocol == "gwsession").attributes.get("BGP.community", "")
        for prefix, routes in gw.bird.routes("master4").items()
        if any(r.protocol == "gwsession" for r in routes)
    }


def states(gw: Gateway) -> dict[str, Any]:
    return {row["name"]: row for row in gw.ctl(Command.SESSIONS)}


def test_drain_disable_and_enable_at_gobgp_and_bird(gateway: Gateway) -> None:
    gw = gateway
    gw.start()
    wait_for(lambda: len(gobgp_communities(gw)) == 2, 10, "tor1's two routes")
    wait_for(lambda: len(bird_communities(gw)) == 2, 10, "tor2's two routes")
    assert set(gobgp_communities(gw).values()) == {()} and set(bird_communities(gw).values()) == {""}

    # drain every session: both ToRs see 65535:0 on our routes; the tables say so
    assert "every session drained" in bgpctl(gw, "drain")
    wait_for(lambda: set(gobgp_communities(gw).values()) == {(GSHUT,)}, 10, "65535:0 at tor1")
    wait_for(lambda: set(bird_communities(gw).values()) == {"(65535,0)"}, 10, "(65535,0) at tor2")
    cells = bgpctl(gw, "get", "bgpsessions").split()
    assert (cells.count("Established,Drained"), cells.count("NotEstablished,Drained")) == (2, 2)
    assert "65535:0" in bgpctl(gw, "get", "bgpadvertisedroutes", "-o", "wide")
    flops = gw.gobgp_flops()

    # undrain: announced again without it, and no session flapped for any of it
    bgpctl(gw, "undrain")
    wait_for(lambda: set(gobgp_communities(gw).values()) == {()}, 10, "community gone at tor1")
    wait_for(lambda: set(bird_communities(gw).values()) == {""}, 10, "community gone at tor2")
    assert gw.gobgp_flops() == flops

    # disable: Cease 6/2 with the text, visible at each ToR
    bgpctl(gw, "disable", "bgpsession", TOR1_SESSION, "--message", TEXT1)
    bgpctl(gw, "disable", "bgpsession", TOR3_SESSION, "--message", TEXT3)
    gw.gobgp.wait_state(FIP1, lambda s: s != "established", 5, "tor1 to drop the session")
    wait_for(lambda: TEXT1 in gw.gobgp.log_text(), 5, "the text in GoBGP's log")
    wait_for(lambda: f'Administrative shutdown: "{TEXT3}"' in gw.bird.log_text(), 5, "the text in BIRD's log")
    assert "NotEstablished,Disabled" in bgpctl(gw, "get", "bgpsessions", TOR1_SESSION)

    def still_down() -> None:
        deadline = time.monotonic() + STAY_DOWN
        while time.monotonic() < deadline:  # the peers expose no event for "nothing happened"
            assert gw.gobgp.neighbor_state(FIP1) != "established"
            assert gw.bird.protocol_state("gwsession") != "Established"
            time.sleep(0.2)
        rows = states(gw)
        assert all(
            rows[n]["disabled"] and rows[n]["state"] == "NotEstablished" for n in (TOR1_SESSION, TOR3_SESSION)
        )

    # ... and stays down across a reload ...
    assert "reloaded" in bgpctl(gw, "reload")
    still_down()

    # ... and across a restart of bgpd
    assert gw.daemon is not None
    gw.signal(signal.SIGTERM)
    assert gw.daemon.popen.wait(timeout=10) == 0
    argv = [sys.executable, "-m", "bgpd", "run", "--config", str(gw.config)]
    argv += ["--state-dir", str(gw.state), "--socket", str(gw.socket)]
    gw.daemon = gw.ns.spawn("bgpd-restarted", argv)
    wait_for(lambda: gw.socket.exists() and _answers(gw), 15, "bgpd back")
    still_down()
    assert states(gw)[TOR1_SESSION]["disabledMessage"] == TEXT1

    # enable: both sessions come back with their routes
    bgpctl(gw, "enable", "bgpsession", TOR1_SESSION)
    bgpctl(gw, "enable", "bgpsession", TOR3_SESSION)
    gw.gobgp.wait_established(FIP1, timeout=15)
    gw.bird.wait_established("gwsession", timeout=15)
    wait_for(lambda: len(gobgp_communities(gw)) == 2, 10, "tor1's routes back")
    wait_for(lambda: len(bird_communities(gw)) == 2, 10, "tor2's routes back")
    assert "Disabled" not in bgpctl(gw, "get", "bgpsessions")


def _answers(gw: Gateway) -> bool:
    try:
        return client.request(gw.socket, Command.SESSIONS, timeout=2.0).ok
    except client.ControlClientError:  # not listening yet
        return False
