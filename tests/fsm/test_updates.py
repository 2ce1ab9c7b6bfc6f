"""UPDATE handling in Established: RFC 7606 actions, families not negotiated, hold timer restarts."""

from __future__ import annotations

import dataclasses

from bgpd.fsm import (
    BytesReceived,
    FamilyIgnored,
    KeepaliveReceived,
    MessageReceived,
    OpenReceived,
    Reason,
    RoutesReceived,
    SessionDown,
    State,
    Timer,
    UpdateMessageError,
    UpdateReceived,
    UpdateRepaired,
)
from bgpd.wire.attributes import AsSegment, Attributes, MpReach, MpUnreach
from bgpd.wire.capabilities import FourOctetAs
from bgpd.wire.constants import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    MARKER,
    Afi,
    AsPathSegmentType,
    ErrorAction,
    MessageType,
    Origin,
    Safi,
)
from bgpd.wire.errors import UpdateError
from bgpd.wire.update import Update

from ._helpers import PEER_OPEN, notifications, session_in

NH = 0x0A000002
ATTRS = Attributes(
    origin=Origin.IGP, as_path=(AsSegment(AsPathSegmentType.AS_SEQUENCE, (65002,)),), next_hop=NH
)
V4_ROUTE = Update(attributes=ATTRS, nlri=((0x0A010000, 16),))
V6_ROUTE = Update(
    attributes=dataclasses.replace(ATTRS, next_hop=None),
    mp_reach=MpReach(Afi.IPV6, Safi.UNICAST, bytes(15) + b"\x01", ((0x20010DB8 << 96, 32),)),
)


def _raw_update(body: bytes) -> bytes:
    return MARKER + (19 + len(body)).to_bytes(2, "big") + bytes((2,)) + body


def test_valid_update_is_passed_on_and_restarts_hold() -> None:
    session = session_in(State.ESTABLISHED)
    actions = session.handle(BytesReceived(session.encode(V4_ROUTE)), 50.0)
    assert actions == [MessageReceived(MessageType.UPDATE), RoutesReceived(V4_ROUTE)]
    assert session.timers.deadline(Timer.HOLD) == 50.0 + 90


def test_treat_as_withdraw_from_the_wire_keeps_the_session() -> None:
    """ORIGIN 5 is malformed: RFC 7606 §7.1 treat-as-withdraw; the prefix comes out withdrawn."""
    session = session_in(State.ESTABLISHED)
    attrs = bytes.fromhex("40010105" + "40020602010000fde9" + "4003040a000002")
    body = b"\x00\x00" + len(attrs).to_bytes(2, "big") + attrs + bytes((16, 10, 1))
    actions = session.handle(BytesReceived(_raw_update(body)), 5.0)
    assert actions == [
        MessageReceived(MessageType.UPDATE),
        UpdateRepaired(ErrorAction.TREAT_AS_WITHDRAW),  # one per UPDATE, whatever it withdraws
        RoutesReceived(Update(withdrawn=((0x0A010000, 16),)), ErrorAction.TREAT_AS_WITHDRAW),
    ]
    assert session.state is State.ESTABLISHED
    assert session.timers.deadline(Timer.HOLD) == 5.0 + 90


def test_attribute_discard_passes_the_repaired_update() -> None:
    session = session_in(State.ESTABLISHED)
    error = UpdateError(3, 5, b"", action=ErrorAction.ATTRIBUTE_DISCARD, update=V4_ROUTE)
    actions = session.handle(UpdateMessageError(error), 1.0)
    assert actions == [
        UpdateRepaired(ErrorAction.ATTRIBUTE_DISCARD),
        RoutesReceived(V4_ROUTE, ErrorAction.ATTRIBUTE_DISCARD),
    ]


def test_session_reset_sends_the_update_error_and_goes_idle() -> None:
    session = session_in(State.ESTABLISHED)
    body = b"\x00\x00\x00\xff"  # Total Path Attribute Length beyond the message: RFC 4271 §6.3
    actions = session.handle(BytesReceived(_raw_update(body)), 1.0)
    assert [(n.code, n.subcode) for n in notifications(actions)] == [(3, 1)]
    assert session.state is State.IDLE and session.reason is Reason.UPDATE_ERROR
    assert SessionDown(Reason.UPDATE_ERROR) in actions


def test_peer_without_mp_gets_ipv4_unicast_only() -> None:
    session = session_in(State.OPEN_SENT)
    session.handle(OpenReceived(dataclasses.replace(PEER_OPEN, capabilities=(FourOctetAs(65002),))), 0.0)
    assert session.negotiated is not None and session.negotiated.families == {IPV4_UNICAST}
    assert session.receive_context.add_path == frozenset()


def test_ipv6_routes_from_an_ipv4_only_peer_are_dropped_and_counted() -> None:
    """RFC 4760 §7 allows ignoring routes of a family that was not negotiated; we do."""
    session = session_in(State.OPEN_SENT)
    session.handle(OpenReceived(dataclasses.replace(PEER_OPEN, capabilities=(FourOctetAs(65002),))), 0.0)
    session.handle(KeepaliveReceived(), 0.0)
    assert session.state is State.ESTABLISHED
    assert session.handle(UpdateReceived(V6_ROUTE), 1.0) == [FamilyIgnored()]
    mixed = dataclasses.replace(V4_ROUTE, mp_unreach=MpUnreach(Afi.IPV6, Safi.UNICAST, ((1 << 127, 1),)))
    assert session.handle(UpdateReceived(mixed), 2.0) == [RoutesReceived(V4_ROUTE), FamilyIgnored()]
    assert session.handle(UpdateReceived(Update.end_of_rib(IPV6_UNICAST)), 3.0) == []
    assert session.handle(UpdateReceived(V4_ROUTE), 4.0) == [RoutesReceived(V4_ROUTE)]
    assert session.state is State.ESTABLISHED


def test_end_of_rib_is_passed_on() -> None:
    session = session_in(State.ESTABLISHED)
    for family in (IPV4_UNICAST, IPV6_UNICAST):
        update = Update.end_of_rib(family)
        assert session.handle(UpdateReceived(update), 1.0) == [RoutesReceived(update)]


def test_header_error_from_the_framer_is_answered_with_its_own_code() -> None:
    """RFC 4271 §6.1: a bad marker is Connection Not Synchronized (1/1), also in Established."""
    session = session_in(State.ESTABLISHED)
    raw = b"\x00" * 16 + (19).to_bytes(2, "big") + bytes((4,))
    actions = session.handle(BytesReceived(raw), 1.0)
    assert [(n.code, n.subcode, n.data) for n in notifications(actions)] == [(1, 1, b"")]
    assert session.state is State.IDLE and session.reason is Reason.NOTIFICATION_SENT
