"""Two speakers on loopback with TCP-MD5 and GTSM: matching settings peer, anything else never gets
past the kernel; and the key shows up nowhere (status, logs, reprs)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from structlog.testing import capture_logs

from bgpd.plan.secret import Secret
from bgpd.speaker import Speaker
from tests.speaker.scripted_peer import free_port
from tests.speaker.test_speaker import ASN_A, ASN_B, A, B, config, established

PASSWORD = b"correct horse battery staple"
NEVER_UP = 3.0  # several connect retries at 0.2 s, each refused by the kernel


async def pair(one: Speaker, two: Speaker, a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str]:
    port = free_port()
    a_cfg = config(A, B, ASN_A, ASN_B, port, connect_retry_time=0.2, **a)
    b_cfg = config(B, A, ASN_B, ASN_A, port, passive=True, **b)
    await two.add_session(b_cfg)
    await one.add_session(a_cfg)
    return a_cfg.name, b_cfg.name


async def never_established(speaker: Speaker, name: str) -> None:
    with pytest.raises(TimeoutError):
        await speaker.wait_for(name, established, NEVER_UP)


@pytest.mark.asyncio
async def test_matching_md5_passwords_peer_and_the_key_is_never_shown(
    speakers: tuple[Speaker, Speaker],
) -> None:
    one, two = speakers
    key = Secret(PASSWORD, "passwordFile /etc/bgpd/tor.key")
    with capture_logs() as logs:
        a, b = await pair(one, two, {"password": key}, {"password": Secret(PASSWORD)})
        await one.wait_for(a, established, 10)
        await two.wait_for(b, established, 10)
    status = one.state(a)
    assert status.security == {"tcpMd5": True, "gtsm": False, "ttl": 1, "minTtl": None}
    shown = json.dumps(status.to_control()) + repr(one.config(a)) + repr(logs) + str(one.config(a))
    assert PASSWORD.decode() not in shown and "passwordFile /etc/bgpd/tor.key" in repr(one.config(a))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"password": Secret(b"one")}, {"password": Secret(b"two")}),
        ({"password": Secret(b"one")}, {}),
        ({}, {"password": Secret(b"two")}),
    ],
    ids=["different-keys", "only-active-side", "only-passive-side"],
)
async def test_md5_mismatch_never_gets_established(
    speakers: tuple[Speaker, Speaker], a: dict[str, Any], b: dict[str, Any]
) -> None:
    one, two = speakers
    a_name, b_name = await pair(one, two, a, b)
    await never_established(one, a_name)
    assert not two.state(b_name).established
    assert one.state(a_name).counters["connectAttempts"] >= 2  # it kept trying; the kernel refused


@pytest.mark.asyncio
async def test_gtsm_on_both_sides_peers(speakers: tuple[Speaker, Speaker]) -> None:
    one, two = speakers
    a, _ = await pair(one, two, {"ttl_security": True}, {"ttl_security": True})
    await one.wait_for(a, established, 10)
    assert one.state(a).security == {"tcpMd5": False, "gtsm": True, "ttl": 255, "minTtl": 255}


@pytest.mark.asyncio
@pytest.mark.parametrize("gtsm_side", ["active", "passive"])
async def test_gtsm_on_one_side_only_never_gets_established(
    speakers: tuple[Speaker, Speaker], gtsm_side: str
) -> None:
    """The side without GTSM sends TTL 1; the GTSM side drops it (RFC 5082 §3)."""
    one, two = speakers
    on = {"ttl_security": True}
    a, _ = await pair(one, two, on if gtsm_side == "active" else {}, on if gtsm_side == "passive" else {})
    await never_established(one, a)


@pytest.mark.asyncio
async def test_md5_and_gtsm_together_on_a_shared_listener(speakers: tuple[Speaker, Speaker]) -> None:
    """Two sessions on one listener: one with MD5 + GTSM, one plain; both come up (the listener
    holds the first one's key and the lowest minimum TTL, each connection gets its own)."""
    one, two = speakers
    port = free_port()
    secured = {"password": Secret(PASSWORD), "ttl_security": True}
    await two.add_session(config(B, A, ASN_B, ASN_A, port, passive=True, **secured))
    await two.add_session(config(B, "127.0.0.3", ASN_B, ASN_A, port, passive=True))
    await one.add_session(config(A, B, ASN_A, ASN_B, port, connect_retry_time=0.2, **secured))
    await one.add_session(config("127.0.0.3", B, ASN_A, ASN_B, port, connect_retry_time=0.2))
    await asyncio.gather(
        one.wait_for(f"{A}->{B}", established, 10), one.wait_for(f"127.0.0.3->{B}", established, 10)
    )
