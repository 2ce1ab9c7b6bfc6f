"""The OPEN message (RFC 4271 §4.2) with capabilities (RFC 5492) and extended parameters (RFC 9072)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bgpd.wire.capabilities import Capability, FourOctetAs
from bgpd.wire.constants import BGP_VERSION, MessageType


@dataclass(frozen=True, slots=True)
class Open:
    """An OPEN. ``my_as`` is the 2-octet field as sent (AS_TRANS for a 4-octet ASN); ``asn`` the real ASN."""

    TYPE: ClassVar[MessageType] = MessageType.OPEN
    my_as: int
    hold_time: int
    bgp_id: int  # the BGP Identifier as an unsigned 32-bit integer
    capabilities: tuple[Capability, ...] = ()
    version: int = BGP_VERSION

    @property
    def asn(self) -> int:
        """The speaker's ASN: from the 4-octet AS capability when present (RFC 6793 §4.1)."""
        for capability in self.capabilities:
            if isinstance(capability, FourOctetAs):
                return capability.asn
        return self.my_as
