"""A TCP-MD5 password reaches no output of ``bgpd plan`` or ``bgpd check``, in any format, whether
it is written in the settings file or read from a ``passwordFile``; the plan says where it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli._run import EXAMPLES, bgpd

INLINE = "inline-md5-9c1e"
FROM_FILE = "file-md5-44d0"
DUAL = EXAMPLES / "dual-stack-flat.yaml"


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    key = tmp_path / "tor.key"
    key.write_text(FROM_FILE + "\n")
    key.chmod(0o644)  # readable by all: check warns, naming the file, not its content
    path = tmp_path / "bgpd.yaml"
    path.write_text(
        f'peers:\n  "10.0.1.254": {{password: "{INLINE}", ttlSecurity: true}}\n'
        f'  "10.0.3.254": {{passwordFile: "{key}", maxPrefixes: 500}}\n'
    )
    return path


@pytest.mark.parametrize("output", ["table", "json", "yaml"])
def test_plan_never_prints_a_password(settings: Path, output: str) -> None:
    result = bgpd(
        "plan", "--config", DUAL, "--settings", settings, "-o", output, "--local-address", "10.0.1.100"
    )
    assert result.returncode == 0, result.stderr
    for secret in (INLINE, FROM_FILE):
        assert secret not in result.stdout + result.stderr


def test_plan_says_where_each_password_comes_from(settings: Path) -> None:
    result = bgpd(
        "plan", "--config", DUAL, "--settings", settings, "-o", "json", "--local-address", "10.0.1.100"
    )
    sessions = {s["peerIP"]: s["settings"] for s in json.loads(result.stdout)["sessions"]}
    assert sessions["10.0.1.254"]["password"] == "<hidden, from password>"
    assert sessions["10.0.1.254"]["ttlSecurity"] is True
    key = settings.parent / "tor.key"
    assert sessions["10.0.3.254"]["passwordFile"] == f"<hidden, from passwordFile {key}>"
    assert sessions["10.0.3.254"]["maxPrefixes"] == 500


def test_check_warns_about_a_readable_password_file_without_showing_it(settings: Path) -> None:
    result = bgpd("check", "--config", DUAL, "--settings", settings)
    assert result.returncode == 0, result.stderr
    assert (
        f'{settings}: warning: peers["10.0.3.254"].passwordFile: {settings.parent / "tor.key"} is readable'
        in (result.stderr)
    )
    for secret in (INLINE, FROM_FILE):
        assert secret not in result.stdout + result.stderr


def test_a_refused_password_is_not_echoed(tmp_path: Path) -> None:
    settings = tmp_path / "bgpd.yaml"
    secret = "x" * 81
    settings.write_text(f'defaults: {{password: "{secret}"}}\n')
    result = bgpd("check", "--config", DUAL, "--settings", settings)
    assert result.returncode == 1 and "81 octets long" in result.stderr
    assert secret not in result.stdout + result.stderr
