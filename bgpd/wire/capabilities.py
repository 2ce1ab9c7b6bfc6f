"""BGP capabilities (RFC 5492) as frozen values: one class per capability code bgpd understands.

AFI and SAFI are plain integers here because a peer may announce families bgpd does not support;
``known_family`` maps them to a ``Family`` where bgpd does. Capabilities bgpd does not know are kept
as ``UnknownCapability`` with their raw value, so they can be shown to operators, never lost.

Each class encodes and decodes only its *value*; ``encode_capability`` / ``decode_capabilities``
add and strip the (code, length) framing of RFC 5492 §4. A known capability whose value has the
wrong length for its code is answered with OPEN Message Error / Unspecific (2/0) and no data, as
BIRD does (``bgp_read_capabilities``): RFC 5492 defines no subcode for it, and 2/7 (Unsupported
Capability) would tell the peer we do not know a capability we do know.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, TypeAlias

from bgpd.wire.buffer import Reader
from bgpd.wire.constants import AddPathMode, CapabilityCode, ErrorCode, Family, OpenSub, known_family
from bgpd.wire.errors import NotificationError

_U16: Final = struct.Struct("!H")
_U32: Final = struct.Struct("!I")
_AFI_SAFI: Final = struct.Struct("!HxB")  # RFC 4760 §8: AFI, reserved, SAFI
_GR_FAMILY: Final = struct.Struct("!HBB")  # RFC 4724 §3: AFI, SAFI, flags
_ENH_ENTRY: Final = struct.Struct("!HHH")  # RFC 8950 §3: NLRI AFI, NLRI SAFI, next hop AFI
_ADD_PATH_ENTRY: Final = struct.Struct("!HBB")  # RFC 7911 §4: AFI, SAFI, send/receive

_GR_RESTART_STATE: Final = 0x8000  # RFC 4724 §3, R bit
_GR_NOTIFICATION: Final = 0x4000  # RFC 8538 §2, N bit
_GR_TIME_MASK: Final = 0x0FFF
_GR_FORWARDING: Final = 0x80  # RFC 4724 §3, F bit per family
_ADD_PATH_MODES: Final = frozenset(int(mode) for mode in AddPathMode)


def _malformed(code: CapabilityCode, length: int) -> NotificationError:
    return NotificationError(
        ErrorCode.OPEN_MESSAGE, OpenSub.UNSPECIFIC, b"", f"{code.name} capability: bad length {length}"
    )


def _expect_empty(code: CapabilityCode, value: bytes) -> None:
    if value:
        raise _malformed(code, len(value))


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

    def encode_value(self) -> bytes:
        return _AFI_SAFI.pack(self.afi, self.safi)

    @classmethod
    def decode_value(cls, value: bytes) -> Multiprotocol:
        if len(value) != _AFI_SAFI.size:
            raise _malformed(cls.CODE, len(value))
        afi, safi = _AFI_SAFI.unpack(value)  # the reserved octet is ignored on receipt
        return cls(afi, safi)


@dataclass(frozen=True, slots=True)
class RouteRefreshCapability:
    """RFC 2918 §2."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.ROUTE_REFRESH

    def encode_value(self) -> bytes:
        return b""

    @classmethod
    def decode_value(cls, value: bytes) -> RouteRefreshCapability:
        _expect_empty(cls.CODE, value)
        return cls()


@dataclass(frozen=True, slots=True)
class EnhancedRouteRefresh:
    """RFC 7313 §3.1."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.ENHANCED_ROUTE_REFRESH

    def encode_value(self) -> bytes:
        return b""

    @classmethod
    def decode_value(cls, value: bytes) -> EnhancedRouteRefresh:
        _expect_empty(cls.CODE, value)
        return cls()


@dataclass(frozen=True, slots=True)
class ExtendedMessage:
    """RFC 8654 §3."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.EXTENDED_MESSAGE

    def encode_value(self) -> bytes:
        return b""

    @classmethod
    def decode_value(cls, value: bytes) -> ExtendedMessage:
        _expect_empty(cls.CODE, value)
        return cls()


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

    def encode_value(self) -> bytes:
        return b"".join(_ENH_ENTRY.pack(e.afi, e.safi, e.nexthop_afi) for e in self.entries)

    @classmethod
    def decode_value(cls, value: bytes) -> ExtendedNextHop:
        if len(value) % _ENH_ENTRY.size:
            raise _malformed(cls.CODE, len(value))
        return cls(tuple(ExtendedNextHopEntry(*fields) for fields in _ENH_ENTRY.iter_unpack(value)))


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

    def encode_value(self) -> bytes:
        if not 0 <= self.restart_time <= _GR_TIME_MASK:
            raise ValueError(f"graceful restart time {self.restart_time} does not fit 12 bits")
        flags = (_GR_RESTART_STATE if self.restart_state else 0) | (
            _GR_NOTIFICATION if self.notification else 0
        )
        head = _U16.pack(flags | self.restart_time)
        return head + b"".join(
            _GR_FAMILY.pack(f.afi, f.safi, _GR_FORWARDING if f.forwarding_preserved else 0)
            for f in self.families
        )

    @classmethod
    def decode_value(cls, value: bytes) -> GracefulRestart:
        if len(value) < _U16.size or (len(value) - _U16.size) % _GR_FAMILY.size:
            raise _malformed(cls.CODE, len(value))
        (head,) = _U16.unpack_from(value)  # reserved flag bits are ignored (RFC 4724 §3)
        families = tuple(
            GracefulRestartFamily(afi, safi, bool(flags & _GR_FORWARDING))
            for afi, safi, flags in _GR_FAMILY.iter_unpack(value[_U16.size :])
        )
        return cls(
            restart_state=bool(head & _GR_RESTART_STATE),
            notification=bool(head & _GR_NOTIFICATION),
            restart_time=head & _GR_TIME_MASK,
            families=families,
        )


@dataclass(frozen=True, slots=True)
class FourOctetAs:
    """RFC 6793 §3."""

    CODE: ClassVar[CapabilityCode] = CapabilityCode.FOUR_OCTET_AS
    asn: int

    def encode_value(self) -> bytes:
        return _U32.pack(self.asn)

    @classmethod
    def decode_value(cls, value: bytes) -> FourOctetAs:
        if len(value) != _U32.size:
            raise _malformed(cls.CODE, len(value))
        return cls(_U32.unpack(value)[0])


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

    def encode_value(self) -> bytes:
        return b"".join(_ADD_PATH_ENTRY.pack(f.afi, f.safi, f.mode) for f in self.families)

    @classmethod
    def decode_value(cls, value: bytes) -> AddPath | UnknownCapability:
        """A Send/Receive value outside 1..3 is undefined (RFC 7911 §4 names no error for it); like
        BIRD we do not reset the session but disregard the capability, kept raw for operators."""
        if len(value) % _ADD_PATH_ENTRY.size:
            raise _malformed(cls.CODE, len(value))
        entries = list(_ADD_PATH_ENTRY.iter_unpack(value))
        if any(mode not in _ADD_PATH_MODES for _, _, mode in entries):
            return UnknownCapability(cls.CODE, value)
        return cls(tuple(AddPathFamily(afi, safi, AddPathMode(mode)) for afi, safi, mode in entries))


@dataclass(frozen=True, slots=True)
class Fqdn:
    """Hostname capability (draft-walton-bgp-hostname-capability §3).

    The draft asks for ASCII; a peer's bytes that are not UTF-8 are shown with replacement
    characters rather than failing the session over a cosmetic capability.
    """

    CODE: ClassVar[CapabilityCode] = CapabilityCode.FQDN
    hostname: str
    domain: str

    def encode_value(self) -> bytes:
        host, domain = self.hostname.encode(), self.domain.encode()
        if len(host) > 0xFF or len(domain) > 0xFF:
            raise ValueError("FQDN capability: hostname and domain are limited to 255 octets each")
        return bytes((len(host),)) + host + bytes((len(domain),)) + domain

    @classmethod
    def decode_value(cls, value: bytes) -> Fqdn:
        reader = Reader(value, ErrorCode.OPEN_MESSAGE, OpenSub.UNSPECIFIC)
        host = reader.take(reader.u8())
        domain = reader.take(reader.u8())
        reader.expect_end("FQDN capability: trailing octets")
        return cls(host.decode(errors="replace"), domain.decode(errors="replace"))


@dataclass(frozen=True, slots=True)
class UnknownCapability:
    """A capability bgpd does not interpret (RFC 5492 §3: ignore, but keep it visible).

    Also holds an ADD-PATH capability with undefined Send/Receive values (see ``AddPath``).
    """

    code: int
    value: bytes

    def encode_value(self) -> bytes:
        return self.value


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

_DECODERS: Final[Mapping[int, Callable[[bytes], Capability]]] = {
    CapabilityCode.MULTIPROTOCOL: Multiprotocol.decode_value,
    CapabilityCode.ROUTE_REFRESH: RouteRefreshCapability.decode_value,
    CapabilityCode.EXTENDED_NEXT_HOP: ExtendedNextHop.decode_value,
    CapabilityCode.EXTENDED_MESSAGE: ExtendedMessage.decode_value,
    CapabilityCode.GRACEFUL_RESTART: GracefulRestart.decode_value,
    CapabilityCode.FOUR_OCTET_AS: FourOctetAs.decode_value,
    CapabilityCode.ADD_PATH: AddPath.decode_value,
    CapabilityCode.ENHANCED_ROUTE_REFRESH: EnhancedRouteRefresh.decode_value,
    CapabilityCode.FQDN: Fqdn.decode_value,
}


def capability_code(capability: Capability) -> int:
    """The capability code on the wire."""
    return capability.code if isinstance(capability, UnknownCapability) else capability.CODE


def encode_capability(capability: Capability) -> bytes:
    """One capability with its code and length octets (RFC 5492 §4)."""
    value = capability.encode_value()
    if len(value) > 0xFF:
        raise ValueError(f"capability {capability_code(capability)} value of {len(value)} octets exceeds 255")
    return bytes((capability_code(capability), len(value))) + value


def decode_capabilities(reader: Reader) -> list[Capability]:
    """Every capability in one Capabilities optional parameter; ``reader`` spans its value.

    ``reader`` must raise OPEN Message Error / Unspecific: a capability running past the parameter
    is a malformed OPEN (RFC 5492 §4, BIRD's behaviour).
    """
    capabilities: list[Capability] = []
    while not reader.at_end():
        code = reader.u8()
        value = reader.take(reader.u8())
        decoder = _DECODERS.get(code)
        capabilities.append(UnknownCapability(code, value) if decoder is None else decoder(value))
    return capabilities
