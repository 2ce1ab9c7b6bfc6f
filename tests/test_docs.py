"""The operator docs stay in step with the code: every setting, error code, command and column."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from bgpd.cli.tables import TABLES
from bgpd.control.protocol import MAX_NESTING, MAX_REQUEST_BYTES, Command, ErrorCode
from bgpd.control.server import ControlServer
from bgpd.plan.session_config import SEND_HOLD_MINIMUM, DeclaredSetting, declared_settings
from bgpd.plan.settings import (
    AllocationSettings,
    LogSettings,
    MetricsSettings,
    PeerOverrides,
    PeerSettings,
    RemovalSettings,
    Settings,
)

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "operator-guide.md").read_text()
PROTOCOL = (ROOT / "docs" / "control-protocol.md").read_text()


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _reference_rows() -> set[str]:
    """The first column of the settings reference table, backticks removed."""
    section = GUIDE.split("## Settings reference", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))


ALL_KEYS = [
    *_keys(Settings),
    *_keys(PeerSettings),
    *(f"log.{k}" for k in _keys(LogSettings)),
    *(f"metrics.{k}" for k in _keys(MetricsSettings)),
    *(f"allocation.{k}" for k in _keys(AllocationSettings)),
    *(f"removals.{k}" for k in _keys(RemovalSettings)),
]


@pytest.mark.parametrize("key", ALL_KEYS)
def test_every_setting_has_a_reference_row(key: str) -> None:
    assert key in _reference_rows()


def test_reference_lists_no_setting_that_does_not_exist() -> None:
    assert _reference_rows() - set(ALL_KEYS) == set()


def test_overrides_and_defaults_have_the_same_keys() -> None:
    assert _keys(PeerOverrides) == _keys(PeerSettings)


# declared settings without a fixed default: what the guide says instead
_DERIVED = {
    "keepaliveTime": "holdTime / 3",
    "sendHoldTime": f"max({SEND_HOLD_MINIMUM:g}, 2 × hold time)",
    "password": "none",
    "passwordFile": "none",
}


def _documented(row: DeclaredSetting) -> str:
    if row.default is None:
        return _DERIVED[row.key]
    return str(row.default).lower() if isinstance(row.default, bool) else str(row.default)


@pytest.mark.parametrize("row", declared_settings(), ids=lambda row: row.key)
def test_documented_defaults_match_the_declarations(row: DeclaredSetting) -> None:
    rows = dict(re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", GUIDE, flags=re.MULTILINE))
    assert rows[row.key] == _documented(row)


def test_documented_log_defaults_match_the_code() -> None:
    rows = dict(re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", GUIDE, flags=re.MULTILINE))
    assert rows["log.format"] == LogSettings().format.value
    assert rows["log.level"] == LogSettings().level
    assert rows["allocation.reservationTime"] == str(AllocationSettings().reservation_time)
    assert rows["removals.maxShare"] == str(RemovalSettings().max_share)


def test_documented_metrics_defaults_match_the_code() -> None:
    rows = dict(re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", GUIDE, flags=re.MULTILINE))
    defaults = MetricsSettings()
    assert (rows["metrics.enabled"], rows["metrics.address"]) == ("false", str(defaults.address))
    assert rows["metrics.port"] == str(defaults.port)


def test_guide_shows_the_units_exec_start() -> None:
    unit = (ROOT / "config" / "bgpd.service").read_text()
    (exec_start,) = re.findall(r"^ExecStart=(.+)$", unit, flags=re.MULTILINE)
    assert f"`ExecStart={exec_start}`" in GUIDE


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_is_documented(code: ErrorCode) -> None:
    assert f"| `{code.value}` |" in PROTOCOL


@pytest.mark.parametrize("command", list(Command))
def test_every_command_is_documented(command: Command) -> None:
    assert f"| `{command.value}` |" in PROTOCOL


@pytest.mark.parametrize("header", sorted({c.header for cols in TABLES.values() for c in cols}))
def test_every_table_column_is_documented(header: str) -> None:
    assert re.search(rf"\| {re.escape(header)}( \(wide\))? \|", PROTOCOL) or f"| {header} (" in PROTOCOL


def test_documented_limits_match_the_server_defaults() -> None:
    params = inspect.signature(ControlServer).parameters
    assert f"64 KiB ({MAX_REQUEST_BYTES} bytes)" in PROTOCOL
    assert f"(limit {params['max_clients'].default})" in PROTOCOL
    assert f"closed after {params['idle_timeout'].default:g} s" in PROTOCOL
    assert f"reply is not read within {params['reply_timeout'].default:g} s" in PROTOCOL
    assert f"| kept for root and the daemon's user | {params['reserved_clients'].default} |" in PROTOCOL
    assert f"| per unprivileged user (uid) | {params['max_clients_per_uid'].default} |" in PROTOCOL
    assert f"nested at most {MAX_NESTING} deep" in PROTOCOL


def test_every_bgpctl_get_option_is_in_the_guide() -> None:
    get_help = subprocess.run(
        [sys.executable, "-m", "bgpd.cli.bgpctl", "get", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=ROOT,
    ).stdout
    flags = set(re.findall(r"--[a-z][a-z-]*", get_help)) - {"--help"}
    assert {"--session", "--prefix", "--limit", "--watch", "--watch-interval", "--output"} <= flags
    section = GUIDE.split("## Control socket and bgpctl", 1)[1].split("\n## ", 1)[0]
    assert {flag for flag in flags if flag not in section and flag != "--output"} == set()


def _install_block() -> str:
    section = GUIDE.split("## Install\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_install_steps_put_bgpd_where_the_unit_runs_it() -> None:
    """PEP 668 distributions refuse a system-wide pip install: the guide installs into a virtual
    environment, and the unit's ExecStart runs that environment's bgpd."""
    unit = (ROOT / "config" / "bgpd.service").read_text()
    (exec_start,) = re.findall(r"^ExecStart=(\S+)", unit, flags=re.MULTILINE)
    venv = exec_start.removesuffix("/bin/bgpd")
    assert venv != exec_start
    commands = [line.split("#", 1)[0].strip() for line in _install_block().splitlines()]
    assert f"python3 -m venv {venv}" in commands
    assert f"{venv}/bin/pip install ." in commands
    assert not [c for c in commands if c.startswith(("pip ", "pip3 ", "sudo pip"))]  # never the system's pip
    assert f"{venv}/bin/bgpd install-shell-files --prefix /usr/local" in commands
    upgrade = GUIDE.split("## Upgrade\n", 1)[1].split("\n## ", 1)[0]
    assert f"`{venv}/bin/pip install --upgrade .`" in upgrade


def test_readme_installs_into_a_virtual_environment() -> None:
    readme = (ROOT / "README.md").read_text()
    first = readme.split("# 1. ", 1)[1].splitlines()[1]
    assert first.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install .")
