"""OPEN checks in OpenSent (RFC 4271 §6.2): the exact NOTIFICATION code, subcode and data."""

from __future__ import annotations

import dataclasses

import pytest

from bgpd.fsm import BytesReceived, FsmConfig, OpenReceived, Reason, State, Timer
from bgpd.fsm.negotiation import build_open
from bgpd.wire.capabilities import FourOctetAs, Multiprotocol
from bgpd.wire.constants import AS_TRANS, MARKER
from bgpd.wire.open import Open

from ._helpers import CFG_A, ID_A, PEER_OPEN, notifications, session_in


def _reject(open_msg: Open, config: FsmConfig = CFG_A) -> tuple[int, int, bytes]:
    session = session_in(State.OPEN_SENT, config)
    actions = session.handle(OpenReceived(open_msg), 1.0)
    assert session.state is State.IDLE and session.reason is Reason.OPEN_REJECTED
    (sent,) = notifications(actions)
    return sent.code, sent.subcode, sent.data


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"version": 3}, (2, 1, b"\x00\x04")),  # data: the version we support, 2 octets
        ({"my_as": 65099, "capabilities": (FourOctetAs(65099),)}, (2, 2, b"")),
        ({"my_as": 65003}, (2, 2, b"")),  # 2-octet field disagrees with the 4-octet capability
        ({"bgp_id": 0}, (2, 3, b"")),
        ({"hold_time": 1}, (2, 6, b"")),
        ({"hold_time": 2}, (2, 6, b"")),
    ],
    ids=["version", "peer-as", "my-as-vs-capability", "bgp-id-zero", "hold-1", "hold-2"],
)
def test_open_rejected(change: dict[str, object], expected: tuple[int, int, bytes]) -> None:
    assert _reject(dataclasses.replace(PEER_OPEN, **change)) == expected


def test_ibgp_peer_with_our_identifier_is_rejected() -> None:
    config = dataclasses.replace(CFG_A, peer_as=65001)
    peer = Open(65001, 90, ID_A, (FourOctetAs(65001),))
    assert _reject(peer, config) == (2, 3, b"")


def test_ebgp_peer_may_share_our_identifier() -> None:
    session = session_in(State.OPEN_SENT)
    session.handle(OpenReceived(dataclasses.replace(PEER_OPEN, bgp_id=ID_A)), 1.0)
    assert session.state is State.OPEN_CONFIRM


def test_four_octet_peer_as_via_as_trans() -> None:
    config = dataclasses.replace(CFG_A, peer_as=4200000001)
    session = session_in(State.OPEN_SENT, config)
    peer = Open(AS_TRANS, 90, 0x0A000009, (FourOctetAs(4200000001),))
    session.handle(OpenReceived(peer), 1.0)
    assert session.state is State.OPEN_CONFIRM
    assert session.negotiated is not None and session.negotiated.peer_as == 4200000001


def test_our_four_octet_as_goes_as_as_trans() -> None:
    config = dataclasses.replace(CFG_A, local_as=4200000001)
    session = session_in(State.OPEN_SENT, config)
    our_open = build_open(config)
    assert our_open.my_as == AS_TRANS and our_open.asn == 4200000001
    raw = session.encode(our_open)
    assert raw[20:22] == AS_TRANS.to_bytes(2, "big")


def test_any_peer_as_when_not_configured() -> None:
    config = dataclasses.replace(CFG_A, peer_as=None)
    session = session_in(State.OPEN_SENT, config)
    session.handle(OpenReceived(dataclasses.replace(PEER_OPEN, my_as=65123, capabilities=())), 1.0)
    assert session.state is State.OPEN_CONFIRM


def test_hold_time_zero_means_no_hold_and_no_keepalive_timer() -> None:
    session = session_in(State.OPEN_SENT)
    session.handle(OpenReceived(dataclasses.replace(PEER_OPEN, hold_time=0)), 1.0)
    assert session.state is State.OPEN_CONFIRM
    assert session.negotiated is not None and session.negotiated.hold_time == 0
    assert not session.timers.running(Timer.HOLD) and not session.timers.running(Timer.KEEPALIVE)
    assert session.next_deadline() is None


def test_hold_time_three_is_the_minimum_accepted() -> None:
    session = session_in(State.OPEN_SENT)
    session.handle(OpenReceived(dataclasses.replace(PEER_OPEN, hold_time=3)), 1.0)
    assert session.negotiated is not None
    assert (session.negotiated.hold_time, session.negotiated.keepalive_time) == (3, 1.0)
    assert session.timers.deadline(Timer.HOLD) == 4.0


def test_open_sent_holds_four_minutes() -> None:
    session = session_in(State.OPEN_SENT, now=10.0)
    assert session.timers.deadline(Timer.HOLD) == 10.0 + 240.0  # RFC 4271 §8.2.2


def test_unsupported_optional_parameter_from_the_codec() -> None:
    """An optional parameter of type 1 (not Capabilities): 2/4 with the parameter as data."""
    session = session_in(State.OPEN_SENT)
    param = bytes((1, 2, 0xAB, 0xCD))
    body = bytes((4,)) + (65002).to_bytes(2, "big") + (90).to_bytes(2, "big") + bytes((10, 0, 0, 2))
    body += bytes((len(param),)) + param
    raw = MARKER + (19 + len(body)).to_bytes(2, "big") + bytes((1,)) + body
    actions = session.handle(BytesReceived(raw), 1.0)
    assert [(n.code, n.subcode, n.data) for n in notifications(actions)] == [(2, 4, param)]
    assert session.state is State.IDLE


def test_custom_keepalive_time() -> None:
    config = dataclasses.replace(CFG_A, keepalive_time=10.0)
    session = session_in(State.OPEN_SENT, config)
    session.handle(OpenReceived(dataclasses.replace(PEER_OPEN, capabilities=(Multiprotocol(1, 1),))), 0.0)
    assert session.negotiated is not None and session.negotiated.keepalive_time == 10.0
    assert session.timers.deadline(Timer.KEEPALIVE) == 10.0
