"""Which prefix a floating IP sits on, and how the fixed ``localAddresses`` list is read."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bgpd.daemon.host.addrwatch import HostAddress
from bgpd.daemon.inputs import StaticAddresses, covering_prefix, held_now, read_settings
from bgpd.plan.settings import LocalAddress, parse_settings


def host(text: str, ifindex: int = 2) -> HostAddress:
    interface = ipaddress.ip_interface(text)
    return HostAddress(interface.ip, interface.network.prefixlen, ifindex)


def test_a_floating_ip_on_an_interface_has_that_interfaces_prefix() -> None:
    found = [host("10.0.1.100/24"), host("10.0.3.100/24", 3), host("127.0.0.1/8", 1)]
    assert covering_prefix("10.0.1.100", found) == ipaddress.ip_network("10.0.1.0/24")


def test_an_address_listed_twice_takes_its_narrowest_entry() -> None:
    assert covering_prefix("10.0.1.100", [host("10.0.1.100/16"), host("10.0.1.100/24")]) == (
        ipaddress.ip_network("10.0.1.0/24")
    )


def test_an_address_not_on_any_interface_takes_the_narrowest_covering_prefix() -> None:
    found = [host("127.0.0.1/8", 1), host("127.0.1.1/24", 1)]
    assert covering_prefix("127.0.1.100", found) == ipaddress.ip_network("127.0.1.0/24")
    assert covering_prefix("127.0.3.100", found) == ipaddress.ip_network("127.0.0.0/8")


def test_an_address_nothing_covers_has_no_prefix() -> None:
    assert covering_prefix("192.0.2.1", [host("10.0.1.100/24")]) is None
    assert covering_prefix("2001:db8::1", [host("10.0.1.100/24")]) is None


@pytest.mark.asyncio
async def test_static_addresses_are_held_and_loopback_ones_sit_on_lo() -> None:
    source = StaticAddresses([LocalAddress(ipaddress.ip_address(a)) for a in ("127.0.1.100", "192.0.2.77")])
    await source.start()
    held = {str(a.address): a.prefix for a in source.held()}
    assert set(held) == {"127.0.1.100", "192.0.2.77"}
    assert held["127.0.1.100"] is not None and ipaddress.ip_address("127.0.1.100") in held["127.0.1.100"]
    assert source.changes() is None
    await source.close()


@pytest.mark.asyncio
async def test_a_prefix_in_the_settings_is_the_segment_and_plain_entries_keep_the_host_prefix() -> None:
    # On loopback lo's 127.0.0.0/8 covers every 127.x address; an explicit /24 must win over it.
    settings = parse_settings({"localAddresses": ["127.0.1.100/24", "127.0.3.100/24", "127.0.5.100"]})
    assert settings.local_addresses is not None
    source = StaticAddresses(settings.local_addresses)
    before = {str(a.address): a.prefix for a in source.held()}
    assert before["127.0.1.100"] == ipaddress.ip_network("127.0.1.0/24")  # known before any dump
    assert before["127.0.5.100"] is None
    await source.start()
    held = {str(a.address): a.prefix for a in source.held()}
    assert held["127.0.1.100"] == ipaddress.ip_network("127.0.1.0/24")
    assert held["127.0.3.100"] == ipaddress.ip_network("127.0.3.0/24")
    assert held["127.0.5.100"] is not None and held["127.0.5.100"].prefixlen < 24  # lo's covering prefix
    await source.close()


def test_held_now_is_what_bgpd_run_starts_from() -> None:
    # No entries: every host address with its interface prefix (what address watching reports).
    host = {str(a.address): a.prefix for a in held_now(None)}
    assert host["127.0.0.1"] == ipaddress.ip_network("127.0.0.0/8")
    # Entries: as given when they carry a prefix; plain ones take the covering host prefix.
    entries = [LocalAddress.parse("127.0.1.100/24"), LocalAddress.parse("127.0.3.100")]
    assert held_now(entries) == (
        LocalAddress(ipaddress.ip_address("127.0.1.100"), ipaddress.ip_network("127.0.1.0/24")),
        LocalAddress(ipaddress.ip_address("127.0.3.100"), ipaddress.ip_network("127.0.0.0/8")),
    )


PASSWORD = b"s3cret-tor1"


def _world_readable_key(tmp_path: Path) -> Path:
    path = tmp_path / "tor1.key"
    path.write_bytes(PASSWORD + b"\n")
    path.chmod(0o604)
    return path


def test_the_daemon_loader_logs_the_warning(tmp_path: Path) -> None:
    settings_file = tmp_path / "bgpd.yaml"
    settings_file.write_text(f"defaults:\n  passwordFile: {_world_readable_key(tmp_path)}\n")
    with capture_logs() as logs:
        read_settings(settings_file)
    assert [e["event"] for e in logs] == ["password_file_readable"]
    assert "readable by every user" in logs[0]["warning"] and PASSWORD.decode() not in repr(logs)
