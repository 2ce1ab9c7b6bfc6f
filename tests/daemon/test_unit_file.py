"""The shipped systemd unit: the settings issue 5 asks for, consistent with what bgpd needs."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "config" / "bgpd.service"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd's unit syntax: sections, ``Key=value`` lines, repeated keys accumulate, ``#`` comments."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"key outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not a Key=value line: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    return parse_unit(UNIT.read_text())["Service"]


def _one(service: dict[str, list[str]], key: str) -> str:
    values = service.get(key, [])
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def test_parser_accumulates_and_skips_comments() -> None:
    parsed = parse_unit("# c\n[A]\nK=1\nK=2\n; c\n[B]\nX = y z\n")
    assert parsed == {"A": {"K": ["1", "2"]}, "B": {"X": ["y z"]}}


def test_notify_service_with_reload_and_restart(service: dict[str, list[str]]) -> None:
    assert _one(service, "Type") == "notify"
    assert _one(service, "NotifyAccess") == "main"
    assert _one(service, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert _one(service, "Restart") == "on-failure"
    assert _one(service, "WatchdogSec") == "30s"


def test_exec_start_uses_the_unit_directories(service: dict[str, list[str]]) -> None:
    argv = shlex.split(_one(service, "ExecStart"))
    assert argv == [
        "/opt/bgpd/bin/bgpd",
        "run",
        "--config",
        "/etc/bgpd/cluster.yaml",
        "--settings",
        "/etc/bgpd/bgpd.yaml",
        "--state-dir",
        "/var/lib/bgpd",
        "--socket",
        "/run/bgpd/bgpd.sock",
    ]
    # ProtectSystem=strict makes everything read-only except these two, so the paths must match them.
    assert argv[argv.index("--state-dir") + 1] == "/var/lib/" + _one(service, "StateDirectory")
    assert Path(argv[argv.index("--socket") + 1]).parent == Path("/run") / _one(service, "RuntimeDirectory")


def test_hardening(service: dict[str, list[str]]) -> None:
    assert _one(service, "ProtectSystem") == "strict"
    assert _one(service, "NoNewPrivileges") == "yes"
    assert _one(service, "User") == "bgpd"
    assert _one(service, "AmbientCapabilities") == "CAP_NET_BIND_SERVICE"
    assert _one(service, "CapabilityBoundingSet") == "CAP_NET_BIND_SERVICE"
    assert "PrivateNetwork" not in service  # bgpd must see the host's addresses and peers
    families = set(_one(service, "RestrictAddressFamilies").split())
    assert {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"} <= families  # control socket, BGP, addrwatch


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    # verify insists that ExecStart exists; point it at an executable that does.
    unit = tmp_path / "bgpd.service"
    unit.write_text(UNIT.read_text().replace("/opt/bgpd/bin/bgpd", sys.executable))
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "bgpd.service" not in result.stderr, result.stderr  # warnings about our unit are failures too
