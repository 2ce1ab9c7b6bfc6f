"""What the state machine needs to know about one session: identities, timers, capabilities offered.

Plain frozen data with no I/O; the speaker builds it from the session's configuration. The values
an operator sets (hold, keepalive, connect-retry, DelayOpen and idle-hold timers, passive, peer
damping) have no defaults here: their one declaration, defaults included, is ``SessionConfig`` in
``bgpd.plan.session_config``, and a second default here could only drift from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from bgpd.wire.capabilities import GracefulRestart
from bgpd.wire.constants import IPV4_UNICAST, AddPathMode, Family

LARGE_HOLD_TIME: Final = 240.0  # RFC 4271 §8.2.2: "a HoldTimer value of 4 minutes is suggested"


@dataclass(frozen=True, slots=True, kw_only=True)
class FsmConfig:
    """One session's settings. Times are seconds on the driver's clock."""

    local_as: int
    bgp_id: int  # our BGP Identifier, a non-zero unsigned 32-bit integer (RFC 6286 §2.1)
    peer_as: int | None = None  # None: accept any AS the peer announces
    families: tuple[Family, ...] = (IPV4_UNICAST,)
    hold_time: int  # what we offer; 0 (no keepalives) or 3..65535 (RFC 4271 §4.2)
    keepalive_time: float | None  # None: a third of the negotiated hold time (RFC 4271 §10)
    connect_retry_time: float  # between connection attempts (RFC 4271 §10 suggests 120 s)
    open_hold_time: float = LARGE_HOLD_TIME  # the HoldTimer in OpenSent (RFC 4271 §8.2.2)
    passive: bool  # PassiveTcpEstablishment (§8.1.1): never initiate the connection
    delay_open_time: float  # DelayOpen (§8.1.1) when > 0
    automatic_restart: bool = True  # AllowAutomaticStart: after a failure, restart when IdleHold ends
    # DampPeerOscillations (§8.1.1): the IdleHoldTime doubles per session flap (a session that reached
    # OpenConfirm or Established went down); a connection that failed earlier waits connect_retry_time.
    damp_peer_oscillations: bool
    idle_hold_time: float  # the first IdleHoldTime after a flap
    idle_hold_max: float  # cap of the doubling
    stable_time: float = 60.0  # Established this long resets the IdleHoldTime to its first value
    route_refresh: bool = True  # RFC 2918
    enhanced_route_refresh: bool = True  # RFC 7313
    extended_message: bool = False  # RFC 8654
    extended_next_hop: frozenset[Family] = field(default_factory=frozenset)  # RFC 8950, IPv4 NLRI only
    add_path: Mapping[Family, AddPathMode] = field(default_factory=dict)  # RFC 7911
    graceful_restart: GracefulRestart | None = None  # RFC 4724 capability to announce

    def __post_init__(self) -> None:
        if self.hold_time != 0 and not 3 <= self.hold_time <= 0xFFFF:
            raise ValueError(f"hold time {self.hold_time}: must be 0 or 3..65535 (RFC 4271 §4.2)")
        if not 0 < self.bgp_id <= 0xFFFFFFFF:
            raise ValueError(f"BGP Identifier {self.bgp_id}: must be a non-zero 32-bit value (RFC 6286)")
        if not 0 < self.local_as <= 0xFFFFFFFF:
            raise ValueError(f"local AS {self.local_as} outside 1..4294967295")
        if not self.families:
            raise ValueError("at least one address family is needed")
        if self.idle_hold_time <= 0 or self.idle_hold_max < self.idle_hold_time:
            raise ValueError("idle hold time must be positive and not above its maximum")
        if self.delay_open_time < 0:
            raise ValueError("delay open time must be 0 (off) or positive")
        if self.connect_retry_time <= 0:
            raise ValueError("connect retry time must be positive")

    @property
    def ibgp(self) -> bool:
        return self.peer_as == self.local_as
