"""The daemon settings file: defaults, per-peer merging, and errors that name the field."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from bgpd.logs import LogFormat
from bgpd.plan.session_config import DeclaredSetting, NextHopPolicy, declared_settings
from bgpd.plan.settings import (
    LocalAddress,
    PeerOverrides,
    PeerSettings,
    Settings,
    SettingsError,
    load_settings,
    parse_settings,
)

ROOT = Path(__file__).resolve().parents[2]


def _errors(data: object) -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse_settings(data)  # type: ignore[arg-type]
    return [f"{d.field}: {d.message}" if d.field else d.message for d in info.value.errors]


def test_no_file_means_the_declared_defaults() -> None:
    settings = load_settings(None)
    assert settings.session_values("192.0.2.1") == {
        "hold_time": 90,
        "keepalive_time": None,  # a third of the negotiated hold time
        "connect_retry_time": 5,
        "delay_open_time": 0,
        "idle_hold_time": 5,
        "damp_peer_oscillations": True,
        "passive": False,
        "port": 179,
        "ttl": 1,
        "freebind": False,
        "off_segment_next_hop": NextHopPolicy.SKIP,
        "send_hold_time": None,  # max(480, 2 × the negotiated hold time), RFC 9687
        "max_prefixes": 20_000,
        "max_prefixes_warning": 75,
        "max_prefixes_restart": 300,
        "ttl_security": False,
        "password": None,
        "password_file": None,
    }
    assert settings.session_values("192.0.2.1") == {row.name: row.default for row in declared_settings()}
    assert settings.log.format is LogFormat.AUTO and settings.log.level == "info"
    assert settings.local_addresses is None


def test_the_file_models_are_generated_from_the_declared_settings() -> None:
    keys = [row.key for row in declared_settings()]
    assert [f.alias for f in PeerSettings.model_fields.values()] == keys
    assert [f.alias for f in PeerOverrides.model_fields.values()] == keys
    assert all(f.default is None for f in PeerOverrides.model_fields.values())


@pytest.mark.parametrize("row", declared_settings(), ids=lambda row: row.key)
def test_every_declared_bound_is_enforced_naming_its_key(row: DeclaredSetting) -> None:
    for bound, value in (("at least", row.setting.ge), ("at most", row.setting.le)):
        if value is None:
            continue
        outside = value - 1 if bound == "at least" else value + 1
        for scope in ({"defaults": {row.key: outside}}, {"peers": {"10.0.0.1": {row.key: outside}}}):
            errors = _errors(scope)
            assert any(e.endswith(f"{row.key}: must be {bound} {value} (got {outside})") for e in errors), (
                errors
            )


def test_peer_overrides_merge_with_defaults() -> None:
    settings = parse_settings(
        {
            "defaults": {"holdTime": 30, "connectRetryTime": 10, "offSegmentNextHop": "self"},
            "peers": {
                "10.0.1.254": {"holdTime": 9, "passive": True},
                "10.0.3.254": {"keepaliveTime": 20, "multihop": 3, "port": 1179, "freebind": True},
                "2001:DB8::1": {"offSegmentNextHop": "node"},
            },
        }
    )
    first = settings.session_values("10.0.1.254")
    assert (first["hold_time"], first["keepalive_time"], first["passive"], first["connect_retry_time"]) == (
        9,
        None,  # the new hold time re-derives it: a third of whatever hold time is negotiated
        True,
        10,
    )
    second = settings.session_values(ipaddress.ip_address("10.0.3.254"))
    assert (second["hold_time"], second["keepalive_time"], second["ttl"]) == (30, 20, 3)
    assert (second["port"], second["freebind"], second["off_segment_next_hop"]) == (
        1179,
        True,
        NextHopPolicy.SELF,
    )
    assert settings.session_values("2001:db8::1")["off_segment_next_hop"] is NextHopPolicy.NODE  # normalised
    other = settings.session_values("10.9.9.9")
    assert (other["hold_time"], other["keepalive_time"], other["ttl"]) == (30, None, 1)


def test_a_peers_new_hold_time_drops_the_defaults_keepalive() -> None:
    settings = parse_settings({"defaults": {"keepaliveTime": 20}, "peers": {"10.0.1.254": {"holdTime": 9}}})
    assert settings.session_values("10.0.1.254")["keepalive_time"] is None
    assert settings.session_values("10.0.3.254")["keepalive_time"] == 20


def test_session_pacing_settings_merge_per_peer() -> None:
    settings = parse_settings(
        {
            "defaults": {"delayOpenTime": 5, "idleHoldTime": 10},
            "peers": {
                "10.0.1.254": {"dampPeerOscillations": False, "delayOpenTime": 0},
                "10.0.2.254": {"idleHoldTime": 30},
            },
        }
    )
    first = settings.session_values("10.0.1.254")
    assert (first["delay_open_time"], first["idle_hold_time"], first["damp_peer_oscillations"]) == (
        0,
        10,
        False,
    )
    second = settings.session_values("10.0.2.254")
    assert (second["delay_open_time"], second["idle_hold_time"], second["damp_peer_oscillations"]) == (
        5,
        30,
        True,
    )


def test_hold_time_zero_is_allowed_and_a_keepalive_with_it_is_not() -> None:
    values = parse_settings({"defaults": {"holdTime": 0}}).session_values("10.0.0.1")
    assert (values["hold_time"], values["keepalive_time"]) == (0, None)
    assert _errors({"defaults": {"holdTime": 0, "keepaliveTime": 5}}) == [
        "defaults.keepaliveTime: must be 0 when holdTime is 0"
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"defaults": {"holdTime": 2}}, "defaults.holdTime: must be 0 (no keepalives) or between 3"),
        ({"defaults": {"holdTime": 70000}}, "defaults.holdTime: must be 0"),
        (
            {"defaults": {"hold_time": 30}},
            "defaults.hold_time: unknown field (bgpd reads this part strictly)",
        ),
        (
            {"defaults": {"holdtime": 30}},
            "defaults.holdtime: unknown field (bgpd reads this part strictly); did you mean 'holdTime'?",
        ),
        (
            {"bogus": 1},
            "bogus: unknown field (bgpd reads this part strictly); "
            "known fields: defaults, peers, log, metrics, allocation, removals, localAddresses",
        ),
        ({"defaults": {"port": 0}}, "defaults.port: must be at least 1 (got 0)"),
        ({"defaults": {"multihop": 256}}, "defaults.multihop: must be at most 255 (got 256)"),
        (
            {"defaults": {"offSegmentNextHop": "peer"}},
            "defaults.offSegmentNextHop: must be 'skip', 'self' or 'node' (got 'peer')",
        ),
        ({"defaults": {"passive": "maybe"}}, "defaults.passive: must be true or false (got 'maybe')"),
        ({"defaults": {"connectRetryTime": 1.5}}, "defaults.connectRetryTime: must be an integer (got 1.5)"),
        ({"peers": {"tor1": {}}}, "peers.tor1: 'tor1' is not an IP address"),
        ({"peers": {"10.0.1.254": {"holdTime": 1}}}, 'peers["10.0.1.254"].holdTime: must be 0'),
        (
            {"peers": {"10.0.1.254": {"keepaliveTime": 90}}},
            'peers["10.0.1.254"].keepaliveTime: must be at least 1 and below holdTime (90)',
        ),
        ({"peers": {"10.0.1.254": {"colour": "red"}}}, 'peers["10.0.1.254"].colour: unknown field'),
        (
            {"peers": {"10.0.1.254": {"pasive": True}}},
            'peers["10.0.1.254"].pasive: unknown field (bgpd reads this part strictly); '
            "did you mean 'passive'?",
        ),
        (
            {
                "defaults": {"keepaliveTime": 30},
                "peers": {"10.0.1.254": {"holdTime": 20, "keepaliveTime": 30}},
            },
            'peers["10.0.1.254"].keepaliveTime: must be at least 1 and below holdTime (20)',
        ),
        ({"defaults": {"delayOpenTime": -1}}, "defaults.delayOpenTime: must be at least 0 (got -1)"),
        ({"defaults": {"delayOpenTime": 241}}, "defaults.delayOpenTime: must be at most 240 (got 241)"),
        ({"defaults": {"idleHoldTime": 0}}, "defaults.idleHoldTime: must be at least 1 (got 0)"),
        (
            {"peers": {"10.0.1.254": {"idleHoldTime": 121}}},
            'peers["10.0.1.254"].idleHoldTime: must be at most 120',
        ),
        (
            {"defaults": {"dampPeerOscillations": "sometimes"}},
            "defaults.dampPeerOscillations: must be true or false",
        ),
        ({"defaults": {"delay_open_time": 5}}, "defaults.delay_open_time: unknown field"),
        ({"log": {"level": "loud"}}, "log.level: must be one of debug"),
        ({"log": {"format": "xml"}}, "log.format: must be 'auto', 'json' or 'console' (got 'xml')"),
        ({"localAddresses": ["10.0.1.100", "x"]}, "localAddresses[1]: 'x' is not an IP address"),
        ({"localAddresses": ["10.0.1.100", "10.0.1.100"]}, "localAddresses: lists an address twice"),
        ({"localAddresses": ["10.0.1.100/24", "10.0.1.100"]}, "localAddresses: lists an address twice"),
        ({"localAddresses": ["x/24"]}, "localAddresses[0]: 'x' is not an IP address"),
        (
            {"localAddresses": ["10.0.1.100", "10.0.1.100/33"]},
            "localAddresses[1]: '10.0.1.100/33': the prefix length must be 0-32 for IPv4",
        ),
        (
            {"localAddresses": ["2001:db8::64/129"]},
            "localAddresses[0]: '2001:db8::64/129': the prefix length must be 0-128 for IPv6",
        ),
        ({"localAddresses": ["10.0.1.100/"]}, "localAddresses[0]: '10.0.1.100/': the prefix length must"),
        ({"localAddresses": ["10.0.1.100/-1"]}, "localAddresses[0]: '10.0.1.100/-1': the prefix length"),
        ({"localAddresses": ["10.0.1.100/2 4"]}, "localAddresses[0]: '10.0.1.100/2 4': the prefix length"),
        ({"localAddresses": [24]}, "localAddresses[0]: 24 is not an IP address"),
    ],
)
def test_errors_name_the_field_in_the_operators_words(data: object, expected: str) -> None:
    errors = _errors(data)
    assert any(e.startswith(expected) for e in errors), errors
    assert not any("Input should" in e or "Extra inputs" in e or "Value error" in e for e in errors), errors


def test_every_error_is_reported_at_once() -> None:
    errors = _errors({"defaults": {"holdTime": 1, "port": 0}, "log": {"level": "x"}})
    assert len(errors) == 3


def test_settings_are_immutable() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.log = settings.log  # type: ignore[misc]


def _file_errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "bgpd.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert info.value.source == str(path)
    return [line.removeprefix(str(path)) for line in info.value.lines()]


def test_file_errors_name_the_line_the_field_and_a_close_key(tmp_path: Path) -> None:
    text = (
        "defaults:\n"
        "  holdtime: 30\n"  # line 2
        "  port: 0\n"
        "peers:\n"
        '  "10.0.1.254":\n'
        "    keepaliveTime: 90\n"  # line 6
        "log:\n"
        "  level: loud\n"
    )
    assert _file_errors(tmp_path, text) == [
        ":2: error: defaults.holdtime: unknown field (bgpd reads this part strictly); "
        "did you mean 'holdTime'?",
        ":3: error: defaults.port: must be at least 1 (got 0)",
        ":8: error: log.level: must be one of debug, info, warning, error, critical",
    ]
    rule = "defaults:\n  holdTime: 30\npeers:\n  10.0.1.254:\n    keepaliveTime: 90\n"
    assert _file_errors(tmp_path, rule) == [
        ':5: error: peers["10.0.1.254"].keepaliveTime: must be at least 1 and below holdTime (30)'
    ]


def test_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(SettingsError) as info:
        load_settings(missing)
    assert info.value.lines() == [f"{missing}: error: cannot read the file: No such file or directory"]
    assert _file_errors(tmp_path, "defaults: [\n")[0].startswith(":2:1: error: YAML syntax error")
    assert _file_errors(tmp_path, "- 1\n") == [":1: error: must be a YAML mapping (key: value lines)"]
    assert _file_errors(tmp_path, "defaults:\n  holdTime: 30\n  holdTime: 60\n") == [
        ":3: error: defaults.holdTime: duplicate key (first given at line 2)"
    ]
    assert _file_errors(tmp_path, "log: {}\n---\nlog: {}\n") == [
        ":3: error: a second YAML document; the settings file is one document"
    ]


def test_local_addresses_are_parsed() -> None:
    settings = parse_settings({"localAddresses": ["10.0.1.100", "2001:db8::64"]})
    assert settings.local_addresses == (
        LocalAddress(ipaddress.ip_address("10.0.1.100")),
        LocalAddress(ipaddress.ip_address("2001:db8::64")),
    )


def test_a_local_address_with_a_prefix_length_carries_its_segment() -> None:
    settings = parse_settings(
        {"localAddresses": ["127.0.1.100/24", "10.0.1.100", "2001:db8:1::64/64", "10.0.9.9/32", "10.0.8.8/0"]}
    )
    assert settings.local_addresses == (
        LocalAddress(ipaddress.ip_address("127.0.1.100"), ipaddress.ip_network("127.0.1.0/24")),
        LocalAddress(ipaddress.ip_address("10.0.1.100")),
        LocalAddress(ipaddress.ip_address("2001:db8:1::64"), ipaddress.ip_network("2001:db8:1::/64")),
        LocalAddress(ipaddress.ip_address("10.0.9.9"), ipaddress.ip_network("10.0.9.9/32")),
        LocalAddress(ipaddress.ip_address("10.0.8.8"), ipaddress.ip_network("0.0.0.0/0")),
    )


def test_shipped_example_is_valid_and_not_just_defaults() -> None:
    settings = load_settings(ROOT / "config" / "bgpd.yaml")
    assert settings != Settings()
    assert settings.peers, "the example should show a per-peer override"


def test_the_metrics_listener_is_off_by_default_and_loopback_unless_set() -> None:
    default = parse_settings({}).metrics
    assert (default.enabled, str(default.address), default.port) == (False, "127.0.0.1", 9179)
    on = parse_settings({"metrics": {"enabled": True, "address": "::1", "port": 9100}}).metrics
    assert (on.enabled, str(on.address), on.port) == (True, "::1", 9100)
    with pytest.raises(SettingsError) as caught:
        parse_settings({"metrics": {"port": 0, "address": "localhost"}})
    lines = caught.value.lines()
    assert any("metrics.port" in line for line in lines) and any("metrics.address" in line for line in lines)
