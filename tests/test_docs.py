"""The operator docs stay in step with the code: every setting, error code, command and column."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from bgpd.cli.tables import TABLES
from bgpd.control.protocol import MAX_NESTING, MAX_REQUEST_BYTES, Command, ErrorCode
from bgpd.control.server import ControlServer
from bgpd.plan.settings import LogSettings, PeerOverrides, PeerSettings, Settings

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "operator-guide.md").read_text()
PROTOCOL = (ROOT / "docs" / "control-protocol.md").read_text()


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _reference_rows() -> set[str]:
    """The first column of the settings reference table, backticks removed."""
    section = GUIDE.split("## Settings reference", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))


ALL_KEYS = [*_keys(Settings), *_keys(PeerSettings), *(f"log.{k}" for k in _keys(LogSettings))]


@pytest.mark.parametrize("key", ALL_KEYS)
def test_every_setting_has_a_reference_row(key: str) -> None:
    assert key in _reference_rows()


def test_reference_lists_no_setting_that_does_not_exist() -> None:
    assert _reference_rows() - set(ALL_KEYS) == set()


def test_overrides_and_defaults_have_the_same_keys() -> None:
    assert _keys(PeerOverrides) == _keys(PeerSettings)


def test_documented_defaults_match_the_code() -> None:
    defaults = Settings().for_peer("192.0.2.1")
    rows = {
        key: default
        for key, default in re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", GUIDE, flags=re.MULTILINE)
    }
    assert rows["holdTime"] == str(defaults.hold_time)
    assert rows["keepaliveTime"] == "holdTime / 3"
    assert rows["connectRetryTime"] == str(defaults.connect_retry_time)
    assert rows["delayOpenTime"] == str(defaults.delay_open_time)
    assert rows["idleHoldTime"] == str(defaults.idle_hold_time)
    assert rows["dampPeerOscillations"] == str(defaults.damp_peer_oscillations).lower()
    assert rows["port"] == str(defaults.port)
    assert rows["passive"] == str(defaults.passive).lower()
    assert rows["freebind"] == str(defaults.freebind).lower()
    assert rows["offSegmentNextHop"] == defaults.off_segment_next_hop.value
    assert rows["log.format"] == LogSettings().format.value
    assert rows["log.level"] == LogSettings().level


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
