"""``bgpd plan``: the three output formats, the ledger (read, written only with --commit), bad input."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bgpd.cli.tables import table_for
from bgpd.daemon.handlers import allocations_listing, listed
from bgpd.daemon.host.statefile import save_maintenance
from bgpd.plan.maintenance import Maintenance
from tests.cli._run import EXAMPLES, bgpd
from tests.plan._fixtures import DUAL as DUAL_TEXT
from tests.plan._fixtures import plan

NOW = datetime(2026, 1, 1, tzinfo=UTC)

DUAL = EXAMPLES / "dual-stack-flat.yaml"


def test_json_has_the_documented_shape() -> None:
    result = bgpd("plan", "--config", DUAL, "-o", "json", "--local-address", "10.0.3.100/24")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert list(plan) == ["nodes", "sessions", "routes", "problems", "reserved"]
    assert plan["nodes"][3] == {
        "name": "10.0.3.21",
        "address": "10.0.3.22",
        "ipv6Address": "2001:db8:3::21",
        "nodePool": "np1",
        "clusterCIDRConfig": "cluster-wide-1",
        "podCIDRs": ["222.2.3.0/24", "2222:3::300/120"],
    }
    on_link = plan["sessions"][3]
    assert on_link == {
        "name": "10.0.3.254-node-02",
        "peer": "bgppeer2",
        "localIP": "10.0.3.100",
        "peerIP": "10.0.3.254",
        "localASN": 65001,
        "peerASN": 65002,
        "families": ["ipv4-unicast", "ipv6-unicast"],
        "local": True,
        "segment": "10.0.3.0/24",
        "settings": {
            "routerID": "10.0.3.100",
            "holdTime": 90,
            "keepaliveTime": None,
            "connectRetryTime": 5,
            "delayOpenTime": 0,
            "idleHoldTime": 5,
            "dampPeerOscillations": True,
            "passive": False,
            "port": 179,
            "multihop": 1,
            "freebind": False,
            "offSegmentNextHop": "skip",
            "sendHoldTime": None,
            "maxPrefixes": 20000,
            "maxPrefixesWarning": 75,
            "maxPrefixesRestart": 300,
            "ttlSecurity": False,
            "password": None,
            "passwordFile": None,
            "gracefulRestart": {"enabled": True, "restartTime": 120, "staleTime": 360},
        },
        "disabled": False,
        "drained": False,
        "routes": ["222.2.2.0/24", "222.2.3.0/24", "2222:3::200/120", "2222:3::300/120"],
        "announced": on_link["announced"],
        "skipped": on_link["skipped"],
    }
    assert [a["nextHop"] for a in on_link["announced"]] == [
        "10.0.3.11",
        "10.0.3.22",
        "2001:db8:3::11",
        "2001:db8:3::21",
    ]
    assert on_link["announced"][0]["reason"] == "node 10.0.3.11 and the peer are on segment 10.0.3.0/24"
    assert on_link["skipped"][0] == {
        "prefix": "222.2.0.0/24",
        "reason": "node 10.0.1.11 is off segment 10.0.3.0/24 (RFC 4271 §5.1.3); offSegmentNextHop: skip",
    }
    assert [s["local"] for s in plan["sessions"]] == [False, True, False, True]
    away = plan["sessions"][0]
    assert (away["segment"], away["routes"], away["skipped"]) == (None, [], [])
    assert plan["routes"][4] == {
        "name": "route-via-2001-db8-1--11",
        "prefix": "2222:3::/120",
        "nextHop": "2001:db8:1::11",
        "family": "ipv6-unicast",
    }
    assert len(plan["routes"]) == 8
    assert plan["problems"] == []


def test_yaml_output_is_the_same_data() -> None:
    args = ("--local-address", "10.0.1.100/24")
    as_json = json.loads(bgpd("plan", "--config", DUAL, "-o", "json", *args).stdout)
    as_yaml = yaml.safe_load(bgpd("plan", "--config", DUAL, "-o", "yaml", *args).stdout)
    assert as_yaml == as_json


def test_table_output_shows_sessions_exports_and_routes() -> None:
    single = EXAMPLES / "single-stack-ipv4.yaml"
    result = bgpd("plan", "--config", single, "--local-address", "10.0.1.100/24")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.isupper() and " " not in line] == [
        "ALLOCATIONS",
        "SESSIONS",
        "EXPORTS",
        "ROUTES",
    ]
    session = next(line for line in lines if line.startswith("10.0.1.254-node-01 "))
    assert session.split() == [
        "10.0.1.254-node-01",
        "65001",
        "65002",
        "10.0.1.100",
        "10.0.1.254",
        "ipv4-unicast",
        "yes",
        "10.0.1.0/24",
        "2",
        "2",
    ]
    section = lines[lines.index("EXPORTS") : lines.index("ROUTES")]
    exports = [line.split(None, 3) for line in section if line.startswith("10.0.3.254-node-01 ")]
    assert [e[1] for e in exports] == ["222.2.0.0/24", "222.2.1.0/24", "222.2.2.0/24", "222.2.3.0/24"]
    assert exports[0][3].startswith("left out: the peer is off segment 10.0.1.0/24")
    route = next(line for line in lines if line.startswith("route-via-10-0-3-21"))
    assert route.split() == ["route-via-10-0-3-21", "222.2.3.0/24", "10.0.3.21", "ipv4-unicast"]


def test_the_issues_demo_case_a_prefix_length_and_the_settings_decide_the_routes(tmp_path: Path) -> None:
    # bgpd demo's inputs: the example on loopback, each floating IP on its /24 through the settings.
    text = (EXAMPLES / "single-stack-ipv4.yaml").read_text().replace("10.0.", "127.0.")
    config = tmp_path / "cluster.yaml"
    config.write_text(text)
    settings = tmp_path / "bgpd.yaml"
    settings.write_text("localAddresses: [127.0.1.100/24, 127.0.3.100/24]\n")
    plan = json.loads(bgpd("plan", "--config", config, "--settings", settings, "-o", "json").stdout)
    routes = {s["name"]: s["routes"] for s in plan["sessions"]}
    assert routes == {
        "127.0.1.254-node-01": ["222.2.0.0/24", "222.2.1.0/24"],
        "127.0.1.254-node-02": [],
        "127.0.3.254-node-01": [],  # 127.0.1.100 → 127.0.3.254: the peer is on another subnet
        "127.0.3.254-node-02": ["222.2.2.0/24", "222.2.3.0/24"],
    }
    # --local-address takes precedence over the settings' localAddresses, with the same syntax.
    one = json.loads(
        bgpd(
            "plan",
            "--config",
            config,
            "--settings",
            settings,
            "--local-address",
            "127.0.1.100/24",
            "-o",
            "json",
        ).stdout
    )
    assert [s["local"] for s in one["sessions"]] == [True, False, True, False]


def test_settings_reach_the_plan(tmp_path: Path) -> None:
    settings = tmp_path / "bgpd.yaml"
    settings.write_text('defaults:\n  holdTime: 30\npeers:\n  "10.0.1.254":\n    offSegmentNextHop: self\n')
    result = bgpd(
        "plan", "--config", DUAL, "--settings", settings, "--local-address", "10.0.1.100/24", "-o", "json"
    )
    assert result.returncode == 0, result.stderr
    sessions = {s["name"]: s for s in json.loads(result.stdout)["sessions"]}
    assert {s["settings"]["holdTime"] for s in sessions.values()} == {30}
    on_link = sessions["10.0.1.254-node-01"]
    assert {a["nextHop"] for a in on_link["announced"] if a["prefix"].startswith("222.2.2")} == {"10.0.1.100"}
    assert sessions["10.0.3.254-node-01"]["routes"] == []  # skip for the other peer, which is off-link


def test_settings_errors_are_reported_with_file_and_line(tmp_path: Path) -> None:
    settings = tmp_path / "bgpd.yaml"
    settings.write_text("defaults:\n  holdtime: 30\n")
    result = bgpd("plan", "--config", DUAL, "--settings", settings)
    assert result.returncode == 1 and result.stdout == ""
    assert (
        f"{settings}:2: error: defaults.holdtime: unknown field (bgpd reads this part strictly); "
        "did you mean 'holdTime'?"
    ) in result.stderr
    assert "Traceback" not in result.stderr


def test_state_dir_is_read_and_written_only_with_commit(tmp_path: Path) -> None:
    state = tmp_path / "state"
    dry = bgpd("plan", "--config", DUAL, "--state-dir", state, "-o", "json")
    assert dry.returncode == 0, dry.stderr
    assert not state.exists()
    committed = bgpd("plan", "--config", DUAL, "--state-dir", state, "-o", "json", "--commit")
    assert committed.returncode == 0, committed.stderr
    assert f"ledger written to {state}" in committed.stderr
    ledger_files = list(state.iterdir())
    assert len(ledger_files) == 1
    ledger = json.loads(ledger_files[0].read_text())
    assert {e["node"]: e["ipv4"] for e in ledger["nodes"]} == {
        n["name"]: n["podCIDRs"][0] for n in json.loads(committed.stdout)["nodes"]
    }
    # A later plan reads that ledger: same allocations.
    again = bgpd("plan", "--config", DUAL, "--state-dir", state, "-o", "json")
    assert json.loads(again.stdout) == json.loads(committed.stdout)


def test_corrupt_ledger_is_an_error_and_left_alone(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert bgpd("plan", "--config", DUAL, "--state-dir", state, "--commit").returncode == 0
    (ledger_file,) = state.iterdir()
    ledger_file.write_text("{not json")
    result = bgpd("plan", "--config", DUAL, "--state-dir", state, "--commit")
    assert result.returncode == 1
    assert "corrupt" in result.stderr
    assert "Traceback" not in result.stderr
    assert ledger_file.read_text() == "{not json"


def test_commit_needs_a_state_dir() -> None:
    result = bgpd("plan", "--config", DUAL, "--commit")
    assert result.returncode == 2
    assert "--commit needs --state-dir" in result.stderr


def test_bad_local_address_is_a_usage_error() -> None:
    result = bgpd("plan", "--config", DUAL, "--local-address", "10.0.1.300")
    assert result.returncode == 2
    assert "'10.0.1.300' is not an IP address" in result.stderr
    bad_length = bgpd("plan", "--config", DUAL, "--local-address", "10.0.1.100/33")
    assert bad_length.returncode == 2
    assert "'10.0.1.100/33': the prefix length must be 0-32 for IPv4" in bad_length.stderr
    assert "Traceback" not in result.stderr + bad_length.stderr


def test_invalid_manifests_are_reported_like_check(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(DUAL.read_text().replace("peerASN: 65002", "peerASN: -1", 1))
    result = bgpd("plan", "--config", path, "-o", "json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "BGPPeer/bgppeer1" in result.stderr
    assert "spec.peerASN: -1 is not an AS number" in result.stderr


def test_exhaustion_is_listed_in_the_plan(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(DUAL.read_text().replace('cidr: "222.2.0.0/16"', 'cidr: "222.2.0.0/23"'))
    result = bgpd("plan", "--config", path, "-o", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [p["node"] for p in plan["problems"]] == ["10.0.3.11", "10.0.3.21"]
    assert [n["podCIDRs"] for n in plan["nodes"]][2:] == [[], []]
    table = bgpd("plan", "--config", path)
    assert "PROBLEMS" in table.stdout


def test_allocation_keys_agree_between_plan_and_bgpctl() -> None:
    """``bgpd plan -o json`` and ``bgpctl get allocations`` name the NodePool and the
    ClusterCIDRConfig with the same keys and give them the same values for every node."""
    result = bgpd("plan", "--config", DUAL, "-o", "json")
    planned = {n["name"]: n for n in json.loads(result.stdout)["nodes"]}
    served = {a["node"]: a for a in listed(allocations_listing(plan(DUAL_TEXT)))}
    assert planned.keys() == served.keys()
    shared = {"nodePool", "clusterCIDRConfig", "podCIDRs"}
    for name, node in planned.items():
        assert shared <= node.keys() & served[name].keys()
        assert {k: node[k] for k in shared} == {k: served[name][k] for k in shared}
        assert "pool" not in node and "pool" not in served[name]
    assert {n["nodePool"] for n in planned.values()} == {"bm", "bm-lb", "np1"}
    assert {n["clusterCIDRConfig"] for n in planned.values()} == {"cluster-wide-1"}


def test_allocations_columns_are_named_after_the_keys_they_show() -> None:
    row = {
        "node": "n",
        "nodePool": "np",
        "clusterCIDRConfig": "ccc",
        "podCIDRs": ["10.0.0.0/24"],
        "nodeIPs": ["10.0.1.1"],
        "missingSince": "2025-03-01T12:00:00.000Z",
    }
    header, cells = (
        re.split(r" {3,}", line) for line in table_for("allocations", [row], NOW, wide=True).splitlines()
    )
    by_name = {key.lower(): key for key in row}
    for column, cell in zip(header, cells, strict=True):
        key = by_name[column.replace(" ", "").lower()]
        assert cell == (",".join(row[key]) if isinstance(row[key], list) else row[key])


def test_the_state_dirs_maintenance_shows_in_the_plan(tmp_path: Path) -> None:
    state = tmp_path / "state"
    save_maintenance(state, Maintenance({"10.0.3.254-node-02": "x"}, True, frozenset()))
    args = ("plan", "--config", DUAL, "--local-address", "10.0.3.100/24", "-o", "json")
    result = bgpd(*args, "--state-dir", state)
    assert result.returncode == 0, result.stderr
    session = next(s for s in json.loads(result.stdout)["sessions"] if s["name"] == "10.0.3.254-node-02")
    assert (session["disabled"], session["drained"]) == (True, True)
    assert {tuple(a["communities"]) for a in session["announced"]} == {("65535:0",)}
    (state / "maintenance.json").write_text("[]", encoding="utf-8")
    broken = bgpd(*args, "--state-dir", state)
    assert broken.returncode == 1 and "maintenance.json is corrupt" in broken.stderr
