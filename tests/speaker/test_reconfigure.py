"""Connection-level settings applied to a running session without a flap (``reconfigure_session``)."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket

import pytest

from bgpd.speaker import Speaker
from bgpd.speaker.status import SessionStatus
from bgpd.wire import Keepalive, Notification, Open, Update
from bgpd.wire.constants import CeaseSub
from tests.speaker.scripted_peer import ScriptedListener, ScriptedPeer, free_port, peer_open
from tests.speaker.test_speaker import ASN_A, ASN_B, A, B, config, established, up_passive_session

C = "127.0.0.3"


def live_ttl(speaker: Speaker, name: str) -> int:
    conn = speaker._task(name).connection
    assert conn is not None and conn.transport is not None
    ttl: int = conn.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_IP, socket.IP_TTL)
    return ttl


def listener_ttl(speaker: Speaker, local: str, port: int) -> int:
    listener = speaker._listeners[(ipaddress.ip_address(local), port)]
    assert listener._server is not None
    ttl: int = listener._server.sockets[0].getsockopt(socket.IPPROTO_IP, socket.IP_TTL)
    return ttl


@pytest.mark.asyncio
async def test_an_established_session_keeps_its_connection_and_gets_the_new_ttl(speaker: Speaker) -> None:
    cfg, peer = await up_passive_session(speaker)
    assert live_ttl(speaker, cfg.name) == 1
    new = dataclasses.replace(cfg, ttl=4, connect_retry_time=30.0, passive=False, freebind=True)
    await speaker.reconfigure_session(cfg.name, new)
    status = speaker.state(cfg.name)
    assert status.established and status.counters["flaps"] == 0
    assert speaker.config(cfg.name) == new
    assert live_ttl(speaker, cfg.name) == 4  # applied to the live socket
    # The peer was told nothing: the first NOTIFICATION it gets is the one of the removal.
    await speaker.remove_session(cfg.name)
    note = await peer.expect(Notification, skip=(Keepalive, Update))
    assert isinstance(note, Notification) and note.subcode == CeaseSub.PEER_DECONFIGURED
    peer.close()


@pytest.mark.asyncio
async def test_a_new_port_moves_the_session_to_that_ports_listener(speaker: Speaker) -> None:
    old_port, new_port = free_port(), free_port()
    cfg = config(A, B, ASN_A, ASN_B, old_port, passive=True)
    await speaker.add_session(cfg)
    await speaker.reconfigure_session(cfg.name, dataclasses.replace(cfg, port=new_port))
    with pytest.raises(ConnectionRefusedError):  # the old port's listener went with its last session
        await asyncio.open_connection(A, old_port, local_addr=(B, 0))
    peer = await ScriptedPeer.connect(A, new_port, B)
    await peer.handshake(peer_open(ASN_B, B))
    await speaker.wait_for(cfg.name, established, 5)
    peer.close()


@pytest.mark.asyncio
async def test_a_session_still_connecting_tries_the_new_port_at_once(speaker: Speaker) -> None:
    dead_port, live_port = free_port(), free_port()
    cfg = config(A, B, ASN_A, ASN_B, dead_port, connect_retry_time=60.0)
    await speaker.add_session(cfg)

    def failed_once(status: SessionStatus) -> bool:  # refused: waiting to retry (Idle or Active)
        return status.counters["connectAttempts"] >= 1 and status.fsm_state in ("Idle", "Active")

    await speaker.wait_for(cfg.name, failed_once, 5)
    router = ScriptedListener()
    await router.start(B, live_port)
    try:
        await speaker.reconfigure_session(cfg.name, dataclasses.replace(cfg, port=live_port))
        peer = await router.accept(timeout=5)  # long before the 60 s ConnectRetryTimer
        assert isinstance(await peer.expect(Open), Open)
        assert speaker.state(cfg.name).counters["flaps"] == 0
        peer.close()
    finally:
        router.close()


@pytest.mark.asyncio
async def test_a_passive_session_becomes_active_while_waiting(speaker: Speaker) -> None:
    port = free_port()
    router = ScriptedListener()
    await router.start(B, port)
    try:
        cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
        await speaker.add_session(cfg)
        assert speaker.state(cfg.name).counters["connectAttempts"] == 0
        await speaker.reconfigure_session(cfg.name, dataclasses.replace(cfg, passive=False))
        peer = await router.accept(timeout=5)
        assert isinstance(await peer.expect(Open), Open)
        peer.close()
    finally:
        router.close()


@pytest.mark.asyncio
async def test_the_listener_ttl_is_the_largest_of_its_sessions(speaker: Speaker) -> None:
    port = free_port()
    direct = config(A, B, ASN_A, ASN_B, port, passive=True)
    await speaker.add_session(direct)
    assert listener_ttl(speaker, A, port) == 1
    multihop = config(A, C, ASN_A, ASN_B, port, passive=True, ttl=5)
    await speaker.add_session(multihop)
    assert listener_ttl(speaker, A, port) == 5
    await speaker.reconfigure_session(multihop.name, dataclasses.replace(multihop, ttl=3))
    assert listener_ttl(speaker, A, port) == 3
    await speaker.remove_session(multihop.name)
    assert listener_ttl(speaker, A, port) == 1


@pytest.mark.asyncio
async def test_a_new_address_pair_is_not_a_reconfiguration(speaker: Speaker) -> None:
    cfg = config(A, B, ASN_A, ASN_B, free_port(), passive=True)
    await speaker.add_session(cfg)
    with pytest.raises(ValueError, match="new session"):
        await speaker.reconfigure_session(cfg.name, dataclasses.replace(cfg, peer_ip=ipaddress.ip_address(C)))
    assert speaker.config(cfg.name) == cfg


@pytest.mark.asyncio
async def test_a_port_whose_listener_cannot_open_changes_nothing(speaker: Speaker) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
    await speaker.add_session(cfg)
    with socket.socket() as squatter:  # someone else holds the new port
        squatter.bind((A, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        with pytest.raises(OSError):
            await speaker.reconfigure_session(cfg.name, dataclasses.replace(cfg, port=taken))
    assert speaker.config(cfg.name) == cfg
    peer = await ScriptedPeer.connect(A, port, B)  # still served on the old port
    await peer.handshake(peer_open(ASN_B, B))
    await speaker.wait_for(cfg.name, established, 5)
    peer.close()


@pytest.mark.asyncio
async def test_a_new_send_hold_time_reaches_the_live_connection(speaker: Speaker) -> None:
    """RFC 9687: ``sendHoldTime`` is connection-level; the default is max(480, 2 × hold time)."""
    cfg, peer = await up_passive_session(speaker)  # the scripted peer offers hold time 9
    conn = speaker._task(cfg.name).connection
    assert conn is not None and conn.send_hold_time == 480.0
    await speaker.reconfigure_session(cfg.name, dataclasses.replace(cfg, send_hold_time=30.0))
    assert conn.send_hold_time == 30.0 and speaker.state(cfg.name).established
    await speaker.reconfigure_session(cfg.name, dataclasses.replace(cfg, send_hold_time=0.0))
    assert conn.send_hold_time == 0.0  # off
    peer.close()
