"""The ROUTE-REFRESH message (RFC 2918 §3) with the BoRR/EoRR subtypes of RFC 7313 §3."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Final

from bgpd.wire.constants import (
    HEADER_LEN,
    MARKER,
    ErrorCode,
    MessageType,
    RouteRefreshSub,
    RouteRefreshSubtype,
)
from bgpd.wire.context import CodecContext
from bgpd.wire.errors import NotificationError

_BODY: Final = struct.Struct("!HBB")  # AFI, Message Subtype (formerly Reserved), SAFI
_KNOWN_SUBTYPES: Final = frozenset(int(subtype) for subtype in RouteRefreshSubtype)


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    """A ROUTE-REFRESH. A subtype other than 0-2 is kept as its number: RFC 7313 §5 says to ignore
    such a message, which is the receiver's decision, not a decoding error."""

    TYPE: ClassVar[MessageType] = MessageType.ROUTE_REFRESH
    afi: int  # plain codes: an unknown family is ignored (RFC 2918 §4), not a decode error
    safi: int
    subtype: RouteRefreshSubtype | int = RouteRefreshSubtype.NORMAL

    def encode(self, ctx: CodecContext) -> bytes:
        return _BODY.pack(self.afi, self.subtype, self.safi)

    @classmethod
    def decode(cls, body: bytes | memoryview, ctx: CodecContext) -> RouteRefresh:
        if len(body) != _BODY.size:
            # RFC 7313 §5: ROUTE-REFRESH Message Error / Invalid Message Length, data = the whole
            # message. Applied to every subtype, since a short body may not even hold one.
            length = min(HEADER_LEN + len(body), 0xFFFF).to_bytes(2, "big")
            raise NotificationError(
                ErrorCode.ROUTE_REFRESH,
                RouteRefreshSub.INVALID_MESSAGE_LENGTH,
                MARKER + length + bytes((MessageType.ROUTE_REFRESH,)) + bytes(body),
                f"ROUTE-REFRESH body of {len(body)} octets, expected {_BODY.size}",
            )
        afi, subtype, safi = _BODY.unpack(body)
        return cls(afi, safi, RouteRefreshSubtype(subtype) if subtype in _KNOWN_SUBTYPES else subtype)
