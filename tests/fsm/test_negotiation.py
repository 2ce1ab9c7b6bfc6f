"""Capability negotiation: what we sent, what the peer sent, what both support, and the two codec
contexts derived from it."""

from __future__ import annotations

import dataclasses

from bgpd.fsm import BytesReceived, KeepaliveReceived, OpenReceived, State
from bgpd.fsm.negotiation import build_open, negotiate
from bgpd.wire.capabilities import (
    AddPath,
    AddPathFamily,
    EnhancedRouteRefresh,
    ExtendedMessage,
    ExtendedNextHop,
    ExtendedNextHopEntry,
    FourOctetAs,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    RouteRefreshCapability,
    UnknownCapability,
)
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, AddPathMode, MessageType
from bgpd.wire.open import Open
from bgpd.wire.update import Update

from ._helpers import CFG_A, PEER_OPEN, notifications, received_count, session_in

GR = GracefulRestart(False, True, 120, (GracefulRestartFamily(1, 1, True),))


def test_our_open_lists_what_we_support() -> None:
    config = dataclasses.replace(CFG_A, extended_message=True, graceful_restart=GR)
    sent = build_open(config)
    assert sent.hold_time == 90 and sent.bgp_id == CFG_A.bgp_id and sent.my_as == 65001
    assert Multiprotocol(1, 1) in sent.capabilities and Multiprotocol(2, 1) in sent.capabilities
    for cap in (RouteRefreshCapability(), EnhancedRouteRefresh(), ExtendedMessage(), GR, FourOctetAs(65001)):
        assert cap in sent.capabilities


def test_intersection_of_families_and_flags() -> None:
    sent = build_open(CFG_A)
    peer = Open(65002, 30, 9, (Multiprotocol(2, 1), Multiprotocol(1, 2), UnknownCapability(99, b"x")))
    neg = negotiate(CFG_A, sent, peer)
    assert neg.families == {IPV6_UNICAST}  # IPv4 multicast is not ours, IPv4 unicast not theirs
    assert not neg.four_octet_as and not neg.route_refresh and not neg.extended_message
    assert neg.hold_time == 30 and neg.keepalive_time == 10
    assert neg.sent is sent and neg.received is peer
    assert neg.capability_names() == ("mp:ipv6-unicast",)
    assert neg.receive_context.four_octet_as is False and neg.send_context.four_octet_as is False


def test_no_mp_capability_means_ipv4_unicast() -> None:
    neg = negotiate(CFG_A, build_open(CFG_A), Open(65002, 90, 9, (FourOctetAs(65002),)))
    assert neg.families == {IPV4_UNICAST}
    assert neg.four_octet_as


def test_add_path_per_family_and_direction() -> None:
    config = dataclasses.replace(
        CFG_A, add_path={IPV4_UNICAST: AddPathMode.RECEIVE, IPV6_UNICAST: AddPathMode.BOTH}
    )
    peer = dataclasses.replace(
        PEER_OPEN,
        capabilities=(
            *PEER_OPEN.capabilities,
            AddPath((AddPathFamily(1, 1, AddPathMode.BOTH), AddPathFamily(2, 1, AddPathMode.RECEIVE))),
        ),
    )
    neg = negotiate(config, build_open(config), peer)
    assert neg.add_path_receive == {IPV4_UNICAST}  # we receive v4; the peer only receives v6
    assert neg.add_path_send == {IPV6_UNICAST}
    assert neg.receive_context.add_path == {IPV4_UNICAST}
    assert neg.send_context.add_path == {IPV6_UNICAST}


def test_extended_next_hop_and_graceful_restart() -> None:
    config = dataclasses.replace(CFG_A, extended_next_hop=frozenset({IPV4_UNICAST}), graceful_restart=GR)
    peer = dataclasses.replace(
        PEER_OPEN,
        capabilities=(*PEER_OPEN.capabilities, ExtendedNextHop((ExtendedNextHopEntry(1, 1, 2),)), GR),
    )
    neg = negotiate(config, build_open(config), peer)
    assert neg.extended_next_hop == {IPV4_UNICAST}
    assert neg.send_context.extended_next_hop == {IPV4_UNICAST}
    assert neg.graceful_restart == GR
    assert neg.capability_names() == (
        "mp:ipv4-unicast",
        "mp:ipv6-unicast",
        "four-octet-as",
        "route-refresh",
        "graceful-restart",
        "extended-next-hop:ipv4-unicast",
    )
    without = negotiate(CFG_A, build_open(CFG_A), peer)
    assert without.extended_next_hop == frozenset() and without.graceful_restart is None


def test_extended_message_raises_the_framer_limit() -> None:
    """RFC 8654: after both announced it, a 5000-octet UPDATE is accepted (before: 1/2)."""
    config = dataclasses.replace(CFG_A, extended_message=True)
    peer = dataclasses.replace(PEER_OPEN, capabilities=(*PEER_OPEN.capabilities, ExtendedMessage()))
    session = session_in(State.OPEN_SENT, config)
    session.handle(OpenReceived(peer), 0.0)
    session.handle(KeepaliveReceived(), 0.0)
    assert session.receive_context.extended_message
    big = Update(withdrawn=tuple((0x0A000000 + (i << 8), 24) for i in range(1300)))
    raw = session.encode(big)
    assert 4096 < len(raw) <= 65535
    actions = session.handle(BytesReceived(raw), 1.0)
    assert session.state is State.ESTABLISHED and len(actions) == 2  # MessageReceived, RoutesReceived
    plain = session_in(State.ESTABLISHED)
    refused = plain.handle(BytesReceived(raw), 1.0)
    assert plain.state is State.IDLE
    assert [(n.code, n.subcode) for n in notifications(refused)] == [(1, 2)]
    assert received_count(refused, MessageType.UPDATE) == 0


def test_configured_keepalive_not_longer_than_hold() -> None:
    config = dataclasses.replace(CFG_A, keepalive_time=60.0)
    neg = negotiate(config, build_open(config), dataclasses.replace(PEER_OPEN, hold_time=30))
    assert neg.keepalive_time == 10.0  # 60 s would let the peer's hold timer expire
