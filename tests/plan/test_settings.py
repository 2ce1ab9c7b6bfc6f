"""The daemon settings file: defaults, per-peer merging, and errors that name the field."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from bgpd.logs import LogFormat
from bgpd.plan.settings import (
    LocalAddress,
    NextHopPolicy,
    PeerPolicy,
    Settings,
    SettingsError,
    load_settings,
    parse_settings,
)

ROOT = Path(__file__).resolve().parents[2]


def _errors(data: object) -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse_settings(data)  # type: ignore[arg-type]
    return info.value.errors


def test_no_file_means_documented_defaults() -> None:
    settings = load_settings(None)
    assert settings.for_peer("192.0.2.1") == PeerPolicy(
        hold_time=90,
        keepalive_time=30,
        connect_retry_time=5,
        delay_open_time=0,
        idle_hold_time=5,
        damp_peer_oscillations=True,
        passive=False,
        port=179,
        ttl=1,
        multihop=False,
        freebind=False,
        off_segment_next_hop=NextHopPolicy.SKIP,
    )
    assert settings.log.format is LogFormat.AUTO and settings.log.level == "info"
    assert settings.local_addresses is None


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    path = tmp_path / "bgpd.yaml"
    path.write_text("# nothing set\n")
    assert load_settings(path) == Settings()


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
    first = settings.for_peer("10.0.1.254")
    assert (first.hold_time, first.keepalive_time, first.passive, first.connect_retry_time) == (
        9,
        3,
        True,
        10,
    )
    second = settings.for_peer(ipaddress.ip_address("10.0.3.254"))
    assert (second.hold_time, second.keepalive_time, second.ttl, second.multihop) == (30, 20, 3, True)
    assert (second.port, second.freebind, second.off_segment_next_hop) == (1179, True, NextHopPolicy.SELF)
    assert settings.for_peer("2001:db8::1").off_segment_next_hop is NextHopPolicy.NODE  # keys normalised
    other = settings.for_peer("10.9.9.9")
    assert (other.hold_time, other.keepalive_time, other.ttl) == (30, 10, 1)


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
    first = settings.for_peer("10.0.1.254")
    assert (first.delay_open_time, first.idle_hold_time, first.damp_peer_oscillations) == (0, 10, False)
    second = settings.for_peer("10.0.2.254")
    assert (second.delay_open_time, second.idle_hold_time, second.damp_peer_oscillations) == (5, 30, True)


def test_hold_time_zero_disables_keepalives() -> None:
    policy = parse_settings({"defaults": {"holdTime": 0}}).for_peer("10.0.0.1")
    assert (policy.hold_time, policy.keepalive_time) == (0, 0)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"defaults": {"holdTime": 2}}, "defaults.holdTime: must be 0 (no keepalives) or between 3"),
        ({"defaults": {"holdTime": 70000}}, "defaults.holdTime: must be 0"),
        ({"defaults": {"hold_time": 30}}, "defaults.hold_time: Extra inputs are not permitted"),
        ({"defaults": {"holdtime": 30}}, "defaults.holdtime: Extra inputs are not permitted"),
        ({"bogus": 1}, "bogus: Extra inputs are not permitted"),
        ({"defaults": {"port": 0}}, "defaults.port: Input should be greater than or equal to 1"),
        ({"defaults": {"multihop": 256}}, "defaults.multihop: Input should be less than or equal to 255"),
        ({"defaults": {"offSegmentNextHop": "peer"}}, "defaults.offSegmentNextHop: Input should be"),
        ({"defaults": {"passive": "maybe"}}, "defaults.passive: Input should be a valid boolean"),
        ({"peers": {"tor1": {}}}, "peers[\"tor1\"]: 'tor1' is not an IP address"),
        ({"peers": {"10.0.1.254": {"holdTime": 1}}}, 'peers["10.0.1.254"].holdTime: must be 0'),
        ({"peers": {"10.0.1.254": {"keepaliveTime": 90}}}, 'peers["10.0.1.254"]: keepaliveTime must be'),
        ({"peers": {"10.0.1.254": {"colour": "red"}}}, 'peers["10.0.1.254"].colour: Extra inputs'),
        ({"defaults": {"holdTime": 0, "keepaliveTime": 5}}, "keepaliveTime must be 0 when holdTime is 0"),
        (
            {"defaults": {"delayOpenTime": -1}},
            "defaults.delayOpenTime: Input should be greater than or equal to 0",
        ),
        (
            {"defaults": {"delayOpenTime": 241}},
            "defaults.delayOpenTime: Input should be less than or equal to 240",
        ),
        (
            {"defaults": {"idleHoldTime": 0}},
            "defaults.idleHoldTime: Input should be greater than or equal to 1",
        ),
        (
            {"peers": {"10.0.1.254": {"idleHoldTime": 121}}},
            'peers["10.0.1.254"].idleHoldTime: Input should be less',
        ),
        (
            {"defaults": {"dampPeerOscillations": "sometimes"}},
            "defaults.dampPeerOscillations: Input should be",
        ),
        ({"defaults": {"delay_open_time": 5}}, "defaults.delay_open_time: Extra inputs are not permitted"),
        ({"log": {"level": "loud"}}, "log.level: must be one of debug"),
        ({"log": {"format": "xml"}}, "log.format: Input should be 'auto', 'json' or 'console'"),
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
def test_errors_name_the_field(data: object, expected: str) -> None:
    errors = _errors(data)
    assert any(e.startswith(expected) for e in errors), errors


def test_every_error_is_reported_at_once() -> None:
    errors = _errors({"defaults": {"holdTime": 1, "port": 0}, "log": {"level": "x"}})
    assert len(errors) == 3


def test_settings_are_immutable() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.log = settings.log  # type: ignore[misc]


def test_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "bgpd.yaml"
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(path)
    path.write_text("defaults: [\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(path)
    path.write_text("- 1\n")
    with pytest.raises(SettingsError, match="must be a YAML mapping"):
        load_settings(path)
    path.write_text("defaults:\n  holdTime: 30\n  holdTime: 60\n")
    with pytest.raises(SettingsError, match="duplicate key 'holdTime'") as info:
        load_settings(path)
    assert str(path) in str(info.value)


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
