"""Adj-RIB-Out: the diff between requested and sent routes, packed into as few UPDATEs as fit."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.rib.adj_rib_in import AdjRibIn
from bgpd.rib.adj_rib_out import AdjRibOut, SendContext
from bgpd.rib.routes import ExportPolicy, Path, Route, RouteError
from bgpd.wire import Framer, decode_message, encode_message
from bgpd.wire.attributes import AsSegment
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, AsPathSegmentType, Family, Origin
from bgpd.wire.context import CodecContext
from bgpd.wire.update import Update

BOTH = frozenset({IPV4_UNICAST, IPV6_UNICAST})
EBGP = ExportPolicy(local_asn=65001, ibgp=False)


def session(
    families: frozenset[Family] = BOTH, ctx: CodecContext | None = None, policy: ExportPolicy = EBGP
) -> SendContext:
    return SendContext(ctx or CodecContext(), families, policy)


def v4_routes(count: int, next_hop: str = "10.0.1.5", med: int | None = None) -> list[Route]:
    base = int(ipaddress.IPv4Address("100.64.0.0"))
    return [
        Route(IPV4_UNICAST, (base + (i << 8), 24), Path(ipaddress.ip_address(next_hop), med))
        for i in range(count)
    ]


def batch(rib: AdjRibOut, ctx: CodecContext, budget: int) -> list[Update]:
    """One ``next_batch``, its wire bytes framed and decoded (so the sizes are the real ones), its
    counts checked against what the messages carry."""
    sent = rib.next_batch(budget)
    out = []
    for msg_type, body in Framer(ctx.max_message_len).feed(sent.data):
        decoded = decode_message(msg_type, body, ctx)
        assert isinstance(decoded, Update)
        out.append(decoded)
    assert sent.messages == len(out)
    assert sent.announced == sum(len(u.nlri) + len(u.mp_reach.nlri if u.mp_reach else ()) for u in out)
    assert sent.withdrawn == sum(
        len(u.withdrawn) + len(u.mp_unreach.withdrawn if u.mp_unreach else ()) for u in out
    )
    return out


def drain(rib: AdjRibOut, ctx: CodecContext, budget: int = 1 << 30) -> list[Update]:
    """Everything pending, as decoded UPDATEs."""
    out = []
    for _ in range(10_000):
        updates = batch(rib, ctx, budget)
        if not updates:
            return out
        out.extend(updates)
    raise AssertionError("never drained")


def test_initial_table_then_end_of_rib_per_family() -> None:
    rib = AdjRibOut()
    rib.set_routes([*v4_routes(3), Route.parse("2001:db8:1::/64", "2001:db8::5")])
    assert rib.next_batch(10_000).messages == 0  # nothing is sent before the session is up
    rib.start(session())
    updates = drain(rib, CodecContext())
    v4 = [u for u in updates if u.nlri]
    assert len(v4) == 1 and len(v4[0].nlri) == 3  # one attribute set -> one UPDATE
    assert v4[0].attributes.next_hop == int(ipaddress.IPv4Address("10.0.1.5"))
    assert v4[0].attributes.origin is Origin.IGP
    assert v4[0].attributes.as_path == (AsSegment(AsPathSegmentType.AS_SEQUENCE, (65001,)),)
    v6 = [u for u in updates if u.mp_reach is not None]
    assert len(v6) == 1
    assert v6[0].mp_reach is not None
    assert v6[0].mp_reach.next_hop == ipaddress.IPv6Address("2001:db8::5").packed  # the global NH
    assert v6[0].attributes.next_hop is None
    eors = [u.end_of_rib_family for u in updates if u.end_of_rib_family is not None]
    assert eors == [IPV4_UNICAST, IPV6_UNICAST]
    assert updates.index(v4[0]) < len(updates) - 2  # routes come before the markers
    assert rib.sent_count() == 4 and not rib.has_pending


def test_end_of_rib_sent_even_with_nothing_to_announce() -> None:
    rib = AdjRibOut()
    rib.start(session())
    updates = drain(rib, CodecContext())
    assert [u.end_of_rib_family for u in updates] == [IPV4_UNICAST, IPV6_UNICAST]


def test_diff_sends_only_changes_and_batches_withdrawals() -> None:
    rib = AdjRibOut()
    routes = v4_routes(10)
    rib.set_routes(routes)
    rib.start(session(frozenset({IPV4_UNICAST})))
    drain(rib, CodecContext())
    changed = Route(routes[0].family, routes[0].prefix, Path(ipaddress.ip_address("10.0.1.6")))
    rib.set_routes([changed, *routes[1:5]])  # 0 changed, 1-4 kept, 5-9 gone
    updates = drain(rib, CodecContext())
    assert len(updates) == 2
    assert sorted(updates[0].withdrawn) == sorted(r.prefix for r in routes[5:])  # one batch, first
    assert updates[1].nlri == (changed.prefix,)  # implicit withdrawal of the old path
    assert rib.sent_count() == 5
    assert drain(rib, CodecContext()) == []  # no End-of-RIB twice


def test_groups_by_identical_attributes() -> None:
    rib = AdjRibOut()
    rib.set_routes(v4_routes(4, med=10) + v4_routes(8, med=20)[4:])
    rib.start(session(frozenset({IPV4_UNICAST})))
    updates = [u for u in drain(rib, CodecContext()) if u.nlri]
    assert sorted(u.attributes.med for u in updates) == [10, 20]
    assert all(len(u.nlri) == 4 for u in updates)


@pytest.mark.parametrize("extended", [False, True])
def test_packs_to_the_maximum_message_size(extended: bool) -> None:
    ctx = CodecContext(extended_message=extended)
    rib = AdjRibOut()
    rib.set_routes(v4_routes(40_000))
    rib.start(session(frozenset({IPV4_UNICAST}), ctx))
    updates = [u for u in drain(rib, ctx) if u.nlri]
    assert sum(len(u.nlri) for u in updates) == 40_000
    sizes = [len(encode_message(u, ctx)) for u in updates]
    # every UPDATE but the last is full: one more /24 (4 octets) would not fit
    assert all(ctx.max_message_len - 4 < s <= ctx.max_message_len for s in sizes[:-1])


def test_ipv6_and_withdrawals_pack_within_limit() -> None:
    ctx = CodecContext()
    base = int(ipaddress.IPv6Address("2001:db8::"))
    routes = [
        Route(IPV6_UNICAST, (base + (i << 8), 120), Path(ipaddress.ip_address("2001:db8:ffff::1")))
        for i in range(3000)
    ]
    rib = AdjRibOut()
    rib.set_routes(routes)
    rib.start(session(ctx=ctx))
    announced = [u for u in drain(rib, ctx) if u.mp_reach is not None]
    assert sum(len(u.mp_reach.nlri) for u in announced if u.mp_reach) == 3000
    assert len(announced) == -(-3000 * 16 // 4000)  # ~16 octets a prefix into ~4 KiB messages
    rib.set_routes([])
    withdrawals = drain(rib, ctx)
    assert sum(len(u.mp_unreach.withdrawn) for u in withdrawals if u.mp_unreach) == 3000
    assert all(len(encode_message(u, ctx)) > ctx.max_message_len - 16 for u in withdrawals[:-1])


def test_budget_limits_each_batch_and_the_rest_stays_pending() -> None:
    ctx = CodecContext()
    rib = AdjRibOut()
    rib.set_routes(v4_routes(10_000))
    rib.start(session(frozenset({IPV4_UNICAST}), ctx))
    first = batch(rib, ctx, 8192)
    size = sum(len(encode_message(u, ctx)) for u in first)
    assert 8192 <= size < 8192 + ctx.max_message_len  # stops once the budget is used: ~8 KiB
    assert rib.has_pending and rib.pending_prefixes == 10_000 - sum(len(u.nlri) for u in first)
    rest = drain(rib, ctx, budget=8192)
    assert rest[-1].end_of_rib_family == IPV4_UNICAST
    assert rib.sent_count() == 10_000


def test_ibgp_attributes() -> None:
    rib = AdjRibOut()
    rib.set_routes(v4_routes(1))
    rib.start(session(frozenset({IPV4_UNICAST}), policy=ExportPolicy(65001, ibgp=True)))
    (update, _eor) = drain(rib, CodecContext())
    assert update.attributes.as_path == ()  # RFC 4271 §5.1.2: empty towards iBGP
    assert update.attributes.local_pref == 100


def test_four_octet_asn_towards_a_two_octet_peer() -> None:
    ctx = CodecContext(four_octet_as=False)
    rib = AdjRibOut()
    rib.set_routes(v4_routes(1))
    rib.start(session(frozenset({IPV4_UNICAST}), ctx, ExportPolicy(4200000001, ibgp=False)))
    (update, _eor) = drain(rib, ctx)
    assert update.attributes.as_path == (AsSegment(AsPathSegmentType.AS_SEQUENCE, (23456,)),)
    assert update.attributes.effective_as_path() == (AsSegment(AsPathSegmentType.AS_SEQUENCE, (4200000001,)),)


def test_unsendable_routes_are_reported_not_sent() -> None:
    v4_over_v6 = Route.parse("10.9.0.0/24", "2001:db8::9")
    rib = AdjRibOut()
    rib.set_routes([v4_over_v6, Route.parse("2001:db8:9::/64", "2001:db8::9")])
    rib.start(session(frozenset({IPV4_UNICAST})))
    assert drain(rib, CodecContext()) == [Update.end_of_rib(IPV4_UNICAST)]
    reasons = {u.route.text: u.reason for u in rib.unsendable()}
    assert "RFC 8950" in reasons["10.9.0.0/24"] and "not negotiated" in reasons["2001:db8:9::/64"]


def test_extended_next_hop_sends_ipv4_in_mp_reach() -> None:
    ctx = CodecContext(extended_next_hop=frozenset({IPV4_UNICAST}))
    rib = AdjRibOut()
    rib.set_routes([Route.parse("10.9.0.0/24", "2001:db8::9")])
    rib.start(session(frozenset({IPV4_UNICAST}), ctx))
    (update, _eor) = drain(rib, ctx)
    assert update.mp_reach is not None and update.mp_reach.afi == 1
    assert update.mp_reach.nlri == (Route.parse("10.9.0.0/24", "10.0.0.1").prefix,)
    assert update.mp_reach.next_hop == ipaddress.IPv6Address("2001:db8::9").packed
    assert not update.nlri and update.attributes.next_hop is None


def test_stop_forgets_what_was_sent_and_restart_resends() -> None:
    rib = AdjRibOut()
    rib.set_routes(v4_routes(2))
    rib.start(session(frozenset({IPV4_UNICAST})))
    drain(rib, CodecContext())
    rib.stop()
    assert rib.sent_count() == 0 and not rib.has_pending
    rib.start(session(frozenset({IPV4_UNICAST})))
    assert sum(len(u.nlri) for u in drain(rib, CodecContext())) == 2


@pytest.mark.parametrize(
    ("prefix", "next_hop"),
    [
        ("2001:db8::/64", "::"),
        ("2001:db8::/64", "fe80::1"),
        ("2001:db8::/64", "::ffff:10.0.0.1"),
        ("2001:db8::/64", "10.0.0.1"),
        ("10.0.0.0/24", "0.0.0.0"),
        ("10.0.0.0/24", "224.0.0.1"),
    ],
)
def test_bad_next_hops_are_refused(prefix: str, next_hop: str) -> None:
    with pytest.raises(RouteError):
        Route.parse(prefix, next_hop)


def test_host_bits_and_conflicting_duplicates_are_refused() -> None:
    with pytest.raises(RouteError):
        Route(
            IPV4_UNICAST, (int(ipaddress.IPv4Address("10.0.0.1")), 24), Path(ipaddress.ip_address("10.0.0.2"))
        )
    rib = AdjRibOut()
    with pytest.raises(RouteError):
        rib.set_routes([Route.parse("10.0.0.0/24", "10.0.0.1"), Route.parse("10.0.0.0/24", "10.0.0.2")])


_prefix_index = st.integers(min_value=0, max_value=63)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.dictionaries(_prefix_index, st.sampled_from([None, 1, 2, 3]), max_size=40), min_size=1, max_size=5
    )
)
def test_peer_table_always_matches_the_last_request(steps: list[dict[int, int | None]]) -> None:
    """Whatever sequence of requests, a receiver applying our UPDATEs ends with exactly the routes
    last requested (model check through the real codec and the real Adj-RIB-In)."""
    ctx = CodecContext()
    rib = AdjRibOut()
    peer = AdjRibIn(BOTH)
    rib.start(session(ctx=ctx))
    base6 = int(ipaddress.IPv6Address("2001:db8::"))
    for step in steps:
        routes = []
        for index, med in step.items():
            if index % 2:
                routes.append(
                    Route(
                        IPV4_UNICAST,
                        ((100 << 24) + (index << 8), 24),
                        Path(ipaddress.ip_address("10.0.0.1"), med),
                    )
                )
            else:
                routes.append(
                    Route(
                        IPV6_UNICAST,
                        (base6 + (index << 64), 64),
                        Path(ipaddress.ip_address("2001:db8::1"), med),
                    )
                )
        rib.set_routes(routes)
        for update in drain(rib, ctx, budget=512):
            peer.apply(update)
        got = {(f, p, path.attributes.med) for f, p, path in peer.routes()}
        assert got == {(r.family, r.prefix, r.path.med) for r in routes}


def test_refresh_resends_a_family_with_end_of_rib_only_when_asked() -> None:
    rib = AdjRibOut()
    rib.set_routes(v4_routes(2))
    rib.start(session(frozenset({IPV4_UNICAST})))
    drain(rib, CodecContext())
    rib.refresh(IPV4_UNICAST)  # the peer's ROUTE-REFRESH: the routes, no marker
    again = drain(rib, CodecContext())
    assert [len(u.nlri) for u in again] == [2]
    assert all(u.end_of_rib_family is None for u in again)
    rib.refresh(IPV4_UNICAST, end_of_rib=True)  # an operator's soft reset: routes, then End-of-RIB
    again = drain(rib, CodecContext())
    assert [len(u.nlri) for u in again[:1]] == [2] and again[1].end_of_rib_family == IPV4_UNICAST
    assert len(again) == 2 and rib.sent_count() == 2
    rib.refresh(IPV6_UNICAST, end_of_rib=True)  # not negotiated: nothing to send, no marker either
    assert drain(rib, CodecContext()) == []
