"""Graceful restart on loopback (RFC 4724, RFC 8538): scripted peers and two speakers back to back.

Restarting speaker: what each stop puts on the wire (Cease, Hard Reset, or a bare close), the
Restart State bit, the whole table then End-of-RIB per family, and a route the new plan dropped
swept by the helper at End-of-RIB. Helper: a restarting peer's routes kept stale, refreshed or swept,
the restart timer, a new connection while Established (RFC 4724 §4.2). And a refusal in OpenConfirm
(a ToR still holding a stale session) neither counts as a flap nor grows the back-off.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable

import pytest

from bgpd.plan.session_config import SessionConfig
from bgpd.rib.routes import Route
from bgpd.speaker import Speaker
from bgpd.speaker.status import SessionStatus
from bgpd.wire import Keepalive, Message, Notification, Open, Update
from bgpd.wire.attributes import AsSegment, Attributes, MpReach
from bgpd.wire.capabilities import GracefulRestart, GracefulRestartFamily
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, AsPathSegmentType, CeaseSub, ErrorCode, Origin
from bgpd.wire.nlri import prefix_from_text
from tests.speaker.scripted_peer import ScriptedListener, ScriptedPeer, free_port, peer_open
from tests.speaker.test_speaker import ASN_A, ASN_B, A, B, config, established

V4, V6 = IPV4_UNICAST, IPV6_UNICAST
PEER_ATTRS = Attributes(
    origin=Origin.IGP,
    as_path=(AsSegment(AsPathSegmentType.AS_SEQUENCE, (ASN_B,)),),
    next_hop=int(ipaddress.IPv4Address("10.0.0.254")),
)
P1, P2 = prefix_from_text("192.0.2.0/25"), prefix_from_text("192.0.2.128/25")
Q1 = prefix_from_text("2001:db8:f::/64")
ROUTES = [Route.parse("10.244.1.0/24", "10.0.0.5"), Route.parse("10.244.2.0/24", "10.0.0.6")]
V6_ROUTE = Route.parse("2001:db8:1::/64", "2001:db8::5")


def gr(restart_time: int = 120, notification: bool = True, restarting: bool = False) -> GracefulRestart:
    families = (GracefulRestartFamily(1, 1, True), GracefulRestartFamily(2, 1, True))
    return GracefulRestart(restarting, notification, restart_time, families)


async def messages_until_closed(peer: ScriptedPeer) -> list[Message]:
    """Everything the speaker sends until it closes the connection."""
    out: list[Message] = []
    while True:
        try:
            out.append(await peer.next_message())
        except (ConnectionError, asyncio.IncompleteReadError):
            return out


async def passive_session(
    speaker: Speaker, cap: GracefulRestart | None, routes: list[Route] = (), **options: object
) -> tuple[SessionConfig, ScriptedPeer, Open]:
    """A passive session A <- B, Established by a scripted peer announcing ``cap``; returns our OPEN."""
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True, **options)
    await speaker.add_session(cfg, routes)
    peer = await ScriptedPeer.connect(A, port, B)
    ours = await peer.handshake(peer_open(ASN_B, B, extra=() if cap is None else (cap,)))
    await speaker.wait_for(cfg.name, established, 5)
    return cfg, peer, ours


def our_gr(message: Open) -> GracefulRestart:
    (cap,) = [c for c in message.capabilities if isinstance(c, GracefulRestart)]
    return cap


# ---------------------------------------------------------------------- restarting speaker
@pytest.mark.asyncio
async def test_open_announces_graceful_restart_with_n_and_f_bits(speaker: Speaker) -> None:
    _, peer, ours = await passive_session(speaker, gr())
    assert our_gr(ours) == GracefulRestart(
        False, True, 120, (GracefulRestartFamily(1, 1, True), GracefulRestartFamily(2, 1, True))
    )
    peer.close()


@pytest.mark.asyncio
async def test_graceful_restart_can_be_switched_off(speaker: Speaker) -> None:
    _, peer, ours = await passive_session(speaker, gr(), graceful_restart=False)
    assert not any(isinstance(c, GracefulRestart) for c in ours.capabilities)
    peer.close()


STOPS = [
    # (peer's capability, graceful, expected NOTIFICATION (code, subcode, inner subcode) or None)
    (gr(), True, (6, CeaseSub.ADMINISTRATIVE_RESET, None)),  # RFC 8538 §3: not a Hard Reset
    (gr(), False, (6, CeaseSub.HARD_RESET, CeaseSub.ADMINISTRATIVE_RESET)),
    (gr(notification=False), True, None),  # RFC 4724 §4: no N bit, so no NOTIFICATION at all
    (gr(notification=False), False, (6, CeaseSub.ADMINISTRATIVE_RESET, None)),
    (None, True, (6, CeaseSub.ADMINISTRATIVE_RESET, None)),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("cap", "graceful", "expected"), STOPS, ids=["n-restart", "n-hard", "gr-restart", "gr-hard", "no-gr"]
)
async def test_what_a_stop_puts_on_the_wire(
    speaker: Speaker,
    cap: GracefulRestart | None,
    graceful: bool,
    expected: tuple[int, int, int | None] | None,
) -> None:
    cfg, peer, _ = await passive_session(speaker, cap)
    await speaker.remove_session(
        cfg.name, CeaseSub.ADMINISTRATIVE_RESET, "bgpd restarting", graceful=graceful
    )
    notifications = [m for m in await messages_until_closed(peer) if isinstance(m, Notification)]
    if expected is None:
        assert notifications == []
        return
    (notification,) = notifications
    code, subcode, inner = expected
    assert (notification.code, notification.subcode) == (code, subcode)
    assert notification.shutdown_message == "bgpd restarting"
    assert (notification.inner.subcode if notification.inner else None) == inner


@pytest.mark.asyncio
async def test_restart_sends_r_bit_then_the_whole_table_then_end_of_rib(speaker: Speaker) -> None:
    """RFC 4724 §4.1: the restarted speaker's OPEN has the Restart State bit; then every route of
    the plan, then End-of-RIB for each family. A route the plan lost meanwhile is simply not
    announced (no withdrawal): the helper sweeps it at End-of-RIB."""
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
    await speaker.add_session(cfg, [ROUTES[0], V6_ROUTE], restarting=True)
    peer = await ScriptedPeer.connect(A, port, B)
    ours = await peer.handshake(peer_open(ASN_B, B, extra=(gr(),)))
    assert our_gr(ours).restart_state
    updates = []
    while len([u for u in updates if u.end_of_rib_family is not None]) < 2:
        message = await peer.expect(Update)
        assert isinstance(message, Update)
        updates.append(message)
    eors = [u.end_of_rib_family for u in updates if u.end_of_rib_family is not None]
    assert eors == [V4, V6] and updates[-1].end_of_rib_family == V6
    announced = [u for u in updates if u.end_of_rib_family is None]
    v4_first = next(i for i, u in enumerate(updates) if u.end_of_rib_family == V4)
    assert [p for u in updates[:v4_first] for p in u.nlri] == [ROUTES[0].prefix]  # v4 routes before its EoR
    assert all(not u.withdrawn and u.mp_unreach is None for u in announced)  # nothing withdrawn
    status = speaker.state(cfg.name)
    assert status.graceful_restart is not None and not status.graceful_restart.restart_state  # back
    peer.close()


# ---------------------------------------------------------------------- both roles, two speakers
@pytest.mark.asyncio
async def test_restart_between_two_speakers_keeps_routes_and_sweeps_the_removed_one() -> None:
    """bgpd restarts (graceful stop, then a new speaker with the Restart State bit and a smaller
    plan); bgpd as the helper keeps every route (stale) meanwhile, and after End-of-RIB holds
    exactly the new plan: the removed node's route was swept, nothing else ever went missing."""
    port = free_port()
    ours_cfg = config(A, B, ASN_A, ASN_B, port)
    helper_cfg = config(B, A, ASN_B, ASN_A, port, passive=True)
    helper, first = Speaker(), Speaker()
    second: Speaker | None = None
    try:
        await helper.add_session(helper_cfg)
        await first.add_session(ours_cfg, [*ROUTES, V6_ROUTE])
        await helper.wait_for(helper_cfg.name, lambda s: s.prefixes_received == 3, 10)

        await first.close("bgpd restarting", graceful=True)
        down = await helper.wait_for(helper_cfg.name, lambda s: not s.established, 5)
        assert down.last_received is not None and (down.last_received.code, down.last_received.subcode) == (
            6,
            4,
        )
        kept = helper.received_routes(helper_cfg.name)
        assert len(kept) == 3 and all(r.stale for r in kept)  # nothing missing, all stale
        assert down.counters["peerRestarts"] == 1 and down.counters["flaps"] == 1
        assert down.graceful_restart is not None and down.graceful_restart.stale_routes == 3

        second = Speaker()
        await second.add_session(ours_cfg, [ROUTES[0], V6_ROUTE], restarting=True)  # node 2 is gone
        swept = await helper.wait_for(
            helper_cfg.name,
            lambda s: s.established and s.graceful_restart.stale_routes == 0,
            15,  # type: ignore[union-attr]
        )
        routes = helper.received_routes(helper_cfg.name)
        assert sorted(r.prefix for r in routes) == ["10.244.1.0/24", "2001:db8:1::/64"]
        assert not any(r.stale for r in routes)
        assert swept.counters["staleRoutesDeleted"] == 1
    finally:
        for one in (helper, first, second):
            if one is not None:
                await one.close()


# ---------------------------------------------------------------------- helper
async def _peer_routes(peer: ScriptedPeer) -> None:
    peer.send(Update(attributes=PEER_ATTRS, nlri=(P1, P2)))
    v6 = Attributes(origin=Origin.IGP, as_path=PEER_ATTRS.as_path)
    peer.send(
        Update(attributes=v6, mp_reach=MpReach(2, 1, ipaddress.IPv6Address("2001:db8::fe").packed, (Q1,)))
    )
    await peer.writer.drain()


def _stale(speaker: Speaker, name: str) -> dict[str, bool]:
    return {r.prefix: r.stale for r in speaker.received_routes(name)}


def _routes_in(count: int) -> Callable[[SessionStatus], bool]:
    return lambda s: s.prefixes_received == count


@pytest.mark.asyncio
async def test_helper_keeps_a_restarting_peers_routes_until_its_end_of_rib(speaker: Speaker) -> None:
    cfg, peer, _ = await passive_session(speaker, gr(), routes=ROUTES)
    await _peer_routes(peer)
    await speaker.wait_for(cfg.name, _routes_in(3), 5)
    peer.reset()  # the peer's process dies: TCP ends without a NOTIFICATION
    down = await speaker.wait_for(cfg.name, lambda s: s.fsm_state == "Idle", 5)
    assert _stale(speaker, cfg.name) == {
        "192.0.2.0/25": True,
        "192.0.2.128/25": True,
        "2001:db8:f::/64": True,
    }
    assert down.graceful_restart is not None and down.graceful_restart.stale_families == (
        "ipv4-unicast",
        "ipv6-unicast",
    )
    assert down.to_control()["gracefulRestart"]["peerRestarting"] is True
    left = down.graceful_restart.stale_seconds_left  # the peer's Restart Time (120 s) runs
    assert left is not None and 115 < left <= 120

    again = await ScriptedPeer.connect(A, cfg.port, B)  # accepted at once: Idle awaiting restart
    await again.handshake(peer_open(ASN_B, B, extra=(gr(restarting=True),)))
    ours = []
    while not any(isinstance(m, Update) and m.end_of_rib_family == V6 for m in ours):
        ours.append(await again.expect(Update))  # we re-send our routes and End-of-RIB too
    assert {p for m in ours if isinstance(m, Update) for p in m.nlri} == {r.prefix for r in ROUTES}
    again.send(Update(attributes=PEER_ATTRS, nlri=(P1,)))  # P1 again, P2 not
    again.send(Update.end_of_rib(V4))
    await again.writer.drain()
    await speaker.wait_for(cfg.name, _routes_in(2), 5)
    assert _stale(speaker, cfg.name) == {"192.0.2.0/25": False, "2001:db8:f::/64": True}  # v6: no EoR yet
    again.send(Update.end_of_rib(V6))
    await again.writer.drain()
    done = await speaker.wait_for(cfg.name, _routes_in(1), 5)  # Q1 was not re-sent: only P1 is left
    assert _stale(speaker, cfg.name) == {"192.0.2.0/25": False}
    assert done.graceful_restart is not None and done.graceful_restart.stale_routes == 0
    assert done.counters["staleRoutesDeleted"] == 2 and done.counters["peerRestarts"] == 1
    again.close()


@pytest.mark.asyncio
async def test_helper_drops_stale_routes_when_the_peer_is_not_back_in_its_restart_time(
    speaker: Speaker,
) -> None:
    cfg, peer, _ = await passive_session(speaker, gr(restart_time=1))
    await _peer_routes(peer)
    await speaker.wait_for(cfg.name, _routes_in(3), 5)
    peer.close()
    await speaker.wait_for(cfg.name, lambda s: s.fsm_state == "Idle" and s.prefixes_received == 3, 5)
    gone = await speaker.wait_for(cfg.name, _routes_in(0), 5)  # RFC 4724 §4.2: the Restart Time ran out
    assert gone.counters["staleRoutesDeleted"] == 3


@pytest.mark.asyncio
async def test_hard_reset_from_the_peer_drops_its_routes_at_once(speaker: Speaker) -> None:
    cfg, peer, _ = await passive_session(speaker, gr())
    await _peer_routes(peer)
    await speaker.wait_for(cfg.name, _routes_in(3), 5)
    peer.send(Notification.hard_reset(Notification(ErrorCode.CEASE, CeaseSub.ADMINISTRATIVE_SHUTDOWN)))
    await peer.writer.drain()
    down = await speaker.wait_for(cfg.name, lambda s: s.fsm_state == "Idle", 5)
    assert down.prefixes_received == 0 and down.counters["peerRestarts"] == 0
    peer.close()


@pytest.mark.asyncio
async def test_new_connection_while_established_is_the_peers_restart(speaker: Speaker) -> None:
    """RFC 4724 §4.2: we had not seen the old connection end; the peer's new one means it did."""
    cfg, old, _ = await passive_session(speaker, gr(notification=False))
    await _peer_routes(old)
    await speaker.wait_for(cfg.name, _routes_in(3), 5)
    new = await ScriptedPeer.connect(A, cfg.port, B)
    ours = await new.handshake(peer_open(ASN_B, B, extra=(gr(notification=False, restarting=True),)))
    assert isinstance(ours, Open)
    assert [m for m in await messages_until_closed(old) if isinstance(m, Notification)] == []
    up = await speaker.wait_for(cfg.name, established, 5)
    assert up.history[-1].reason.value == "open-confirmed"
    assert any(t.reason.value == "peer-restarted" for t in up.history)
    assert set(_stale(speaker, cfg.name).values()) == {True} and up.prefixes_received == 3
    new.close()


@pytest.mark.asyncio
async def test_new_connection_while_established_without_graceful_restart_is_refused(speaker: Speaker) -> None:
    cfg, old, _ = await passive_session(speaker, None)
    new = await ScriptedPeer.connect(A, cfg.port, B)
    new.send(peer_open(ASN_B, B))
    refusal = await new.expect(Notification, skip=(Keepalive, Open))
    assert isinstance(refusal, Notification)
    assert (refusal.code, refusal.subcode) == (6, CeaseSub.CONNECTION_COLLISION_RESOLUTION)
    assert speaker.state(cfg.name).established
    old.close()
    new.close()


# ---------------------------------------------------------------------- refusals during a takeover
@pytest.mark.asyncio
async def test_refusals_in_open_confirm_are_no_flaps(speaker: Speaker) -> None:
    """A ToR that still holds the old gateway's session answers the new holder's OPEN, then sends
    Cease / Connection Collision Resolution. Three refusals in a row: no flap is counted and the
    retries come every ConnectRetryTime (0.5 s here), not after a doubling back-off from 2 s
    (2 + 4 + 8 s for three)."""
    port = free_port()
    listener = ScriptedListener()
    await listener.start(B, port)
    cfg = config(A, B, ASN_A, ASN_B, port, connect_retry_time=0.5, idle_hold_time=2.0, idle_hold_max=16.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await speaker.add_session(cfg)
        for _ in range(3):
            tor = await listener.accept(timeout=5)
            await tor.expect(Open)
            tor.send(peer_open(ASN_B, B, extra=(gr(),)))
            await tor.expect(Keepalive, skip=())
            tor.send(Notification(ErrorCode.CEASE, CeaseSub.CONNECTION_COLLISION_RESOLUTION))
            await tor.writer.drain()
            await tor.closed()
        elapsed = loop.time() - started
        status = await speaker.wait_for(cfg.name, lambda s: s.counters["connectAttempts"] >= 3, 5)
        assert status.counters["flaps"] == 0
        assert elapsed < 6.0, f"three refusals took {elapsed:.1f}s: the back-off grew"
        assert status.last_received is not None and status.last_received.subcode == 7
    finally:
        listener.close()
