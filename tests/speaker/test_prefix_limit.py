"""Max-prefix on a live session (RFC 4486 §4): counted on the Adj-RIB-In per family, a warning
logged once, Cease 6/1 with AFI/SAFI/limit over the limit, then a hold-down or an operator's reset."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

import pytest
from structlog.testing import capture_logs

from bgpd.plan.session_config import MAX_PREFIXES, SessionConfig
from bgpd.speaker import Speaker
from bgpd.speaker.status import SessionStatus
from bgpd.wire import Keepalive, Notification, Update, encode_message
from bgpd.wire.constants import CeaseSub, ErrorCode
from bgpd.wire.nlri import Prefix
from tests.speaker.scripted_peer import CTX, ScriptedPeer, free_port, peer_open
from tests.speaker.test_speaker import ASN_A, ASN_B, PEER_ATTRS, A, B, config, established

LIMIT = 10
SKIP = (Keepalive, Update)  # the speaker's End-of-RIBs come first


def prefixes(count: int, start: int = 0) -> tuple[Prefix, ...]:
    """``count`` distinct IPv4 /24s."""
    base = int(ipaddress.IPv4Address("100.0.0.0"))
    return tuple((base + ((start + i) << 8), 24) for i in range(count))


def announce(count: int, start: int = 0) -> list[Update]:
    """UPDATEs announcing ``count`` prefixes, 500 per UPDATE (well inside 4096 octets)."""
    all_prefixes = prefixes(count, start)
    return [Update(attributes=PEER_ATTRS, nlri=all_prefixes[i : i + 500]) for i in range(0, count, 500)]


async def up(speaker: Speaker, **options: Any) -> tuple[SessionConfig, ScriptedPeer]:
    cfg = config(A, B, ASN_A, ASN_B, free_port(), passive=True, **options)
    await speaker.add_session(cfg)
    peer = await ScriptedPeer.connect(A, cfg.port, B)
    await peer.handshake(peer_open(ASN_B, B))
    await speaker.wait_for(cfg.name, established, 5)
    return cfg, peer


def over_limit(status: SessionStatus) -> bool:
    return status.prefix_limit.get("state") == "over-limit"


@pytest.mark.asyncio
async def test_over_the_limit_sends_cease_6_1_then_restarts_after_the_hold_down(speaker: Speaker) -> None:
    cfg, peer = await up(speaker, max_prefixes=LIMIT, max_prefixes_warning=50, max_prefixes_restart=0.5)
    peer.send(announce(1)[0])
    await speaker.wait_for(cfg.name, lambda s: s.prefixes_received == 1, 5)
    assert speaker.state(cfg.name).prefix_limit["state"] == "ok"
    peer.send(Update(attributes=PEER_ATTRS, nlri=prefixes(LIMIT - 1, start=1)))  # exactly the limit
    status = await speaker.wait_for(cfg.name, lambda s: s.prefixes_received == LIMIT, 5)
    assert status.established and status.prefix_limit["state"] == "warning"
    peer.send(Update(attributes=PEER_ATTRS, nlri=prefixes(1, start=LIMIT)))  # one more

    cease = await peer.expect(Notification, skip=SKIP)
    assert isinstance(cease, Notification)
    assert (cease.code, cease.subcode) == (ErrorCode.CEASE, CeaseSub.MAXIMUM_PREFIXES_REACHED)
    assert cease.max_prefixes_data == (1, 1, LIMIT)  # ipv4-unicast, the limit (RFC 4486 §4)
    await peer.closed()
    status = await speaker.wait_for(cfg.name, over_limit, 5)
    assert not status.established and status.prefixes_received == 0
    assert status.prefix_limit["restart"].startswith("in ")
    assert status.prefix_limit["lastStop"]["family"] == "ipv4-unicast"
    assert status.prefix_limit["lastStop"]["received"] == LIMIT + 1
    assert status.counters["prefixLimitStops"] == 1 and status.counters["prefixLimitWarnings"] == 1
    assert status.last_error == "sent Cease / Maximum Number of Prefixes Reached: ipv4-unicast, limit 10"
    assert status.to_control()["maxPrefixes"]["limit"] == LIMIT

    # Held down: the peer's connection is refused (Cease 6/5) ...
    again = await ScriptedPeer.connect(A, cfg.port, B)
    refused = await again.expect(Notification)
    assert isinstance(refused, Notification) and refused.subcode == CeaseSub.CONNECTION_REJECTED
    # ... until the hold-down ends: then the (passive) session takes the peer again.
    await speaker.wait_for(cfg.name, lambda s: s.fsm_state == "Active", 5)
    back = await ScriptedPeer.connect(A, cfg.port, B)
    await back.handshake(peer_open(ASN_B, B))
    status = await speaker.wait_for(cfg.name, established, 5)
    assert status.prefix_limit["state"] == "ok"
    back.close()


@pytest.mark.asyncio
async def test_without_restart_the_session_stays_down_until_reset(speaker: Speaker) -> None:
    cfg, peer = await up(speaker, max_prefixes=LIMIT, max_prefixes_restart=0)
    for update in announce(LIMIT + 1):
        peer.send(update)
    await peer.expect(Notification, skip=SKIP)
    status = await speaker.wait_for(cfg.name, over_limit, 5)
    assert status.fsm_state == "Idle" and status.prefix_limit["restart"] == "bgpctl reset"
    assert status.prefix_limit["restartAfterSeconds"] is None


@pytest.mark.asyncio
async def test_the_default_limit_stops_a_flood(speaker: Speaker) -> None:
    """Today's defect: a peer could send millions of prefixes and all were kept. By default a
    session takes ``MAX_PREFIXES`` per family and no more."""
    cfg, peer = await up(speaker)
    assert cfg.max_prefixes == MAX_PREFIXES
    for update in announce(MAX_PREFIXES + 500):
        peer.send(update)
    cease = await peer.expect(Notification, timeout=20, skip=SKIP)
    assert isinstance(cease, Notification) and cease.max_prefixes_data == (1, 1, MAX_PREFIXES)
    status = await speaker.wait_for(cfg.name, over_limit, 5)
    assert status.prefix_limit["lastStop"]["received"] == MAX_PREFIXES + 500  # after that UPDATE
    assert status.prefixes_received == 0 and speaker.received_routes(cfg.name) == []


@pytest.mark.asyncio
async def test_routes_read_after_the_limit_are_dropped_with_the_session(speaker: Speaker) -> None:
    cfg, peer = await up(speaker, max_prefixes=LIMIT, max_prefixes_restart=0)
    over, after = announce(LIMIT + 1)[0], Update(attributes=PEER_ATTRS, nlri=prefixes(1, start=100))
    peer.writer.write(encode_message(over, CTX) + encode_message(after, CTX))  # one read, usually
    await peer.expect(Notification, skip=SKIP)
    await speaker.wait_for(cfg.name, over_limit, 5)
    assert speaker.received_routes(cfg.name) == []


@pytest.mark.asyncio
async def test_treat_as_withdraw_updates_do_not_count(speaker: Speaker) -> None:
    """Counted after RFC 7606: an UPDATE turned into withdrawals adds nothing, even when it names
    more prefixes than the limit."""
    cfg, peer = await up(speaker, max_prefixes=LIMIT)
    wire = bytearray(encode_message(announce(LIMIT + 5)[0], CTX))
    wire[wire.index(bytes((0x40, 1, 1))) + 3] = 9  # ORIGIN 9: RFC 7606 §7.1 treat-as-withdraw
    peer.writer.write(bytes(wire))
    status = await speaker.wait_for(cfg.name, lambda s: s.counters["updatesTreatedAsWithdraw"] == 1, 5)
    assert status.established and status.counters["prefixLimitStops"] == 0
    peer.close()


@pytest.mark.asyncio
async def test_the_warning_is_logged_once_however_often_it_is_crossed(speaker: Speaker) -> None:
    cfg, peer = await up(speaker, max_prefixes=LIMIT, max_prefixes_warning=50)
    with capture_logs() as logs:
        for round_ in range(3):
            peer.send(Update(attributes=PEER_ATTRS, nlri=prefixes(6)))
            await speaker.wait_for(cfg.name, lambda s: s.prefixes_received == 6, 5)
            peer.send(Update(withdrawn=prefixes(6)))
            await speaker.wait_for(cfg.name, lambda s: s.prefixes_received == 0, 5)
            assert speaker.state(cfg.name).counters["prefixLimitWarnings"] == round_ + 1
    warnings = [e for e in logs if e["event"] == "prefix_limit_warning"]
    assert len(warnings) == 1 and warnings[0]["warning_at"] == 5 and warnings[0]["limit"] == LIMIT
    peer.close()


@pytest.mark.asyncio
async def test_a_lower_limit_on_reload_applies_to_what_the_session_holds(speaker: Speaker) -> None:
    cfg, peer = await up(speaker, max_prefixes=LIMIT)
    peer.send(Update(attributes=PEER_ATTRS, nlri=prefixes(8)))
    await speaker.wait_for(cfg.name, lambda s: s.prefixes_received == 8, 5)
    lower = config(A, B, ASN_A, ASN_B, cfg.port, passive=True, max_prefixes=5)
    await speaker.reconfigure_session(cfg.name, lower)
    cease = await peer.expect(Notification, skip=SKIP)
    assert isinstance(cease, Notification) and cease.max_prefixes_data == (1, 1, 5)


@pytest.mark.asyncio
async def test_no_limit_when_set_to_zero(speaker: Speaker) -> None:
    cfg, peer = await up(speaker, max_prefixes=0)
    for update in announce(MAX_PREFIXES + 1):
        peer.send(update)
    status = await speaker.wait_for(cfg.name, lambda s: s.prefixes_received == MAX_PREFIXES + 1, 20)
    assert status.established and status.prefix_limit["limit"] is None
    peer.close()


@pytest.mark.asyncio
async def test_a_reload_does_not_end_the_hold_down(speaker: Speaker) -> None:
    """Reconfiguring restarts a session that is only trying to connect, but not one its prefix
    limit stopped: that takes the hold-down's end or ``bgpctl reset``."""
    cfg, peer = await up(speaker, max_prefixes=LIMIT, max_prefixes_restart=0)
    for update in announce(LIMIT + 1):
        peer.send(update)
    await peer.expect(Notification, skip=SKIP)
    await speaker.wait_for(cfg.name, over_limit, 5)
    await speaker.reconfigure_session(
        cfg.name, dataclasses.replace(cfg, connect_retry_time=7.0, max_prefixes=50)
    )
    status = speaker.state(cfg.name)
    assert status.fsm_state == "Idle" and over_limit(status) and status.prefix_limit["limit"] == 50
