"""Adj-RIB-In: announcements, withdrawals (known or not), treat-as-withdraw, End-of-RIB."""

from __future__ import annotations

import ipaddress

import pytest

from bgpd.rib.adj_rib_in import AdjRibIn, StaleChange
from bgpd.wire import UpdateError, decode_message, encode_message
from bgpd.wire.attributes import AsSegment, Attributes, MpReach, MpUnreach
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, AsPathSegmentType, ErrorAction, Origin
from bgpd.wire.context import CodecContext
from bgpd.wire.nlri import prefix_from_text
from bgpd.wire.update import Update

BOTH = frozenset({IPV4_UNICAST, IPV6_UNICAST})
ATTRS = Attributes(
    origin=Origin.IGP,
    as_path=(AsSegment(AsPathSegmentType.AS_SEQUENCE, (65000,)),),
    next_hop=int(ipaddress.IPv4Address("10.0.1.254")),
)
V6_NH = ipaddress.IPv6Address("2001:db8::fe").packed
P1, P2 = prefix_from_text("10.1.0.0/24"), prefix_from_text("10.2.0.0/24")
Q1 = prefix_from_text("2001:db8:1::/64")


def test_announce_withdraw_and_replace() -> None:
    rib = AdjRibIn(BOTH)
    change = rib.apply(Update(attributes=ATTRS, nlri=(P1, P2)))
    assert change.announced == 2 and len(rib) == 2
    path = rib.get(IPV4_UNICAST, P1)
    assert path is not None and str(path.next_hop_address) == "10.0.1.254"
    assert rib.get(IPV4_UNICAST, P1) is rib.get(IPV4_UNICAST, P2)  # one shared path object
    other = Attributes(origin=Origin.IGP, as_path=ATTRS.as_path, next_hop=ATTRS.next_hop, med=5)
    rib.apply(Update(attributes=other, nlri=(P1,)))  # implicit withdrawal of the old path
    replaced = rib.get(IPV4_UNICAST, P1)
    assert replaced is not None and replaced.attributes.med == 5 and len(rib) == 2
    assert rib.apply(Update(withdrawn=(P1,))).withdrawn == 1
    assert rib.get(IPV4_UNICAST, P1) is None and len(rib) == 1


def test_withdrawal_of_unknown_prefixes_is_quiet() -> None:
    rib = AdjRibIn(BOTH)
    change = rib.apply(Update(withdrawn=(P1, P2), mp_unreach=MpUnreach(2, 1, (Q1,))))
    assert change.withdrawn == 0 and len(rib) == 0


def test_mp_reach_and_unreach() -> None:
    rib = AdjRibIn(BOTH)
    rib.apply(
        Update(attributes=Attributes(origin=Origin.IGP, as_path=()), mp_reach=MpReach(2, 1, V6_NH, (Q1,)))
    )
    path = rib.get(IPV6_UNICAST, Q1)
    assert path is not None and str(path.next_hop_address) == "2001:db8::fe"
    assert rib.apply(Update(mp_unreach=MpUnreach(2, 1, (Q1,)))).withdrawn == 1
    assert rib.count(IPV6_UNICAST) == 0


def test_a_prefix_withdrawn_and_announced_in_one_update_counts_as_announced_only() -> None:
    """RFC 4271 §4.3: treated as though the WITHDRAWN ROUTES did not contain it."""
    rib = AdjRibIn(BOTH)
    rib.apply(Update(attributes=ATTRS, nlri=(P1, P2)))
    rib.apply(
        Update(attributes=Attributes(origin=Origin.IGP, as_path=()), mp_reach=MpReach(2, 1, V6_NH, (Q1,)))
    )
    change = rib.apply(Update(withdrawn=(P1, P2), attributes=ATTRS, nlri=(P1,)))
    assert (change.announced, change.withdrawn) == (1, 1)  # P2 withdrawn, P1 announced
    assert rib.get(IPV4_UNICAST, P1) is not None and rib.get(IPV4_UNICAST, P2) is None
    both = Update(
        attributes=Attributes(origin=Origin.IGP, as_path=()),
        mp_reach=MpReach(2, 1, V6_NH, (Q1,)),
        mp_unreach=MpUnreach(2, 1, (Q1,)),
    )
    assert (rib.apply(both).announced, rib.apply(both).withdrawn) == (1, 0)
    assert rib.count(IPV6_UNICAST) == 1


def test_families_not_negotiated_are_ignored() -> None:
    rib = AdjRibIn(frozenset({IPV4_UNICAST}))
    change = rib.apply(Update(attributes=ATTRS, mp_reach=MpReach(2, 1, V6_NH, (Q1,))))
    assert change.announced == 0 and len(rib) == 0


def test_end_of_rib_is_recorded_not_a_route() -> None:
    rib = AdjRibIn(BOTH)
    assert rib.apply(Update.end_of_rib(IPV6_UNICAST)).end_of_rib == IPV6_UNICAST
    assert rib.apply(Update()).end_of_rib == IPV4_UNICAST
    assert rib.end_of_rib == {IPV4_UNICAST, IPV6_UNICAST} and len(rib) == 0


def test_treat_as_withdraw_from_a_real_malformed_update() -> None:
    """A decoded UPDATE with a bad ORIGIN (RFC 7606 §7.1: treat-as-withdraw) removes its prefixes."""
    ctx = CodecContext()
    rib = AdjRibIn(BOTH)
    rib.apply(Update(attributes=ATTRS, nlri=(P1, P2)))
    wire = bytearray(encode_message(Update(attributes=ATTRS, nlri=(P1,)), ctx))
    origin_at = wire.index(bytes((0x40, 1, 1))) + 3
    wire[origin_at] = 7  # no such ORIGIN
    with pytest.raises(UpdateError) as caught:
        decode_message(2, bytes(wire[19:]), ctx)
    assert caught.value.action is ErrorAction.TREAT_AS_WITHDRAW and caught.value.update is not None
    change = rib.withdraw_all(caught.value.update)
    assert change.withdrawn == 1
    assert rib.get(IPV4_UNICAST, P1) is None and rib.get(IPV4_UNICAST, P2) is not None
    assert not rib.end_of_rib  # an emptied withdrawal is never mistaken for End-of-RIB


def test_clear() -> None:
    rib = AdjRibIn(BOTH)
    rib.apply(Update(attributes=ATTRS, nlri=(P1,)))
    rib.apply(Update())
    rib.clear()
    assert len(rib) == 0 and not rib.end_of_rib and list(rib.routes()) == []


# ---------------------------------------------------------------------- graceful restart (RFC 4724 §4.2)
P3 = prefix_from_text("10.3.0.0/24")
Q2 = prefix_from_text("2001:db8:2::/64")
V6_ATTRS = Attributes(origin=Origin.IGP, as_path=())


def _full_rib() -> AdjRibIn:
    rib = AdjRibIn(BOTH)
    rib.apply(Update(attributes=ATTRS, nlri=(P1, P2, P3)))
    rib.apply(Update(attributes=V6_ATTRS, mp_reach=MpReach(2, 1, V6_NH, (Q1, Q2))))
    return rib


def test_stale_routes_survive_the_session_end_and_are_refreshed_or_swept() -> None:
    rib = _full_rib()
    assert rib.mark_stale(frozenset({IPV4_UNICAST})).stale == 3
    rib.clear()  # the session ended: only the stale (kept) routes stay
    assert len(rib) == 3 and rib.count(IPV6_UNICAST) == 0 and rib.stale_count == 3
    rib.set_families(BOTH)  # the peer is back
    rib.apply(Update(attributes=ATTRS, nlri=(P1,)))  # re-announced: fresh again
    rib.apply(Update(withdrawn=(P2,)))  # withdrawn: gone, and not stale either
    assert not rib.is_stale(IPV4_UNICAST, P1) and rib.is_stale(IPV4_UNICAST, P3)
    assert rib.get(IPV4_UNICAST, P2) is None and rib.stale_count == 1
    assert rib.sweep_stale(frozenset({IPV4_UNICAST})).deleted == 1  # End-of-RIB: P3 was not re-sent
    assert rib.get(IPV4_UNICAST, P3) is None and rib.get(IPV4_UNICAST, P1) is not None
    assert rib.stale_count == 0 and len(rib) == 1


def test_mp_routes_are_refreshed_per_family() -> None:
    rib = _full_rib()
    rib.mark_stale(BOTH)
    rib.apply(Update(attributes=V6_ATTRS, mp_reach=MpReach(2, 1, V6_NH, (Q1,))))
    rib.apply(Update(mp_unreach=MpUnreach(2, 1, (Q2,))))
    assert not rib.is_stale(IPV6_UNICAST, Q1) and rib.get(IPV6_UNICAST, Q2) is None
    assert rib.stale_count == 3  # the three IPv4 routes
    assert rib.sweep_stale(frozenset({IPV6_UNICAST})).deleted == 0
    assert rib.sweep_stale(BOTH).deleted == 3 and len(rib) == 1


def test_consecutive_restart_deletes_what_is_still_stale() -> None:
    """RFC 4724 §4.2: a route previously marked stale is deleted when the peer restarts again;
    what it re-sent in between becomes stale now."""
    rib = _full_rib()
    rib.mark_stale(frozenset({IPV4_UNICAST}))
    rib.apply(Update(attributes=ATTRS, nlri=(P1,)))  # re-sent before the second restart
    change = rib.mark_stale(frozenset({IPV4_UNICAST}))
    assert change == StaleChange(deleted=2, stale=1)
    assert rib.get(IPV4_UNICAST, P1) is not None and rib.is_stale(IPV4_UNICAST, P1)
    assert rib.get(IPV4_UNICAST, P2) is None and rib.get(IPV4_UNICAST, P3) is None


def test_a_family_the_new_session_lacks_goes_with_its_stale_marks() -> None:
    rib = _full_rib()
    rib.mark_stale(BOTH)
    rib.clear()
    rib.set_families(frozenset({IPV4_UNICAST}))
    assert rib.count(IPV6_UNICAST) == 0 and rib.stale_count == 3
    assert rib.families == {IPV4_UNICAST}


def test_without_stale_routes_clear_drops_everything() -> None:
    rib = _full_rib()
    rib.clear()
    assert len(rib) == 0 and rib.stale_count == 0
