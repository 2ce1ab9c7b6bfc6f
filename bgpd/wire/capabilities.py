"""BGP capabilities (RFC 5492) as frozen values: one class per capability code bgpd understands.

AFI and SAFI are plain integers here because a peer may announce families bgpd does not support;
``known_family`` maps them to a ``Family`` where bgpd does. Capabilities bgpd does not know are kept
as ``UnknownCapability`` with their raw value, so they can be shown to operators, never lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from bgpd.wire.constants import AddPathMode, CapabilityCode, Family, known_family


@dataclass(frozen=True, slots=True)
class Multiprotocol:
    """RFC 4760 §8: the speaker supports this (AFI, SAFI)."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.MULTIPROTOCOL
    afi: int
    safi: int

    @property
    def family(self) -> Family | None:
        """The family when bgpd knows both codes; other families are negotiated away."""
        return known_family(self.afi, self.safi)


@dataclass(frozen=True, slots=True)
class RouteRefreshCapability:
    """RFC 2918 §2."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.ROUTE_REFRESH


@dataclass(frozen=True, slots=True)
class EnhancedRouteRefresh:
    """RFC 7313 §3.1."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.ENHANCED_ROUTE_REFRESH


@dataclass(frozen=True, slots=True)
class ExtendedMessage:
    """RFC 8654 §3."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.EXTENDED_MESSAGE


@dataclass(frozen=True, slots=True)
class ExtendedNextHopEntry:
    """RFC 8950 §3: NLRI of (afi, safi) may carry a next hop of ``nexthop_afi``."""

    afi: int
    safi: int
    nexthop_afi: int


@dataclass(frozen=True, slots=True)
class ExtendedNextHop:
    """RFC 8950 §3."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.EXTENDED_NEXT_HOP
    entries: tuple[ExtendedNextHopEntry, ...]


@dataclass(frozen=True, slots=True)
class GracefulRestartFamily:
    """RFC 4724 §3: one (AFI, SAFI) and its Forwarding State bit."""

    afi: int
    safi: int
    forwarding_preserved: bool


@dataclass(frozen=True, slots=True)
class GracefulRestart:
    """RFC 4724 §3 with the N bit of RFC 8538 §2."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.GRACEFUL_RESTART
    restart_state: bool  # R bit
    notification: bool  # N bit, RFC 8538
    restart_time: int  # seconds, 12 bits
    families: tuple[GracefulRestartFamily, ...]


@dataclass(frozen=True, slots=True)
class FourOctetAs:
    """RFC 6793 §3."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.FOUR_OCTET_AS
    asn: int


@dataclass(frozen=True, slots=True)
class AddPathFamily:
    """RFC 7911 §4: one (AFI, SAFI) and whether paths are sent, received or both."""

    afi: int
    safi: int
    mode: AddPathMode


@dataclass(frozen=True, slots=True)
class AddPath:
    """RFC 7911 §4."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.ADD_PATH
    families: tuple[AddPathFamily, ...]


@dataclass(frozen=True, slots=True)
class Fqdn:
    """Hostname capability (draft-walton-bgp-hostname-capability §3)."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.FQDN
    hostname: str
    domain: str


@dataclass(frozen=True, slots=True)
class UnknownCapability:
    """A capability bgpd does not interpret (RFC 5492 §3: ignore, but keep it visible)."""

    code: int
    value: bytes


Capability: TypeAlias = (
    Multiprotocol
    | RouteRefreshCapability
    | EnhancedRouteRefresh
    | ExtendedMessage
    | ExtendedNextHop
    | GracefulRestart
    | FourOctetAs
    | AddPath
    | Fqdn
    | UnknownCapability
)
