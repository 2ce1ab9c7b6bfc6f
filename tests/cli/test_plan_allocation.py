"""``bgpd plan`` and allocation: reservations shown, ``-o nodes``, and issue 12's two gateways made
to agree by applying one gateway's ``-o nodes`` to the other's file."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bgpd.manifests import parse_manifests
from tests.cli._run import EXAMPLES, bgpd

SINGLE = (EXAMPLES / "single-stack-ipv4.yaml").read_text(encoding="utf-8")
ANCHOR = "  nodes:\n  - address: 10.0.1.21\n  - address: 10.0.3.21\n"


def cluster_file(directory: Path, name: str, *workers: str) -> Path:
    """The single-stack example with NodePool np1 holding ``workers`` (10.0.1.11 and 10.0.3.11 stay)."""
    assert ANCHOR in SINGLE
    path = directory / name
    path.write_text(SINGLE.replace(ANCHOR, "  nodes:\n" + "".join(f"  - address: {w}\n" for w in workers)))
    return path


def routes(stdout: str) -> dict[str, str]:
    return {r["prefix"]: r["nextHop"] for r in json.loads(stdout)["routes"]}


def test_a_missing_node_is_shown_reserved_with_its_blocks(tmp_path: Path) -> None:
    state = tmp_path / "state"
    full = cluster_file(tmp_path, "full.yaml", "10.0.1.21", "10.0.3.21")
    assert bgpd("plan", "--config", full, "--state-dir", state, "--commit").returncode == 0
    partial = cluster_file(tmp_path, "partial.yaml", "10.0.3.21", "10.0.3.31")
    result = bgpd("plan", "--config", partial, "--state-dir", state, "-o", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [(r["node"], r["podCIDRs"]) for r in plan["reserved"]] == [("10.0.1.21", ["222.2.1.0/24"])]
    assert plan["reserved"][0]["missingSince"].endswith("Z")
    assert routes(result.stdout)["222.2.4.0/24"] == "10.0.3.31"  # not 222.2.1.0/24: that is reserved
    table = bgpd("plan", "--config", partial, "--state-dir", state).stdout
    reserved = table.split("RESERVED\n", 1)[1].splitlines()
    assert reserved[0].split() == ["NODE", "IPV4", "BLOCK", "IPV6", "BLOCK", "MISSING", "SINCE"]
    assert reserved[1].split()[:3] == ["10.0.1.21", "222.2.1.0/24", "-"]


def test_reservation_time_comes_from_the_settings(tmp_path: Path) -> None:
    state, settings = tmp_path / "state", tmp_path / "bgpd.yaml"
    settings.write_text("allocation:\n  reservationTime: 0\n")
    full = cluster_file(tmp_path, "full.yaml", "10.0.1.21", "10.0.3.21")
    assert bgpd("plan", "--config", full, "--state-dir", state, "--commit").returncode == 0
    partial = cluster_file(tmp_path, "partial.yaml", "10.0.3.21", "10.0.3.31")
    result = bgpd("plan", "--config", partial, "--state-dir", state, "--settings", settings, "-o", "json")
    assert json.loads(result.stdout)["reserved"] == []
    assert routes(result.stdout)["222.2.1.0/24"] == "10.0.3.31"
    settings.write_text("allocation:\n  reservationTime: -1\n")
    bad = bgpd("plan", "--config", partial, "--settings", settings)
    assert (
        bad.returncode == 1 and "allocation.reservationTime" in bad.stderr and "Traceback" not in bad.stderr
    )


def test_output_nodes_is_a_kubernetes_list_the_file_can_carry(tmp_path: Path) -> None:
    result = bgpd("plan", "--config", EXAMPLES / "dual-stack-flat.yaml", "-o", "nodes")
    assert result.returncode == 0, result.stderr
    listed = yaml.safe_load(result.stdout)
    assert listed["apiVersion"] == "v1" and listed["kind"] == "List"
    assert listed["items"][3] == {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "10.0.3.21"},
        "spec": {"podCIDR": "222.2.3.0/24", "podCIDRs": ["222.2.3.0/24", "2222:3::300/120"]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "10.0.3.22"},
                {"type": "InternalIP", "address": "2001:db8:3::21"},
            ]
        },
    }
    carried = tmp_path / "c.yaml"
    carried.write_text((EXAMPLES / "dual-stack-flat.yaml").read_text() + "---\n" + result.stdout)
    assert bgpd("check", "--config", carried).returncode == 0
    manifests = parse_manifests(carried.read_text()).manifests
    assert manifests.node_cidrs is not None and len(manifests.node_cidrs) == 4


def test_issue_12_gateway_a_nodes_applied_to_gateway_b_make_b_agree(tmp_path: Path) -> None:
    settings = tmp_path / "no-reservation.yaml"
    settings.write_text("allocation:\n  reservationTime: 0\n")
    a, b = tmp_path / "a", tmp_path / "b"
    # Gateway A: every node gets a block; 10.0.1.21 leaves; 10.0.3.31 joins and gets its block.
    for workers in (("10.0.1.21", "10.0.3.21"), ("10.0.3.21",), ("10.0.3.21", "10.0.3.31")):
        path = cluster_file(tmp_path, "a.yaml", *workers)
        committed = bgpd("plan", "--config", path, "--state-dir", a, "--settings", settings, "--commit")
        assert committed.returncode == 0, committed.stderr
    final = cluster_file(tmp_path, "final.yaml", "10.0.3.21", "10.0.3.31")
    # Gateway B: installed later, empty ledger.
    assert bgpd("plan", "--config", final, "--state-dir", b, "--commit").returncode == 0
    on_a = bgpd("plan", "--config", final, "--state-dir", a, "-o", "json").stdout
    on_b = bgpd("plan", "--config", final, "--state-dir", b, "-o", "json").stdout
    assert routes(on_a)["222.2.1.0/24"] == "10.0.3.31" and routes(on_b)["222.2.1.0/24"] == "10.0.3.11"
    # The fix: A's allocation as Node objects, added to the file every gateway reads.
    nodes = bgpd("plan", "--config", final, "--state-dir", a, "-o", "nodes")
    assert nodes.returncode == 0 and nodes.stderr == ""
    shared = tmp_path / "shared.yaml"
    shared.write_text(final.read_text() + "---\n" + nodes.stdout)
    agreed_a = bgpd("plan", "--config", shared, "--state-dir", a, "-o", "json")
    agreed_b = bgpd("plan", "--config", shared, "--state-dir", b, "-o", "json", "--commit")
    assert routes(agreed_a.stdout) == routes(agreed_b.stdout) == routes(on_a)
    problems = {p["node"]: p["reason"] for p in json.loads(agreed_b.stdout)["problems"]}
    assert sorted(problems) == ["10.0.3.11", "10.0.3.21", "10.0.3.31"]
    assert "ipv4 ledger 222.2.1.0/24, Node document 222.2.2.0/24: the file wins" in problems["10.0.3.11"]
    assert json.loads(agreed_a.stdout)["problems"] == []
    # B's ledger now agrees with A's: without the Node documents it still announces the same.
    again = bgpd("plan", "--config", final, "--state-dir", b, "-o", "json")
    assert routes(again.stdout) == routes(on_a)


def test_check_fails_when_node_documents_leave_a_node_out(tmp_path: Path) -> None:
    listed = yaml.safe_load(
        bgpd("plan", "--config", EXAMPLES / "single-stack-ipv4.yaml", "-o", "nodes").stdout
    )
    path = tmp_path / "c.yaml"
    path.write_text(SINGLE + "---\n" + yaml.safe_dump(listed))
    assert bgpd("check", "--config", path).returncode == 0
    listed["items"] = listed["items"][:-1]
    path.write_text(SINGLE + "---\n" + yaml.safe_dump(listed))
    result = bgpd("check", "--config", path)
    assert result.returncode == 1
    assert "node 10.0.3.21: not announced: the file has no Node document for it" in result.stderr
