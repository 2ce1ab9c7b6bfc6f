"""The ROUTE-REFRESH message (RFC 2918 §3) with the BoRR/EoRR subtypes of RFC 7313 §3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bgpd.wire.constants import MessageType, RouteRefreshSubtype


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    TYPE: ClassVar[MessageType] = MessageType.ROUTE_REFRESH
    afi: int  # plain codes: an unknown family is ignored (RFC 2918 §4), not a decode error
    safi: int
    subtype: RouteRefreshSubtype = RouteRefreshSubtype.NORMAL
