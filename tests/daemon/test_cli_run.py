"""``bgpd run`` refuses to start on bad input, printing every problem, and never steals a live socket."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.plan._fixtures import SINGLE

ROOT = Path(__file__).resolve().parents[2]


def bgpd_run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bgpd", "run", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_every_error_of_the_cluster_file_and_the_settings_file_is_printed(short_dir: Path) -> None:
    config = short_dir / "cluster.yaml"
    config.write_text(SINGLE.replace("peerASN: 65002", "peerASN: banana"), encoding="utf-8")
    settings = short_dir / "bgpd.yaml"
    settings.write_text("defaults:\n  holdTim: 30\n", encoding="utf-8")
    result = bgpd_run("--config", config, "--settings", settings, "--state-dir", short_dir / "state")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert sum("peerASN" in line for line in lines) == 2
    assert any("holdTim" in line and str(settings) in line for line in lines)
    assert lines[-1] == "bgpd run: not started (3 errors)"
    assert "Traceback" not in result.stderr
    assert not (short_dir / "state").exists()


def test_a_corrupt_ledger_is_refused_not_replaced(short_dir: Path) -> None:
    config = short_dir / "cluster.yaml"
    config.write_text(SINGLE, encoding="utf-8")
    state = short_dir / "state"
    state.mkdir()
    ledger = state / "pod-cidr-ledger.json"
    ledger.write_text("{not json", encoding="utf-8")
    result = bgpd_run("--config", config, "--state-dir", state)
    assert result.returncode == 1
    assert "corrupt" in result.stderr
    assert ledger.read_text(encoding="utf-8") == "{not json"


def test_a_corrupt_maintenance_state_is_refused_not_replaced(short_dir: Path) -> None:
    """Starting without it could bring up a session someone disabled for maintenance."""
    config = short_dir / "cluster.yaml"
    config.write_text(SINGLE, encoding="utf-8")
    state = short_dir / "state"
    state.mkdir()
    (state / "maintenance.json").write_text('{"disabled": 1}', encoding="utf-8")
    result = bgpd_run("--config", config, "--state-dir", state)
    assert result.returncode == 1
    assert "maintenance.json is corrupt" in result.stderr and "Traceback" not in result.stderr
    assert (state / "maintenance.json").read_text(encoding="utf-8") == '{"disabled": 1}'


def test_a_live_control_socket_is_refused(short_dir: Path) -> None:
    config = short_dir / "cluster.yaml"
    config.write_text(SINGLE, encoding="utf-8")
    settings = short_dir / "bgpd.yaml"
    settings.write_text("localAddresses: [10.0.1.100]\nlog:\n  format: json\n", encoding="utf-8")
    path = short_dir / "bgpd.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(str(path))
        other.listen()
        result = bgpd_run(
            "--config", config, "--settings", settings, "--state-dir", short_dir / "state", "--socket", path
        )
    assert result.returncode == 1
    assert "another bgpd is already listening on" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
