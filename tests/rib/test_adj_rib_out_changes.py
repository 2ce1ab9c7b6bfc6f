"""``change_routes``: changing a few routes leads the peer to the same table as replacing the whole
set would, and what the session cannot carry stays listed as routes come and go."""

from __future__ import annotations

import ipaddress
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.rib.adj_rib_in import AdjRibIn
from bgpd.rib.adj_rib_out import AdjRibOut
from bgpd.rib.routes import Path, Route
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, Family
from bgpd.wire.context import CodecContext
from bgpd.wire.nlri import Prefix
from tests.rib.test_adj_rib_out import BOTH, drain, session

CTX = CodecContext()
HOPS4 = [ipaddress.IPv4Address(f"10.0.1.{i}") for i in range(1, 6)]
HOPS6 = [ipaddress.IPv6Address(f"2001:db8::{i}") for i in range(1, 4)]


def _route(rng: random.Random) -> Route:
    if rng.random() < 0.7:
        prefix = (int(ipaddress.IPv4Address("100.64.0.0")) + (rng.randrange(40) << 8), 24)
        hop: ipaddress.IPv4Address | ipaddress.IPv6Address = rng.choice(
            HOPS4 + HOPS6[:1]
        )  # some need RFC 8950
        return Route(IPV4_UNICAST, prefix, Path(hop))
    prefix = (int(ipaddress.IPv6Address("fd00::")) + (rng.randrange(20) << 64), 64)
    return Route(IPV6_UNICAST, prefix, Path(rng.choice(HOPS6)))


def _table(routes: dict[tuple[Family, Prefix], Route]) -> list[Route]:
    return list(routes.values())


def _peer_view(rib_in: AdjRibIn, rib: AdjRibOut) -> dict[tuple[Family, Prefix], bytes]:
    for update in drain(rib, CTX):
        rib_in.apply(update)
    return {(f, p): path.next_hop for f, p, path in rib_in.routes()}


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.booleans())
def test_changing_a_few_routes_leads_where_replacing_them_all_does(seed: int, v6_families: bool) -> None:
    rng = random.Random(seed)
    families = BOTH if v6_families else frozenset({IPV4_UNICAST})
    current: dict[tuple[Family, Prefix], Route] = {}
    for _ in range(rng.randint(0, 30)):
        route = _route(rng)
        current[(route.family, route.prefix)] = route
    changed, replaced = AdjRibOut(), AdjRibOut()
    for rib in (changed, replaced):
        rib.set_routes(_table(current))
        rib.start(session(families))
    peer_changed, peer_replaced = AdjRibIn(BOTH), AdjRibIn(BOTH)
    for step in range(6):
        announce: dict[tuple[Family, Prefix], Route] = {}
        withdraw: list[tuple[Family, Prefix]] = []
        for _ in range(rng.randint(0, 6)):  # a prefix is announced or withdrawn, not both
            if current and rng.random() < 0.4:
                key = rng.choice(sorted(current))
                if key not in announce:
                    del current[key]
                    withdraw.append(key)
            else:
                route = _route(rng)
                if (route.family, route.prefix) not in withdraw:
                    current[(route.family, route.prefix)] = announce[(route.family, route.prefix)] = route
        if rng.random() < 0.2:
            withdraw.append((IPV4_UNICAST, (int(ipaddress.IPv4Address("198.51.100.0")), 24)))  # never had
        changed.change_routes(announce.values(), withdraw)
        replaced.set_routes(_table(current))
        if step % 2:  # sometimes the peer reads in between, sometimes changes pile up
            assert _peer_view(peer_changed, changed) == _peer_view(peer_replaced, replaced)
        assert changed.unsendable() == replaced.unsendable()
        assert list(changed.requested()) == list(replaced.requested())
    assert _peer_view(peer_changed, changed) == _peer_view(peer_replaced, replaced)
    assert not changed.has_pending


def test_unsendable_routes_are_kept_up_to_date_as_they_change() -> None:
    rib = AdjRibOut()
    v6_hop = Route.parse("100.64.1.0/24", "2001:db8::1")  # IPv4 over an IPv6 next hop: needs RFC 8950
    rib.set_routes([Route.parse("100.64.0.0/24", "10.0.1.1"), v6_hop])
    rib.start(session(frozenset({IPV4_UNICAST})))
    assert [(u.route.text, u.reason) for u in rib.unsendable()] == [
        ("100.64.1.0/24", "IPv6 next hop for IPv4 needs RFC 8950 extended next hop, not negotiated")
    ]
    rib.change_routes([Route.parse("fd00::/64", "2001:db8::1")], [])
    assert [u.route.text for u in rib.unsendable()] == ["100.64.1.0/24", "fd00::/64"]
    assert rib.unsendable()[1].reason == "ipv6-unicast not negotiated"
    rib.change_routes(
        [Route.parse("100.64.1.0/24", "10.0.1.2")],
        [(IPV6_UNICAST, (int(ipaddress.IPv6Address("fd00::")), 64))],
    )
    assert rib.unsendable() == []
    assert {r.text for r in _sent(rib)} == {"100.64.0.0/24", "100.64.1.0/24"}


def _sent(rib: AdjRibOut) -> list[Route]:
    drain(rib, CTX)
    return list(rib.advertised())
