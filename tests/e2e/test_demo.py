"""README command 1: ``bgpd demo`` works on loopback with nothing else installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from bgpd.cli.demo import Router, explain_not_established
from tests.e2e.harness import ROOT


def test_demo_runs_the_example_and_exits_zero() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bgpd", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "$ bgpctl get bgpsessions" in out and "$ bgpctl get bgpadvertisedroutes -o wide" in out
    sessions = [
        line
        for line in out.splitlines()
        if line.startswith("127.0.") and "-node-0" in line.split()[0] and len(line.split()) == 7
    ]
    states = sorted(line.split()[5] for line in sessions)
    assert states == ["Established", "Established", "NotEstablished", "NotEstablished"]
    lines = out.splitlines()
    after_table = lines[lines.index(sessions[-1]) + 1]
    assert after_table == (
        "127.0.1.254-node-02 and 127.0.3.254-node-01: NotEstablished by design, their floating IP "
        "is off the peer's segment (as in the product's own table)."
    )
    received = [
        line.split()
        for line in out.splitlines()
        if line.startswith(("tor1 ", "tor2 ")) and "NOTIFICATION" not in line
    ]
    # Each router gets only the nodes on its own /24 segment, as on the real network.
    by_router = {
        name: sorted((row[2], row[3]) for row in received if row[0] == name) for name in ("tor1", "tor2")
    }
    assert by_router == {
        "tor1": [("222.2.0.0/24", "127.0.1.11"), ("222.2.1.0/24", "127.0.1.21")],
        "tor2": [("222.2.2.0/24", "127.0.3.11"), ("222.2.3.0/24", "127.0.3.21")],
    }
    assert len(received) == 4
    assert out.count('Cease / Administrative Shutdown: "bgpd stopping"') == 2
    assert out.rstrip().endswith("bgpd demo: OK")


def test_demo_fails_clearly_on_a_file_it_cannot_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Nonsense\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bgpd", "demo", "--config", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("bgpd demo failed: the cluster file is not valid:")
    assert "Traceback" not in result.stderr


def test_only_off_segment_sessions_are_explained() -> None:
    routers = [Router("tor1", "127.0.1.254", 65002, 65001, "127.0.1.100")]

    def session(name: str, local: str, state: str) -> dict[str, Any]:
        return {"name": name, "localIP": local, "peerIP": "127.0.1.254", "state": state}

    on_segment_down = session("a", "127.0.1.100", "NotEstablished")  # a real problem, not by design
    off_segment_up = session("b", "127.0.3.100", "Established")
    assert explain_not_established([on_segment_down, off_segment_up], routers) is None
    off = session("c", "127.0.3.100", "NotEstablished")
    assert explain_not_established([on_segment_down, off], routers) == (
        "c: NotEstablished by design, its floating IP is off the peer's segment "
        "(as in the product's own table)."
    )
