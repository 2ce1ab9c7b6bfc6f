"""One record per session: every fact the FSMs emit is handled, and every counter reaches the
status the control socket sends (and so ``bgpctl describe bgpsession``)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import get_args

import pytest

from bgpd.cli.tables import render_describe
from bgpd.fsm import Action, Reason, State, StateChanged
from bgpd.speaker import Speaker
from bgpd.speaker.peer import _EXECUTE
from bgpd.speaker.record import SessionRecord
from bgpd.wire import Update
from bgpd.wire.attributes import MpReach
from bgpd.wire.constants import MARKER, Afi, Safi
from tests.speaker.scripted_peer import ScriptedPeer, free_port, peer_open
from tests.speaker.test_speaker import ASN_A, ASN_B, PEER_ATTRS, A, B, config, established


def test_every_kind_of_action_has_its_handler() -> None:
    assert set(_EXECUTE) == set(get_args(Action))


def test_the_record_keeps_a_bounded_history() -> None:
    record = SessionRecord()
    change = StateChanged(State.CONNECT, State.IDLE, Reason.CONNECT_FAILED)
    for i in range(100):
        record.transition(change, float(i))
    assert len(record.history) == 32 and record.history[-1].at == 99.0 and record.last_report == 99.0


def _raw_update(attributes: bytes, nlri: bytes) -> bytes:
    body = b"\x00\x00" + len(attributes).to_bytes(2, "big") + attributes + nlri
    return MARKER + (19 + len(body)).to_bytes(2, "big") + bytes((2,)) + body


@pytest.mark.asyncio
async def test_ignored_families_and_discarded_attributes_reach_the_operator(speaker: Speaker) -> None:
    """Two counters that used to stop inside the FSM: an UPDATE of a family the session did not
    negotiate (RFC 4760 §7) and one repaired by attribute-discard (RFC 7606 §7.6)."""
    port = free_port()
    cfg = config(A, B, ASN_A, ASN_B, port, passive=True)
    await speaker.add_session(cfg)
    peer = await ScriptedPeer.connect(A, port, B)
    await peer.handshake(peer_open(ASN_B, B, families=((1, 1),)))  # IPv4 unicast only
    await speaker.wait_for(cfg.name, established, 5)
    v6 = MpReach(Afi.IPV6, Safi.UNICAST, ipaddress.IPv6Address("2001:db8::1").packed, ((1 << 127, 1),))
    peer.send(Update(attributes=PEER_ATTRS, mp_reach=v6))
    attrs = bytes.fromhex(
        "40010100"  # ORIGIN IGP
        "40020602010000fdea"  # AS_PATH 65002
        "4003040a0000fe"  # NEXT_HOP 10.0.0.254
        "40060100"  # ATOMIC_AGGREGATE with a length of 1: discarded (RFC 7606 §7.6)
    )
    peer.writer.write(_raw_update(attrs, bytes((24, 192, 0, 2))))
    status = await speaker.wait_for(cfg.name, lambda s: s.prefixes_received == 1, 5)
    counters = status.to_control()["counters"]
    assert counters["updatesIgnoredFamily"] == 1
    assert counters["updatesAttributeDiscard"] == 1
    assert counters["updatesTreatedAsWithdraw"] == 0
    assert counters["messagesIn"]["update"] == 2 and counters["prefixesIn"] == 1
    text = render_describe(status.to_control(), datetime.now(UTC))
    assert "Updates Ignored Family:  1" in text and "Updates Attribute Discard:  1" in text
    peer.close()
