"""Received routes as a listing in slices: the order of a full sort, pauses in between, a prefix
filter on integers, and a table that changes while the listing runs."""

from __future__ import annotations

import ipaddress
import random

from bgpd.rib.adj_rib_in import AdjRibIn
from bgpd.speaker.listing import received_routes, sorted_in_slices
from bgpd.wire.attributes import AsSegment, Attributes, MpReach
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, AsPathSegmentType, Origin
from bgpd.wire.nlri import prefix_from_text
from bgpd.wire.update import Update

BOTH = frozenset({IPV4_UNICAST, IPV6_UNICAST})


def attrs(med: int | None = None, hop: str = "10.0.1.254") -> Attributes:
    return Attributes(
        origin=Origin.IGP,
        as_path=(AsSegment(AsPathSegmentType.AS_SEQUENCE, (65000, 65010)),),
        next_hop=int(ipaddress.IPv4Address(hop)),
        med=med,
    )


def test_sorted_in_slices_is_a_full_sort_cut_into_ranges_with_pauses() -> None:
    rng = random.Random(11)
    for count, run in ((0, 8), (5, 8), (1000, 64), (5000, 100), (3000, 3000)):
        keys = [rng.getrandbits(40) for _ in range(count)]
        keys += keys[: count // 10]  # equal order values are fine too (the RIB has none)
        out = list(sorted_in_slices(keys, lambda k: k, run))
        parts = [part for part in out if part is not None]
        assert [k for part in parts for k in part] == sorted(keys)
        if count > run:
            assert out.count(None) >= count // run  # a pause per slice of work at least
            assert max(len(part) for part in parts) < 8 * run  # ranges stay near ``run``


def test_sorted_in_slices_copes_with_a_skewed_table() -> None:
    keys = [10] * 500 + list(range(500))  # half the keys share one value
    parts = [p for p in sorted_in_slices(keys, lambda k: k, 50) if p is not None]
    assert [k for part in parts for k in part] == sorted(keys)


def _rib(count: int) -> AdjRibIn:
    rib = AdjRibIn(BOTH)
    order = list(range(count))
    random.Random(3).shuffle(order)  # arrival order is not prefix order
    for i in order:
        rib.apply(
            Update(attributes=attrs(med=i % 3), nlri=(prefix_from_text(f"10.{i // 256}.{i % 256}.0/24"),))
        )
    reach = MpReach(
        2, 1, ipaddress.IPv6Address("2001:db8::fe").packed, (prefix_from_text("2001:db8:5::/48"),)
    )
    rib.apply(Update(attributes=attrs(), mp_reach=reach))
    return rib


def test_received_routes_in_prefix_order_with_pauses() -> None:
    rib = _rib(3000)
    out = list(received_routes("s1", rib, run=256))
    routes = [r for r in out if r is not None]
    assert None in out
    assert [r.prefix for r in routes[:3]] == ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]
    assert routes[-1].prefix == "2001:db8:5::/48" and routes[-1].family == "ipv6-unicast"
    assert routes[-1].next_hop == "2001:db8::fe"
    v4 = [ipaddress.ip_network(r.prefix) for r in routes[:-1]]
    assert v4 == sorted(v4) and len(v4) == 3000
    first = routes[0]
    assert (first.session, first.next_hop, first.metric, first.as_path) == (
        "s1",
        "10.0.1.254",
        0,
        (65000, 65010),
    )


def test_a_prefix_filter_keeps_what_lies_inside() -> None:
    rib = _rib(600)
    inside = [
        r.prefix for r in received_routes("s1", rib, ipaddress.ip_network("10.1.0.0/23")) if r is not None
    ]
    assert inside == [f"10.1.{i}.0/24" for i in range(2)]
    assert [r.prefix for r in received_routes("s1", rib, ipaddress.ip_network("2001:db8::/32")) if r] == [
        "2001:db8:5::/48"
    ]
    assert [r for r in received_routes("s1", rib, ipaddress.ip_network("10.1.0.0/25")) if r] == []


def test_routes_withdrawn_while_listing_are_left_out_and_new_ones_not_listed() -> None:
    rib = _rib(1000)
    listing = received_routes("s1", rib, run=64)
    seen = []
    metrics = {}
    for route in listing:
        if route is None:
            continue
        seen.append(route.prefix)
        metrics[route.prefix] = route.metric
        if len(seen) == 1:
            rib.apply(Update(withdrawn=(prefix_from_text("10.0.200.0/24"),)))
            rib.apply(Update(attributes=attrs(), nlri=(prefix_from_text("10.9.9.0/24"),)))
            rib.apply(Update(attributes=attrs(med=77), nlri=(prefix_from_text("10.0.100.0/24"),)))
    assert "10.0.200.0/24" not in seen and "10.9.9.0/24" not in seen
    assert len(seen) == 1000  # 1001 at the start, one withdrawn
    assert metrics["10.0.100.0/24"] == 77  # a changed route is listed as it is when reached
