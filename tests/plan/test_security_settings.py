"""The settings of issue 9: TCP-MD5 passwords (inline or from a file), GTSM, the prefix limit and
the RFC 9687 send hold time — how they are read, merged, refused, and kept out of every output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bgpd.plan.secret import Secret
from bgpd.plan.settings import SettingsError, load_settings, parse_settings, settings_warnings

PASSWORD = "s3cret-tor1"


def _errors(data: object) -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse_settings(data)  # type: ignore[arg-type]
    return [f"{d.field}: {d.message}" for d in info.value.errors]


def password_file(tmp_path: Path, content: bytes = b"s3cret-tor1\n", mode: int = 0o600) -> Path:
    path = tmp_path / "tor1.key"
    path.write_bytes(content)
    os.chmod(path, mode)
    return path


def test_an_inline_password_becomes_a_secret() -> None:
    values = parse_settings({"peers": {"10.0.1.254": {"password": PASSWORD}}}).session_values("10.0.1.254")
    assert values["password"] == Secret(PASSWORD.encode()) and values["password_file"] is None
    assert PASSWORD not in repr(values) and PASSWORD not in str(values["password"])


def test_a_password_file_is_read_without_its_trailing_newline(tmp_path: Path) -> None:
    path = password_file(tmp_path)
    values = parse_settings({"defaults": {"passwordFile": str(path)}}).session_values("10.0.1.254")
    secret = values["password_file"]
    assert secret == Secret(PASSWORD.encode()) and secret.source == f"passwordFile {path}"
    assert str(secret) == f"<hidden, from passwordFile {path}>"


def test_a_password_file_is_read_again_on_each_load(tmp_path: Path) -> None:
    """Rotation: a new password in the file is a changed setting at the next reload."""
    path = password_file(tmp_path)
    data = {"defaults": {"passwordFile": str(path)}}
    first = parse_settings(data).session_values("10.0.1.254")["password_file"]
    path.write_bytes(b"rotated\n")
    second = parse_settings(data).session_values("10.0.1.254")["password_file"]
    assert first != second and second == Secret(b"rotated")


def test_a_world_readable_password_file_works_with_a_warning(tmp_path: Path) -> None:
    path = password_file(tmp_path, mode=0o644)
    settings = parse_settings({"peers": {"10.0.1.254": {"passwordFile": str(path)}}})
    assert settings.session_values("10.0.1.254")["password_file"] == Secret(PASSWORD.encode())
    assert settings_warnings(settings) == [
        f'peers["10.0.1.254"].passwordFile: {path} is readable by every user (mode 0644); chmod o-r it'
    ]
    private = parse_settings({"defaults": {"passwordFile": str(password_file(tmp_path, mode=0o640))}})
    assert settings_warnings(private) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x" * 81, "defaults.password: is 81 octets long; a TCP-MD5 key is at most 80"),
        ("", "defaults.password: must not be empty"),
        (1234, "defaults.password: must be a string (quote it if it looks like a number)"),
    ],
    ids=["too-long", "empty", "number"],
)
def test_a_bad_password_is_refused_without_being_shown(value: object, expected: str) -> None:
    errors = _errors({"defaults": {"password": value}})
    assert errors == [expected]
    if isinstance(value, str) and value:
        assert value not in " ".join(errors)


def test_bad_password_files_are_refused_naming_the_file(tmp_path: Path) -> None:
    assert _errors({"defaults": {"passwordFile": "tor1.key"}}) == [
        "defaults.passwordFile: 'tor1.key' is not an absolute path (bgpd runs from /)"
    ]
    missing = tmp_path / "missing.key"
    assert _errors({"defaults": {"passwordFile": str(missing)}}) == [
        f"defaults.passwordFile: cannot read {missing}: no such file or directory"
    ]
    empty = password_file(tmp_path, b"\n")
    assert _errors({"defaults": {"passwordFile": str(empty)}}) == ["defaults.passwordFile: must not be empty"]
    assert _errors({"defaults": {"passwordFile": str(tmp_path)}}) == [
        f"defaults.passwordFile: {tmp_path} is not a regular file"
    ]
    long = password_file(tmp_path, b"p" * 100 + b"\n")
    errors = _errors({"defaults": {"passwordFile": str(long)}})
    assert errors == ["defaults.passwordFile: is 100 octets long; a TCP-MD5 key is at most 80"]


def test_password_and_password_file_exclude_each_other_per_scope(tmp_path: Path) -> None:
    path = str(password_file(tmp_path))
    assert _errors({"defaults": {"password": PASSWORD, "passwordFile": path}}) == [
        "defaults.passwordFile: set password or passwordFile, not both"
    ]
    # a peer's own choice replaces the inherited one, whichever kind either is
    settings = parse_settings(
        {
            "defaults": {"passwordFile": path},
            "peers": {"10.0.1.254": {"password": "other"}, "10.0.2.254": {"multihop": 2}},
        }
    )
    own = settings.session_values("10.0.1.254")
    assert (own["password"], own["password_file"]) == (Secret(b"other"), None)
    inherited = settings.session_values("10.0.2.254")
    assert (inherited["password"], inherited["password_file"]) == (None, Secret(PASSWORD.encode()))


def test_the_settings_file_errors_never_show_a_password(tmp_path: Path) -> None:
    settings_file = tmp_path / "bgpd.yaml"
    secret = "p" * 90
    settings_file.write_text(f'defaults:\n  password: "{secret}"\n  holdTime: 1\n')
    with pytest.raises(SettingsError) as info:
        load_settings(settings_file)
    shown = " ".join(info.value.lines()) + str(info.value)
    assert "is 90 octets long" in shown and secret not in shown


def test_ttl_security_and_the_prefix_limit_are_per_peer() -> None:
    settings = parse_settings(
        {
            "defaults": {"maxPrefixes": 1000, "maxPrefixesRestart": 0},
            "peers": {"10.0.1.254": {"ttlSecurity": True, "maxPrefixes": 0, "maxPrefixesWarning": 90}},
        }
    )
    peer = settings.session_values("10.0.1.254")
    assert (peer["ttl_security"], peer["max_prefixes"], peer["max_prefixes_warning"]) == (True, 0, 90)
    assert peer["max_prefixes_restart"] == 0
    other = settings.session_values("10.0.2.254")
    assert (other["ttl_security"], other["max_prefixes"], other["max_prefixes_warning"]) == (False, 1000, 75)


def test_send_hold_time_must_exceed_the_hold_time_or_be_zero() -> None:
    assert _errors({"defaults": {"sendHoldTime": 90}}) == [
        "defaults.sendHoldTime: must be 0 (off) or more than holdTime (90) (RFC 9687)"
    ]
    assert _errors(
        {"defaults": {"sendHoldTime": 100}, "peers": {"10.0.1.254": {"holdTime": 200, "sendHoldTime": 150}}}
    ) == ['peers["10.0.1.254"].sendHoldTime: must be 0 (off) or more than holdTime (200) (RFC 9687)']
    settings = parse_settings({"defaults": {"sendHoldTime": 100}, "peers": {"10.0.1.254": {"holdTime": 200}}})
    assert settings.session_values("10.0.1.254")["send_hold_time"] is None  # re-derived for the new hold
    assert settings.session_values("10.0.2.254")["send_hold_time"] == 100
    assert parse_settings({"defaults": {"sendHoldTime": 0}}).session_values("10.0.1.1")["send_hold_time"] == 0
