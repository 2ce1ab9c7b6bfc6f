"""Plans from the shipped examples (optionally edited), for the plan's and the daemon's tests."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

from bgpd.manifests import Manifests, parse_manifests
from bgpd.plan import LocalAddress, Plan, Settings, build_plan
from bgpd.plan.maintenance import Maintenance
from bgpd.rib.ledger import Ledger

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
SINGLE = (EXAMPLES / "single-stack-ipv4.yaml").read_text(encoding="utf-8")
DUAL = (EXAMPLES / "dual-stack-flat.yaml").read_text(encoding="utf-8")
FLOATING = ("10.0.1.100", "10.0.3.100")
SEGMENTS = {
    "10.0.1.100": ipaddress.ip_network("10.0.1.0/24"),
    "10.0.3.100": ipaddress.ip_network("10.0.3.0/24"),
}


def manifests(text: str = SINGLE) -> Manifests:
    return parse_manifests(text, "test").manifests


def local(held: Iterable[str] = FLOATING) -> tuple[LocalAddress, ...]:
    """``held`` floating IPs on their /24 segments (None for an address outside them)."""
    return tuple(LocalAddress(ipaddress.ip_address(ip), SEGMENTS.get(ip)) for ip in held)


def plan(
    text: str = SINGLE,
    held: Iterable[str] = FLOATING,
    ledger: Ledger | None = None,
    settings: Settings | None = None,
    maintenance: Maintenance | None = None,
) -> Plan:
    return build_plan(
        manifests(text), settings or Settings(), ledger or Ledger.empty(), local(held), maintenance, now=0
    )


def with_node(text: str, address: str) -> str:
    """The example with one more node in NodePool np1."""
    anchor = "  nodes:\n  - address: 10.0.1.21\n"
    assert anchor in text
    return text.replace(anchor, anchor + f"  - address: {address}\n", 1)


def without_node(text: str, address: str) -> str:
    line = f"  - address: {address}\n"
    assert line in text
    return text.replace(line, "", 1)


def with_peer_asn(text: str, peer_ip: str, asn: int) -> str:
    old = f"  peerASN: 65002\n  peerIP: {peer_ip}\n"
    assert old in text
    return text.replace(old, f"  peerASN: {asn}\n  peerIP: {peer_ip}\n", 1)
