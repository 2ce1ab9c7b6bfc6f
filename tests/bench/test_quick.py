"""Every benchmark still runs: each scenario at its ``--quick`` size, its last line the JSON report.

A check that the benchmarks work (labs build and tear down, counts match, the report is complete),
never a timing gate: no figure here is compared with anything but its own sanity (bench/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _report(*args: str) -> dict[str, Any]:
    """Run a bench; it exits non-zero when anything failed, its lab's teardown included."""
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.interop
def test_send_quick() -> None:
    report = _report("bench/send.py", "--quick")
    assert report["nodes"] == 200 and report["wrong_next_hops"] == 0
    for who in ("bgpd", "bird"):
        assert 0 < report[f"{who}_established_to_99pct_s"] <= report[f"{who}_established_to_all_s"]
        assert report[f"{who}_start_to_established_s"] > 0 and report[f"{who}_send_cpu_per_route_us"] > 0
    assert report["send_path_ratio"] == report["ratio_established_to_99pct_s"] > 0
    # ready (Established and routes known) is never before Established: from it is never longer
    for who in ("bgpd", "bird"):
        assert 0 < report[f"{who}_ready_to_99pct_s"] <= report[f"{who}_established_to_99pct_s"]
        assert 0 < report[f"{who}_ready_send_cpu_per_route_us"] <= report[f"{who}_send_cpu_per_route_us"]
    # BIRD's Established time has millisecond precision (truncated): allow that much.
    assert 0 < report["bgpd_start_to_first_open_s"] <= report["bgpd_start_to_established_s"] + 0.002


@pytest.mark.interop
def test_ingest_quick() -> None:
    report = _report("bench/ingest.py", "--quick")
    assert report["prefixes"] == 25_000  # over the default prefix limit: the bench sets none
    for who in ("bgpd", "bird"):
        assert report[f"{who}_ingest_99pct_s"] > 0 and report[f"{who}_rss_mib"] > 0
    assert report["bgpd_ingest_all_s"] >= report["bgpd_ingest_99pct_s"]  # bgpd holds every prefix
    assert report["ratio_rss_mib"] > 0 and report["bgpd_bytes_per_prefix"] > 0


def test_codec_quick() -> None:
    report = _report("bench/codec.py", "--quick")
    for key in ("ratio", "singleRatio", "decodePrefixesPerSec", "exabgpSingleDecodeMsgsPerSec"):
        assert report[key] > 0, key
    assert report["bgpdPrefixes"] == report["exabgpPrefixes"] == report["prefixes"]
    assert report["bgpdSingleMessages"] == report["exabgpSingleMessages"] == report["singleMessages"]


def test_plan_small() -> None:
    report = _report("bench/plan.py", "--nodes", "200", "--pools", "4", "--runs", "1")
    assert report["nodes"] == 200 and report["problems"] == 0 and report["end_to_end_s"] > 0


def test_prefix_flood_small() -> None:
    report = _report("bench/prefix_flood.py", "--prefixes", "50000")
    reference, limited = report["reference"], report["limited"]
    assert (reference["kept"], reference["stopped"]) == (50_000, False)
    assert limited["stopped"] and limited["limit"] < limited["kept"] < 50_000
    assert report["memory_ratio"] > 0


def test_metrics_quick() -> None:
    report = _report("bench/metrics.py", "--quick")
    assert report["sessions"] == 20 and report["bytes"] > 0
    for key in ("ours_openmetrics_s", "ours_text_s", "prometheus_client_text_s", "longest_chunk_s"):
        assert report[key] > 0, key
    assert report["ours_text_vs_prometheus_client"] > 0


def test_allocation_small() -> None:
    report = _report("bench/allocation.py", "--nodes", "400", "--runs", "1")
    assert report["nodes"] == 400
    for key in ("reference_s", "reserved_s", "pinned_s", "reserved_ratio", "pinned_ratio"):
        assert report[key] > 0, key


def test_control_parse_small() -> None:
    report = _report("bench/control_parse.py", "--repeat", "2")
    assert report["cases"] and report["worst_ms"] > 0 and report["budget_ratio"] > 0


@pytest.mark.interop
def test_reload_quick() -> None:
    report = _report("bench/reload.py", "--quick")
    assert (report["nodes"], report["runs"]) == (200, 2)
    assert report["flaps"] == 0 and report["differing_routes"] == 0 and report["routes"] == 202
    for who in ("bgpd", "bird"):
        assert report[f"{who}_to_tor_s"] > 0 and report[f"{who}_cpu_s"] > 0
        assert report[f"{who}_status_wall_ms"] > 0 and report[f"{who}_status_cpu_ms"] >= 0
    assert report["ratio_to_tor_s"] > 0


@pytest.mark.interop
def test_sessions_quick() -> None:
    report = _report("bench/sessions.py", "--quick")
    assert (report["sessions"], report["runs"]) == (20, 1)
    for who in ("bgpd", "bird"):
        assert 0 < report[f"{who}_half_established_s"] <= report[f"{who}_all_established_s"]
        assert report[f"{who}_slowest_all_established_s"] == round(report[f"{who}_all_established_s"], 3)
        assert report[f"{who}_runs_not_all_up"] == 0 and report[f"{who}_up_at_end"] == 20
        assert report[f"{who}_status_wall_ms"] > 0 and report[f"{who}_status_cpu_ms"] >= 0


@pytest.mark.interop
def test_loop_quick() -> None:
    report = _report("bench/loop.py", "--quick")
    assert [p["phase"] for p in report["phases"]] == ["start", "listing", "reload", "status", "flood again"]
    assert report["watch_stayed_up"] is True and report["hold_timer_expired"] is False
    assert report["listing_lines"] == 20_000 + 5_000 + 1  # every received route, and the header
    assert report["listing_s"] > 0 and report["ratio_listing_s"] > 0 and report["bgpctl_rss_mib"] > 0
    for phase in report["phases"]:
        assert phase["seconds"] > 0 and phase["late_max_ms"] in (
            "0",
            "5",
            "10",
            "20",
            "50",
            "100",
            "200",
            "500",
            "1000",
            "+Inf",
        )
