"""Every NOTIFICATION sent or received is logged, with its text, the session and the peer; the
same one again is counted rather than logged (refusals of incoming connections too, since a peer
decides how often they happen), and the count is logged when that changes."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from bgpd.speaker import Speaker
from bgpd.wire import Keepalive, Notification, Open, Update
from bgpd.wire.constants import CeaseSub, ErrorCode
from tests.speaker.scripted_peer import ScriptedListener, ScriptedPeer, free_port, peer_open
from tests.speaker.test_speaker import ASN_A, ASN_B, A, B, config, established, up_passive_session


def notifications(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == event]


async def refused(port: int, subcode: int, text: str | None = None) -> None:
    peer = await ScriptedPeer.connect(A, port, B)
    note = await peer.expect(Notification)
    assert isinstance(note, Notification) and (note.code, note.subcode) == (ErrorCode.CEASE, subcode)
    assert note.shutdown_message == text
    await peer.closed()


@pytest.mark.asyncio
async def test_refusals_while_shut_down_say_why_and_are_logged_once_then_counted(speaker: Speaker) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
    with capture_logs() as logs:
        await speaker.add_session(cfg)
        await speaker.shutdown_session(cfg.name, "maintenance")
        for _ in range(3):  # the peer keeps trying while the session is down: it hears why (RFC 9003)
            await refused(port, CeaseSub.ADMINISTRATIVE_SHUTDOWN, "maintenance")
        assert len(notifications(logs, "notification_sent")) == 1  # three refusals, one line
        speaker.start_session(cfg.name)  # the episode ends: the count comes out
    sent = notifications(logs, "notification_sent")
    text = 'Cease / Administrative Shutdown: "maintenance"'
    assert [(e["session"], e["peer"], e["text"], e["reason"], e.get("repeated")) for e in sent] == [
        (cfg.name, B, text, "incoming connection refused", None),
        (cfg.name, B, text, "incoming connection refused", 2),
    ]
    assert speaker.state(cfg.name).counters["messagesOut"]["notification"] == 3


@pytest.mark.asyncio
async def test_a_session_added_held_down_refuses_with_its_shutdown_text(speaker: Speaker) -> None:
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
    await speaker.add_session(cfg, shutdown="ToR maintenance")
    await refused(port, CeaseSub.ADMINISTRATIVE_SHUTDOWN, "ToR maintenance")
    assert speaker.state(cfg.name).admin_down
    speaker.start_session(cfg.name)
    second = await ScriptedPeer.connect(A, port, B)
    await second.handshake(peer_open(ASN_B, B))
    await speaker.wait_for(cfg.name, established, 5)
    second.close()


@pytest.mark.asyncio
async def test_a_second_connection_while_established_is_logged(speaker: Speaker) -> None:
    with capture_logs() as logs:
        cfg, first = await up_passive_session(speaker)
        await refused(cfg.port, CeaseSub.CONNECTION_COLLISION_RESOLUTION)
        first.close()
    sent = notifications(logs, "notification_sent")
    assert [(e["session"], e["peer"], e["text"]) for e in sent] == [
        (cfg.name, B, "Cease / Connection Collision Resolution")
    ]


@pytest.mark.asyncio
async def test_notifications_of_a_session_are_logged_once_each_way(speaker: Speaker) -> None:
    with capture_logs() as logs:
        cfg, peer = await up_passive_session(speaker)
        peer.send(Notification(ErrorCode.CEASE, CeaseSub.ADMINISTRATIVE_SHUTDOWN))
        await peer.closed()
        await speaker.wait_for(cfg.name, lambda s: not s.established, 5)
        second = await ScriptedPeer.connect(A, cfg.port, B)
        await second.handshake(peer_open(ASN_B, B))
        await speaker.wait_for(cfg.name, established, 5)
        await speaker.remove_session(cfg.name)
        note = await second.expect(Notification, skip=(Keepalive, Update))
        assert isinstance(note, Notification) and note.subcode == CeaseSub.PEER_DECONFIGURED
        second.close()
    received = notifications(logs, "notification_received")
    assert [(e["session"], e["peer"], e["text"]) for e in received] == [
        (cfg.name, B, "Cease / Administrative Shutdown")
    ]
    sent = notifications(logs, "notification_sent")
    assert [(e["session"], e["peer"], e["text"]) for e in sent] == [
        (cfg.name, B, "Cease / Peer De-configured")
    ]


@pytest.mark.asyncio
async def test_notifications_on_a_colliding_connection_are_logged_once_each_way(speaker: Speaker) -> None:
    """RFC 4271 §6.8: the second connection has an FSM of its own; what it receives and sends is
    logged like the session's own NOTIFICATIONs, marked as the collision's, and leaves the
    session's reported state (state, history, last NOTIFICATIONs) to the session's connection."""
    port = free_port()
    listener = ScriptedListener()
    await listener.start(B, port)
    try:
        cfg = config(A, B, ASN_A, ASN_B, port, connect_retry_time=30)  # A's id: 127.0.0.1
        with capture_logs() as logs:
            await speaker.add_session(cfg)
            outgoing = await listener.accept()
            assert isinstance(await outgoing.expect(Open), Open)  # the session is in OpenSent
            before = speaker.state(cfg.name)
            quitter = await ScriptedPeer.connect(A, port, B)  # collides, then gives up on its own
            assert isinstance(await quitter.expect(Open), Open)
            quitter.send(Notification(ErrorCode.CEASE, CeaseSub.OUT_OF_RESOURCES))
            await quitter.closed()
            loser = await ScriptedPeer.connect(A, port, B)  # collides, lower BGP Identifier: dumped
            assert isinstance(await loser.expect(Open), Open)
            loser.send(peer_open(ASN_B, "127.0.0.0"))
            note = await loser.expect(Notification)
            assert isinstance(note, Notification) and note.subcode == CeaseSub.CONNECTION_COLLISION_RESOLUTION
            await loser.closed()
            during = speaker.state(cfg.name)
            outgoing.send(peer_open(ASN_B, "127.0.0.0"))
            outgoing.send(Keepalive())
            status = await speaker.wait_for(cfg.name, established, 5)
            outgoing.close()
        received = notifications(logs, "notification_received")
        assert [(e["session"], e["peer"], e["text"], e.get("connection")) for e in received] == [
            (cfg.name, B, "Cease / Out of Resources", "collision")
        ]
        sent = notifications(logs, "notification_sent")
        assert [(e["session"], e["peer"], e["text"], e.get("connection")) for e in sent] == [
            (cfg.name, B, "Cease / Connection Collision Resolution", "collision")
        ]
        assert during.fsm_state == before.fsm_state == "OpenSent" and during.history == before.history
        assert status.last_received is None and status.last_sent is None and status.last_error is None
        assert status.counters["collisions"] == 1
    finally:
        listener.close()
