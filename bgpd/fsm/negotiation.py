"""Capability negotiation (RFC 5492) and the session-level OPEN checks (RFC 4271 §6.2).

Capabilities are kept three ways, as OpenBGPD does: what we sent, what the peer sent, and what both
support. ``Negotiated`` holds all three plus the two ``CodecContext`` values (receive and send)
that the codecs need. A capability counts only when both sides announced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from bgpd.fsm.config import FsmConfig
from bgpd.wire.capabilities import (
    AddPath,
    AddPathFamily,
    Capability,
    EnhancedRouteRefresh,
    ExtendedMessage,
    ExtendedNextHop,
    ExtendedNextHopEntry,
    FourOctetAs,
    GracefulRestart,
    Multiprotocol,
    RouteRefreshCapability,
)
from bgpd.wire.constants import (
    AS_TRANS,
    IPV4_UNICAST,
    AddPathMode,
    Afi,
    ErrorCode,
    Family,
    OpenSub,
    known_family,
)
from bgpd.wire.context import CodecContext
from bgpd.wire.errors import NotificationError
from bgpd.wire.open import Open, check_open

_T = TypeVar("_T")
_RECEIVES = frozenset({AddPathMode.RECEIVE, AddPathMode.BOTH})
_SENDS = frozenset({AddPathMode.SEND, AddPathMode.BOTH})


def build_open(config: FsmConfig) -> Open:
    """The OPEN we send: one MP capability per configured family (RFC 4760 §8), 4-octet AS always
    (RFC 6793 §3), AS_TRANS in the 2-octet field when our ASN does not fit (RFC 6793 §9)."""
    caps: list[Capability] = [Multiprotocol(f.afi, f.safi) for f in config.families]
    if config.route_refresh:
        caps.append(RouteRefreshCapability())
    if config.enhanced_route_refresh:
        caps.append(EnhancedRouteRefresh())
    if config.extended_message:
        caps.append(ExtendedMessage())
    if config.extended_next_hop:
        entries = tuple(
            ExtendedNextHopEntry(f.afi, f.safi, Afi.IPV6) for f in sorted(config.extended_next_hop)
        )
        caps.append(ExtendedNextHop(entries))
    if config.add_path:
        caps.append(
            AddPath(tuple(AddPathFamily(f.afi, f.safi, m) for f, m in sorted(config.add_path.items())))
        )
    if config.graceful_restart is not None:
        caps.append(config.graceful_restart)
    caps.append(FourOctetAs(config.local_as))
    my_as = config.local_as if config.local_as <= 0xFFFF else AS_TRANS
    return Open(my_as=my_as, hold_time=config.hold_time, bgp_id=config.bgp_id, capabilities=tuple(caps))


def check_peer_open(config: FsmConfig, message: Open) -> None:
    """RFC 4271 §6.2 checks of the peer's OPEN; raises the NOTIFICATION to send.

    ``check_open_message`` does every check the OPEN alone allows (with the configured peer AS).
    Added here, because it needs our own side: an iBGP peer must not use our own identifier
    (RFC 6286 §2.2).
    """
    check_open_message(message, config.peer_as)
    if message.asn == config.local_as and message.bgp_id == config.bgp_id:
        raise NotificationError(
            ErrorCode.OPEN_MESSAGE, OpenSub.BAD_BGP_IDENTIFIER, b"", "iBGP peer uses our BGP Identifier"
        )


def check_open_message(message: Open, peer_as: int | None = None) -> None:
    """The checks of ``check_peer_open`` that need nothing of our side but the expected peer AS
    (``None``: any AS but 0), so ``bgpd decode`` answers a captured OPEN as a session would.

    The codec-level checks (version 2/1 with our version as data, peer AS 2/2 incl. the 4-octet
    ASN from the capability, identifier 0 2/3, hold time 1-2 2/6) come from ``check_open``. Added
    here: a peer that announces a 4-octet ASN below 65536 must put that same ASN in the 2-octet
    field (RFC 6793 §4.1 puts AS_TRANS there only for ASNs that do not fit).
    """
    check_open(message, peer_as)
    four = _find(message.capabilities, FourOctetAs)
    if four is not None and four.asn <= 0xFFFF and message.my_as != four.asn:
        raise NotificationError(
            ErrorCode.OPEN_MESSAGE,
            OpenSub.BAD_PEER_AS,
            b"",
            f"My AS {message.my_as} disagrees with the 4-octet AS capability {four.asn}",
        )


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What both sides agreed on, with both OPENs kept for display."""

    sent: Open
    received: Open
    peer_as: int
    peer_id: int
    hold_time: int  # 0: no hold timer and no keepalives
    keepalive_time: float  # 0 when hold_time is 0
    families: frozenset[Family]
    four_octet_as: bool
    route_refresh: bool
    enhanced_route_refresh: bool
    extended_message: bool
    extended_next_hop: frozenset[Family]
    add_path_receive: frozenset[Family]
    add_path_send: frozenset[Family]
    graceful_restart: GracefulRestart | None  # the peer's capability, when both announced one
    receive_context: CodecContext
    send_context: CodecContext

    @property
    def ibgp(self) -> bool:
        return self.peer_as == self.local_as

    @property
    def local_as(self) -> int:
        return self.sent.asn

    def capability_names(self) -> tuple[str, ...]:
        """What was negotiated, in words for status tables (e.g. ``mp:ipv6-unicast``)."""
        names = [f"mp:{family}" for family in sorted(self.families)]
        flags = (
            (self.four_octet_as, "four-octet-as"),
            (self.route_refresh, "route-refresh"),
            (self.enhanced_route_refresh, "enhanced-route-refresh"),
            (self.extended_message, "extended-message"),
            (self.graceful_restart is not None, "graceful-restart"),
        )
        names += [name for present, name in flags if present]
        names += [f"extended-next-hop:{family}" for family in sorted(self.extended_next_hop)]
        names += [f"add-path-receive:{family}" for family in sorted(self.add_path_receive)]
        names += [f"add-path-send:{family}" for family in sorted(self.add_path_send)]
        return tuple(names)


def negotiate(config: FsmConfig, sent: Open, received: Open) -> Negotiated:
    """Intersect our OPEN with the peer's (both already checked)."""
    ours, theirs = sent.capabilities, received.capabilities
    families = _families(ours) & _families(theirs)
    four_octet_as = _has(ours, FourOctetAs) and _has(theirs, FourOctetAs)
    extended_message = _has(ours, ExtendedMessage) and _has(theirs, ExtendedMessage)
    # RFC 8950 §3: only families both announced with an IPv6 next hop, and only when negotiated.
    extended_next_hop = _enh(ours) & _enh(theirs) & families
    our_ap, their_ap = _add_path(ours), _add_path(theirs)
    # RFC 7911 §5: we receive path identifiers when we can receive and the peer can send; and back.
    ap_receive = frozenset(f for f in families if our_ap.get(f) in _RECEIVES and their_ap.get(f) in _SENDS)
    ap_send = frozenset(f for f in families if our_ap.get(f) in _SENDS and their_ap.get(f) in _RECEIVES)
    hold = min(sent.hold_time, received.hold_time)  # RFC 4271 §4.2: the smaller; 0 if either is 0
    return Negotiated(
        sent=sent,
        received=received,
        peer_as=received.asn,
        peer_id=received.bgp_id,
        hold_time=hold,
        keepalive_time=keepalive_for(config, hold),
        families=families,
        four_octet_as=four_octet_as,
        route_refresh=_has(ours, RouteRefreshCapability) and _has(theirs, RouteRefreshCapability),
        enhanced_route_refresh=_has(ours, EnhancedRouteRefresh) and _has(theirs, EnhancedRouteRefresh),
        extended_message=extended_message,
        extended_next_hop=extended_next_hop,
        add_path_receive=ap_receive,
        add_path_send=ap_send,
        graceful_restart=_find(theirs, GracefulRestart) if _has(ours, GracefulRestart) else None,
        receive_context=CodecContext(four_octet_as, ap_receive, extended_message, extended_next_hop),
        send_context=CodecContext(four_octet_as, ap_send, extended_message, extended_next_hop),
    )


def keepalive_for(config: FsmConfig, hold: int) -> float:
    """RFC 4271 §10: a third of the hold time unless configured; never as long as the hold time."""
    if hold == 0:
        return 0.0
    if config.keepalive_time is not None and 0 < config.keepalive_time < hold:
        return config.keepalive_time
    return hold / 3


def _families(caps: tuple[Capability, ...]) -> frozenset[Family]:
    """MP families announced; none at all means IPv4 unicast only (RFC 4760 §1 and common practice:
    a speaker without the capability is a plain RFC 4271 speaker)."""
    mp = [c for c in caps if isinstance(c, Multiprotocol)]
    if not mp:
        return frozenset({IPV4_UNICAST})
    return frozenset(f for c in mp if (f := c.family) is not None)


def _enh(caps: tuple[Capability, ...]) -> frozenset[Family]:
    found: set[Family] = set()
    for cap in caps:
        if isinstance(cap, ExtendedNextHop):
            for entry in cap.entries:
                family = known_family(entry.afi, entry.safi)
                if family is not None and entry.nexthop_afi == Afi.IPV6:
                    found.add(family)
    return frozenset(found)


def _add_path(caps: tuple[Capability, ...]) -> dict[Family, AddPathMode]:
    modes: dict[Family, AddPathMode] = {}
    for cap in caps:
        if isinstance(cap, AddPath):
            for entry in cap.families:
                family = known_family(entry.afi, entry.safi)
                if family is not None:
                    modes[family] = entry.mode
    return modes


def _has(caps: tuple[Capability, ...], kind: type[Capability]) -> bool:
    return any(isinstance(c, kind) for c in caps)


def _find(caps: tuple[Capability, ...], kind: type[_T]) -> _T | None:
    for cap in caps:
        if isinstance(cap, kind):
            return cap
    return None
