"""The speaker on loopback: two speakers peering, misbehaving scripted peers, collisions, rejection.

No root needed: 127.0.0.0/8 gives as many local addresses as a test wants, and every port is high.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from typing import Any

import pytest

from bgpd.fsm import Reason
from bgpd.plan.session_config import SessionConfig
from bgpd.rib.routes import Route
from bgpd.speaker import SessionNotEstablishedError, SessionNotFoundError, Speaker
from bgpd.speaker.connection import HIGH_WATER
from bgpd.speaker.peer import PUMP_BUDGET
from bgpd.speaker.status import SessionStatus
from bgpd.wire import Keepalive, Notification, Open, RouteRefresh, Update, encode_message
from bgpd.wire.attributes import AsSegment, Attributes
from bgpd.wire.capabilities import FourOctetAs, Multiprotocol
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, AsPathSegmentType, CeaseSub, ErrorCode, Origin
from tests.speaker.scripted_peer import CTX, ScriptedListener, ScriptedPeer, free_port, peer_open

A, B, STRANGER = "127.0.0.1", "127.0.0.2", "127.0.0.9"
ASN_A, ASN_B = 65001, 65002


def config(local: str, peer: str, local_asn: int, peer_asn: int, port: int, **options: Any) -> SessionConfig:
    return SessionConfig(
        name=f"{local}->{peer}",
        local_ip=ipaddress.ip_address(local),
        peer_ip=ipaddress.ip_address(peer),
        local_asn=local_asn,
        peer_asn=peer_asn,
        router_id=ipaddress.IPv4Address(local if "." in local else "192.0.2.1"),
        port=port,
        **options,
    )


async def up_passive_session(speaker: Speaker) -> tuple[SessionConfig, ScriptedPeer]:
    """A passive session A <- B on a fresh port, brought to Established by a scripted peer at B."""
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
    await speaker.add_session(cfg)
    peer = await ScriptedPeer.connect(A, port, B)
    await peer.handshake(peer_open(ASN_B, B))
    await speaker.wait_for(cfg.name, established, 5)
    return cfg, peer


def established(status: SessionStatus) -> bool:
    return status.established


def bulky_routes(count: int = 24_000) -> list[Route]:
    """Routes that cannot share an UPDATE (each its own MED) and carry 60 communities each: about
    300 octets per route, 7 MB in all — more than loopback TCP buffers absorb (4 MiB at most)."""
    communities = tuple(range(65000 << 16, (65000 << 16) + 60))
    return [
        Route.parse(f"100.{i >> 8 & 255}.{i & 255}.0/24", "10.0.0.5", med=i, communities=communities)
        for i in range(count)
    ]


PEER_ATTRS = Attributes(
    origin=Origin.IGP,
    as_path=(AsSegment(AsPathSegmentType.AS_SEQUENCE, (ASN_B,)),),
    next_hop=int(ipaddress.IPv4Address("10.0.0.254")),
)
ROUTES_A = [Route.parse("10.244.1.0/24", "10.0.0.5"), Route.parse("2001:db8:1::/64", "2001:db8::5")]
ROUTES_B = [Route.parse("192.0.2.0/24", "10.0.0.254", med=7)]


@pytest.mark.asyncio
async def test_two_speakers_exchange_routes(speakers: tuple[Speaker, Speaker]) -> None:
    one, two = speakers
    port = free_port()
    a_cfg = config(A, B, ASN_A, ASN_B, port, connect_retry_time=0.2)
    b_cfg = config(B, A, ASN_B, ASN_A, port, passive=True)
    await two.add_session(b_cfg, ROUTES_B)
    await one.add_session(a_cfg, ROUTES_A)
    await one.wait_for(a_cfg.name, established, 10)
    await two.wait_for(b_cfg.name, established, 10)

    async def received(spk: Speaker, name: str, count: int) -> dict[str, str]:
        await spk.wait_for(name, lambda s: s.prefixes_received == count, 5)
        return {r.prefix: r.next_hop for r in spk.received_routes(name)}

    assert await received(two, b_cfg.name, 2) == {
        "10.244.1.0/24": "10.0.0.5",
        "2001:db8:1::/64": "2001:db8::5",
    }
    got = two.received_routes(b_cfg.name)
    assert all(r.as_path == (ASN_A,) for r in got)
    assert await received(one, a_cfg.name, 1) == {"192.0.2.0/24": "10.0.0.254"}
    assert one.received_routes(a_cfg.name)[0].metric == 7

    one.set_routes(a_cfg.name, ROUTES_A[:1])  # withdraw the IPv6 route
    assert await received(two, b_cfg.name, 1) == {"10.244.1.0/24": "10.0.0.5"}
    status = one.state(a_cfg.name)
    assert status.prefixes_sent == 1 and status.prefixes_received == 1
    assert status.counters["messagesOut"]["update"] >= 3  # v4 + v6 + withdrawal (+ End-of-RIBs)
    assert status.uptime is not None and status.uptime >= 0
    assert two.state(b_cfg.name).counters["connectAttempts"] == 0  # passive: it never connected

    await one.shutdown_session(a_cfg.name, "going for maintenance")
    down = await two.wait_for(b_cfg.name, lambda s: s.last_received is not None, 5)
    assert down.last_received is not None
    # graceful restart with the N bit is on by default: an administrative shutdown withdraws, so
    # it is a Hard Reset standing for the Cease (RFC 8538 §3, §5), with its RFC 9003 text
    assert (down.last_received.code, down.last_received.subcode) == (6, 9)
    assert down.last_received.text == 'Cease / Hard Reset (Administrative Shutdown): "going for maintenance"'
    assert not down.established and two.received_routes(b_cfg.name) == []
    assert one.state(a_cfg.name).admin_down


@pytest.mark.asyncio
async def test_peer_sending_one_byte_at_a_time(speaker: Speaker) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
    await speaker.add_session(cfg, ROUTES_A[:1])
    peer = await ScriptedPeer.connect(A, port, B)
    await peer.send_bytewise(peer_open(ASN_B, B))
    assert isinstance(await peer.expect(Open), Open)
    await peer.send_bytewise(Keepalive())
    await speaker.wait_for(cfg.name, established, 5)
    await peer.send_bytewise(
        Update(attributes=PEER_ATTRS, nlri=(Route.parse("192.0.2.0/24", "10.0.0.1").prefix,))
    )
    await speaker.wait_for(cfg.name, lambda s: s.prefixes_received == 1, 5)
    assert [r.prefix for r in speaker.received_routes(cfg.name)] == ["192.0.2.0/24"]
    update = await peer.expect(Update)  # and our own route arrived the other way
    assert isinstance(update, Update) and update.nlri == (ROUTES_A[0].prefix,)
    peer.close()


@pytest.mark.asyncio
async def test_peer_resetting_mid_message_then_returning(speaker: Speaker) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True, idle_hold_time=0.2)
    await speaker.add_session(cfg)
    peer = await ScriptedPeer.connect(A, port, B)
    await peer.handshake(peer_open(ASN_B, B))
    await speaker.wait_for(cfg.name, established, 5)
    peer.writer.write(encode_message(Keepalive(), CTX)[:11])  # a header cut short
    await peer.writer.drain()
    peer.reset()
    down = await speaker.wait_for(cfg.name, lambda s: not s.established, 5)
    assert down.counters["flaps"] == 1 and down.last_error is not None
    assert down.history[-1].reason is Reason.PEER_CLOSED
    # After the IdleHoldTimer (damping, RFC 4271 §8.1.1) the session listens again by itself.
    await speaker.wait_for(cfg.name, lambda s: s.fsm_state == "Active", 5)
    again = await ScriptedPeer.connect(A, port, B)
    await again.handshake(peer_open(ASN_B, B))
    await speaker.wait_for(cfg.name, established, 5)
    again.close()


@pytest.mark.asyncio
async def test_peer_that_never_reads_is_dropped_by_the_hold_timer_with_bounded_memory(
    speaker: Speaker,
) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True, hold_time=3)
    routes = bulky_routes()
    await speaker.add_session(cfg, routes)
    peer = await ScriptedPeer.connect(A, port, B, rcvbuf=4096)
    await peer.handshake(peer_open(ASN_B, B, hold_time=3))
    peer.writer.transport.pause_reading()  # from here on the peer reads nothing and sends nothing
    conn = speaker._sessions[cfg.name].connection  # the test looks at the writer's buffers
    assert conn is not None
    status = await speaker.wait_for(cfg.name, lambda s: not s.established, 10)
    peak = conn.peak_buffered
    assert status.last_sent is not None and status.last_sent.code == ErrorCode.HOLD_TIMER_EXPIRED
    # back-pressure engaged (the transport passed its high-water mark) and held: one batch at most above
    assert HIGH_WATER <= peak <= HIGH_WATER + PUMP_BUDGET + 4096
    assert status.counters["prefixesOut"] < len(routes)  # the rest never left the Adj-RIB-Out
    peer.close()


@pytest.mark.asyncio
async def test_peer_that_keeps_talking_but_never_reads_hits_the_send_hold_timer(speaker: Speaker) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True, hold_time=3, send_hold_time=4.0)
    routes = bulky_routes()
    await speaker.add_session(cfg, routes)
    peer = await ScriptedPeer.connect(A, port, B, rcvbuf=4096)
    await peer.handshake(peer_open(ASN_B, B, hold_time=3))
    peer.writer.transport.pause_reading()

    async def keep_talking() -> None:
        while not peer.writer.transport.is_closing():
            peer.send(Keepalive())
            await asyncio.sleep(0.5)

    talker = asyncio.get_running_loop().create_task(keep_talking())
    try:
        status = await speaker.wait_for(cfg.name, lambda s: not s.established, 12)
    finally:
        talker.cancel()
    assert status.last_error is not None and "send hold" in status.last_error.lower()
    assert status.counters["prefixesOut"] < len(routes)
    peer.close()


@pytest.mark.asyncio
async def test_connection_from_unconfigured_address_is_rejected(speaker: Speaker) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
    await speaker.add_session(cfg)
    reader, writer = await asyncio.open_connection(A, port, local_addr=(STRANGER, 0))
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert speaker.rejected_connections == 1
    status = speaker.state(cfg.name)
    assert status.fsm_state == "Active" and status.counters["connectionsAccepted"] == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("peer_id_higher", [True, False])
async def test_collision_keeps_the_connection_of_the_higher_bgp_identifier(
    speaker: Speaker, peer_id_higher: bool
) -> None:
    """RFC 4271 §6.8: both sides connected at once; the connection opened by the speaker with the
    higher BGP Identifier survives, the other is closed with Cease / Connection Collision Resolution."""
    port = free_port()
    listener = ScriptedListener()
    await listener.start(B, port)
    try:
        cfg = config(A, B, ASN_A, ASN_B, port, connect_retry_time=30)  # A's id: 127.0.0.1
        await speaker.add_session(cfg)
        outgoing = await listener.accept()  # the speaker connected to us and sent its OPEN
        assert isinstance(await outgoing.expect(Open), Open)
        incoming = await ScriptedPeer.connect(A, port, B)  # and we connect to it at the same time
        peer_id = "127.0.0.3" if peer_id_higher else "127.0.0.0"
        incoming.send(peer_open(ASN_B, peer_id))
        assert isinstance(await incoming.expect(Open), Open)
        outgoing.send(peer_open(ASN_B, peer_id))
        winner, loser = (incoming, outgoing) if peer_id_higher else (outgoing, incoming)
        note = await loser.expect(Notification)
        assert isinstance(note, Notification)
        assert (note.code, note.subcode) == (ErrorCode.CEASE, CeaseSub.CONNECTION_COLLISION_RESOLUTION)
        await loser.closed()
        winner.send(Keepalive())
        assert isinstance(await winner.expect(Keepalive), Keepalive)
        status = await speaker.wait_for(cfg.name, established, 5)
        assert status.counters["collisions"] == 1
        winner.close()
    finally:
        listener.close()


@pytest.mark.asyncio
async def test_connection_while_established_is_refused(speaker: Speaker) -> None:
    cfg, first = await up_passive_session(speaker)
    second = await ScriptedPeer.connect(A, cfg.port, B)
    note = await second.expect(Notification)
    assert isinstance(note, Notification)
    assert (note.code, note.subcode) == (ErrorCode.CEASE, CeaseSub.CONNECTION_COLLISION_RESOLUTION)
    await second.closed()
    assert speaker.state(cfg.name).established  # the first connection is untouched
    first.close()


@pytest.mark.asyncio
async def test_ipv6_session_over_loopback(speaker: Speaker) -> None:
    """An IPv6 session: IPv6 routes go out in MP_REACH with the global next hop; an IPv4 route with
    an IPv4 next hop is held back (RFC 8950 not negotiated) and reported as not sent."""
    port = free_port()
    cfg = config("::1", "::1", ASN_A, ASN_B, port, passive=True)
    v6 = Route.parse("2001:db8:1::/64", "2001:db8::5")
    v4_via_v6 = Route.parse("10.244.1.0/24", "2001:db8::5")
    await speaker.add_session(cfg, [v6, v4_via_v6])
    peer = await ScriptedPeer.connect("::1", port, "::1")
    await peer.handshake(peer_open(ASN_B, B))
    updates = [await peer.expect(Update) for _ in range(3)]  # IPv4 End-of-RIB, the route, IPv6 EoR
    assert [u.end_of_rib_family for u in updates if isinstance(u, Update)] == [
        IPV4_UNICAST,
        None,
        IPV6_UNICAST,
    ]
    update = updates[1]
    assert isinstance(update, Update) and update.mp_reach is not None
    assert update.mp_reach.nlri == (v6.prefix,)
    assert update.mp_reach.next_hop == ipaddress.IPv6Address("2001:db8::5").packed
    status = await speaker.wait_for(cfg.name, established, 5)
    assert status.prefixes_sent == 1
    assert status.unsendable == (
        "10.244.1.0/24: IPv6 next hop for IPv4 needs RFC 8950 extended next hop, not negotiated",
    )
    peer.close()


@pytest.mark.asyncio
async def test_remove_session_sends_peer_deconfigured_and_closes_the_listener(speaker: Speaker) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
    await speaker.add_session(cfg)
    with pytest.raises(ValueError, match="exists already"):
        await speaker.add_session(cfg)
    with pytest.raises(ValueError, match="already runs"):
        await speaker.add_session(dataclasses.replace(cfg, name="again"))
    peer = await ScriptedPeer.connect(A, port, B)
    await peer.handshake(peer_open(ASN_B, B))
    await speaker.wait_for(cfg.name, established, 5)
    await speaker.remove_session(cfg.name)
    note = await peer.expect(Notification, skip=(Keepalive, Update))  # after our End-of-RIBs
    assert isinstance(note, Notification)
    assert (note.code, note.subcode) == (ErrorCode.CEASE, CeaseSub.PEER_DECONFIGURED)
    assert speaker.names() == []
    with pytest.raises(SessionNotFoundError):
        speaker.state(cfg.name)
    with pytest.raises(ConnectionRefusedError):  # the last session of that address took its listener
        await asyncio.open_connection(A, port, local_addr=(B, 0))
    peer.close()


@pytest.mark.asyncio
async def test_received_withdrawals_unknown_prefixes_and_treat_as_withdraw(speaker: Speaker) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
    await speaker.add_session(cfg)
    peer = await ScriptedPeer.connect(A, port, B)
    await peer.handshake(peer_open(ASN_B, B))
    p1, p2, p3 = (Route.parse(f"192.0.2.{i * 64}/26", "10.0.0.1").prefix for i in range(3))
    peer.send(Update(attributes=PEER_ATTRS, nlri=(p1, p2)))
    await speaker.wait_for(cfg.name, lambda s: s.prefixes_received == 2, 5)
    peer.send(Update(withdrawn=(p3,)))  # never learned: accepted quietly
    # An UPDATE for p1 with an invalid ORIGIN: RFC 7606 §7.1 treat-as-withdraw, session stays up.
    wire = bytearray(encode_message(Update(attributes=PEER_ATTRS, nlri=(p1,)), CTX))
    wire[wire.index(bytes((0x40, 1, 1))) + 3] = 9
    peer.writer.write(bytes(wire))
    status = await speaker.wait_for(cfg.name, lambda s: s.prefixes_received == 1, 5)
    assert status.established and status.counters["updatesTreatedAsWithdraw"] == 1
    assert [r.prefix for r in speaker.received_routes(cfg.name)] == ["192.0.2.64/26"]
    peer.close()


@pytest.mark.asyncio
async def test_route_refresh_resends_the_family(speaker: Speaker) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
    await speaker.add_session(cfg, ROUTES_A)
    peer = await ScriptedPeer.connect(A, port, B)
    await peer.handshake(peer_open(ASN_B, B))
    first = [await peer.expect(Update) for _ in range(4)]  # v4 route, v4 EoR, v6 route, v6 EoR
    assert sum(isinstance(u, Update) and bool(u.nlri) for u in first) == 1
    peer.send(RouteRefresh(1, 1))  # RFC 2918: "send me your IPv4 unicast routes again"
    again = await peer.expect(Update)
    assert isinstance(again, Update) and again.nlri == (ROUTES_A[0].prefix,)
    peer.close()


@pytest.mark.asyncio
async def test_soft_reset_resends_both_ways_without_a_flap(speakers: tuple[Speaker, Speaker]) -> None:
    one, two = speakers
    port = free_port()
    a_cfg = config(A, B, ASN_A, ASN_B, port, connect_retry_time=0.2)
    b_cfg = config(B, A, ASN_B, ASN_A, port, passive=True)
    await two.add_session(b_cfg, ROUTES_B)
    await one.add_session(a_cfg, ROUTES_A)
    await two.wait_for(b_cfg.name, lambda s: s.prefixes_received == 2, 10)
    await one.wait_for(a_cfg.name, lambda s: s.prefixes_received == 1, 10)
    a_before = one.state(a_cfg.name).counters
    b_before = two.state(b_cfg.name).counters

    done = one.refresh_session(a_cfg.name)
    assert done.resent == (IPV4_UNICAST, IPV6_UNICAST)
    assert done.requested == (IPV4_UNICAST, IPV6_UNICAST)  # bgpd offers route refresh

    def b_got_everything_again(s: SessionStatus) -> bool:
        got = s.counters["messagesIn"]
        return (
            got.get("route-refresh", 0) == 2  # one per family (RFC 2918)
            and got["update"] == b_before["messagesIn"]["update"] + 4  # 2 routes, 2 End-of-RIBs
            and s.counters["prefixesIn"] == b_before["prefixesIn"] + 2
        )

    b_after = await two.wait_for(b_cfg.name, b_got_everything_again, 5)
    # ... and the peer answered the ROUTE-REFRESH by sending its own route again
    a_after = await one.wait_for(
        a_cfg.name, lambda s: s.counters["prefixesIn"] == a_before["prefixesIn"] + 1, 5
    )
    assert a_after.established and b_after.established
    assert a_after.prefixes_received == 1 and b_after.prefixes_received == 2  # replaced, not doubled
    assert a_after.prefixes_sent == 2
    assert a_after.counters["messagesOut"]["route-refresh"] == 2
    for before, after in ((a_before, a_after.counters), (b_before, b_after.counters)):
        assert after["flaps"] == before["flaps"] == 0
        assert after["connectAttempts"] == before["connectAttempts"]
        assert after["connectionsAccepted"] == before["connectionsAccepted"]


@pytest.mark.asyncio
async def test_soft_reset_wire_order_routes_then_end_of_rib_per_family(speaker: Speaker) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
    await speaker.add_session(cfg, ROUTES_A)
    peer = await ScriptedPeer.connect(A, port, B)
    await peer.handshake(peer_open(ASN_B, B))
    for _ in range(4):  # the initial table: v4 route, v4 EoR, v6 route, v6 EoR
        await peer.expect(Update)
    speaker.refresh_session(cfg.name)
    messages = [await peer.expect(RouteRefresh), await peer.expect(RouteRefresh)]
    messages += [await peer.expect(Update) for _ in range(4)]
    assert [(m.afi, m.safi) for m in messages[:2] if isinstance(m, RouteRefresh)] == [(1, 1), (2, 1)]
    v4, v4_eor, v6, v6_eor = (m for m in messages[2:] if isinstance(m, Update))
    assert v4.nlri == (ROUTES_A[0].prefix,) and v4_eor.end_of_rib_family == IPV4_UNICAST
    assert v6.mp_reach is not None and v6.mp_reach.nlri == (ROUTES_A[1].prefix,)
    assert v6_eor.end_of_rib_family == IPV6_UNICAST
    assert speaker.state(cfg.name).established
    peer.close()


@pytest.mark.asyncio
async def test_soft_reset_asks_nothing_of_a_peer_without_route_refresh(speaker: Speaker) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True, families=(IPV4_UNICAST,))
    await speaker.add_session(cfg, ROUTES_A[:1])
    peer = await ScriptedPeer.connect(A, port, B)
    plain = peer_open(ASN_B, B, families=((1, 1),))
    await peer.handshake(dataclasses.replace(plain, capabilities=(Multiprotocol(1, 1), FourOctetAs(ASN_B))))
    await peer.expect(Update)
    await peer.expect(Update)  # End-of-RIB
    done = speaker.refresh_session(cfg.name)
    assert done.resent == (IPV4_UNICAST,) and done.requested == ()
    # RFC 2918 §3: no ROUTE-REFRESH to a peer that did not offer it. It would have been written
    # before the re-sent routes, so ``expect`` would fail on it here.
    route = await peer.expect(Update)
    eor = await peer.expect(Update)
    assert isinstance(route, Update) and route.nlri == (ROUTES_A[0].prefix,)
    assert isinstance(eor, Update) and eor.end_of_rib_family == IPV4_UNICAST
    status = speaker.state(cfg.name)
    assert status.counters["messagesOut"].get("route-refresh", 0) == 0 and status.established
    peer.close()


@pytest.mark.asyncio
async def test_soft_reset_of_a_session_that_is_not_established_is_refused(speaker: Speaker) -> None:
    cfg = config(A, B, ASN_A, ASN_B, free_port(), passive=True)
    await speaker.add_session(cfg, ROUTES_A)
    with pytest.raises(SessionNotEstablishedError, match="is Active, not Established"):
        speaker.refresh_session(cfg.name)
    with pytest.raises(SessionNotFoundError):
        speaker.refresh_session("nope")


@pytest.mark.asyncio
async def test_a_session_whose_routes_are_not_known_sends_nothing_until_they_are(speaker: Speaker) -> None:
    """Before the first plan: Established, keepalives, but no End-of-RIB that would tell the peer
    we have no routes; then the whole table and End-of-RIB."""
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True, families=(IPV4_UNICAST,))
    await speaker.add_session(cfg, routes=None)
    peer = await ScriptedPeer.connect(A, port, B)
    await peer.handshake(peer_open(ASN_B, B, families=((1, 1),)))
    await speaker.wait_for(cfg.name, established, 5)
    with pytest.raises(TimeoutError):
        await peer.expect(Update, timeout=0.5)
    speaker.set_routes(cfg.name, ROUTES_A[:1])
    routes = await peer.expect(Update)
    assert isinstance(routes, Update) and routes.nlri == (ROUTES_A[0].prefix,)
    eor = await peer.expect(Update)
    assert isinstance(eor, Update) and eor.end_of_rib_family == IPV4_UNICAST
    peer.close()
