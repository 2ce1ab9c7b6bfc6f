"""What the daemon tells the speaker about one session: addresses, ASNs, timers, transport options.

One frozen value per session, so the daemon can compare the old and new config of a session and
only restart it when a field that needs a new OPEN changed (design: "config changes never flap
sessions that did not change").
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from bgpd.plan.secret import Secret
from bgpd.speaker.sockets import IPAddress
from bgpd.wire.constants import BGP_PORT, IPV4_UNICAST, IPV6_UNICAST, Family

SEND_HOLD_MINIMUM: Final = 480.0  # RFC 9687 "Implementation Considerations": max(8 min, 2 × hold)
# Max-prefix defaults (RFC 4486 §4); the reasoning is in docs/operator-guide.md, "Max-prefix".
MAX_PREFIXES: Final = 20_000  # per family
MAX_PREFIXES_WARNING: Final = 75  # percent of the limit
MAX_PREFIXES_RESTART: Final = 300.0  # seconds of hold-down; 0: stay down until bgpctl reset


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """One BGP session. ``router_id`` is our BGP Identifier (RFC 6286: any non-zero 32 bits)."""

    name: str
    local_ip: IPAddress
    peer_ip: IPAddress
    local_asn: int
    peer_asn: int
    router_id: ipaddress.IPv4Address
    families: tuple[Family, ...] = (IPV4_UNICAST, IPV6_UNICAST)
    hold_time: int = 90
    keepalive_time: int | None = None  # None: a third of the hold time (RFC 4271 §10)
    connect_retry_time: float = 5.0  # wait between connection attempts, also after a failed one
    delay_open_time: float = 0.0  # RFC 4271 §8.1.1 DelayOpen: wait this long for the peer's OPEN; 0: off
    idle_hold_time: float = 5.0  # first wait before restarting after a session flap (RFC 4271 §8.1.1) ...
    idle_hold_max: float = 120.0  # ... doubled per consecutive flap up to this ...
    damp_peer_oscillations: bool = True  # ... when DampPeerOscillations is on (else always the first)
    passive: bool = False  # wait for the peer to connect (RFC 4271 §8.1.1 PassiveTcpEstablishment)
    port: int = BGP_PORT
    ttl: int = 1  # 1: directly connected eBGP; more for multihop
    freebind: bool = False
    send_hold_time: float | None = None  # None: RFC 9687 default; 0 disables
    extended_next_hop: bool = False  # offer RFC 8950 (IPv6 next hops for IPv4 routes)
    ttl_security: bool = False  # GTSM (RFC 5082): TTL 255 out, at least 256 - ttl in
    password: Secret | None = None  # TCP-MD5 (RFC 2385) key
    max_prefixes: int = MAX_PREFIXES  # per family; 0: no limit
    max_prefixes_warning: int = MAX_PREFIXES_WARNING  # percent of max_prefixes
    max_prefixes_restart: float = MAX_PREFIXES_RESTART  # hold-down after the limit; 0: until reset

    def __post_init__(self) -> None:
        if self.local_ip.version != self.peer_ip.version:
            raise ValueError(f"{self.name}: local {self.local_ip} and peer {self.peer_ip} differ in family")
        if not 1 <= self.ttl <= 255:
            raise ValueError(f"{self.name}: TTL {self.ttl} outside 1..255")
        if self.hold_time != 0 and self.hold_time < 3:
            raise ValueError(f"{self.name}: hold time must be 0 or at least 3 (RFC 4271 §4.2)")
        if self.delay_open_time < 0:
            raise ValueError(f"{self.name}: delay open time must be 0 (off) or positive")
        if not 0 < self.idle_hold_time <= self.idle_hold_max:
            raise ValueError(
                f"{self.name}: idle hold time must be positive and at most {self.idle_hold_max:g}"
            )

    @property
    def ibgp(self) -> bool:
        return self.local_asn == self.peer_asn

    def send_hold_for(self, negotiated_hold: int) -> float:
        """The SendHoldTime for a session with ``negotiated_hold``: 0 (off) when the hold time is 0
        or it is disabled, else as configured or the RFC 9687 default (Implementation Considerations)."""
        if negotiated_hold == 0 or self.send_hold_time == 0:
            return 0.0
        if self.send_hold_time is not None:
            return self.send_hold_time
        return max(SEND_HOLD_MINIMUM, 2.0 * negotiated_hold)
