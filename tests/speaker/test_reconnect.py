"""A peer that was down comes back: with the default timers (no test speed-ups), our session takes
the peer's own connection at once instead of refusing it until a grown back-off runs out.

RFC 4271 §8.1.1 DampPeerOscillations weighs session flaps only; failed connection attempts retry
after ConnectRetryTime, and an Idle session awaiting its automatic restart accepts the peer's
connection (event 5, then 17). Loopback only; every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from bgpd.speaker import Speaker
from bgpd.speaker.peer import fsm_config
from bgpd.speaker.status import SessionStatus
from tests.speaker.scripted_peer import free_port
from tests.speaker.test_speaker import ASN_A, ASN_B, A, B, config, established

FAILED_ATTEMPTS = 2  # connection attempts that must fail while the peer is away


@pytest_asyncio.fixture
async def three() -> AsyncIterator[tuple[Speaker, Speaker, Speaker]]:
    spk = (Speaker(), Speaker(), Speaker())
    try:
        yield spk
    finally:
        for one in spk:
            await one.close()


def _failed_and_waiting(attempts: int) -> Callable[[SessionStatus], bool]:
    def check(status: SessionStatus) -> bool:
        return status.counters["connectAttempts"] >= attempts and status.fsm_state == "Idle"

    return check


@pytest.mark.asyncio
async def test_peer_back_after_outage_is_accepted_with_default_timers(
    three: tuple[Speaker, Speaker, Speaker],
) -> None:
    ours, peer, peer_again = three
    port = free_port()
    a_cfg = config(A, B, ASN_A, ASN_B, port)
    b_cfg = config(B, A, ASN_B, ASN_A, port, passive=True)
    # the shipped defaults, not test speed-ups
    assert (a_cfg.connect_retry_time, a_cfg.idle_hold_time, a_cfg.idle_hold_max) == (5.0, 5.0, 120.0)
    assert a_cfg.damp_peer_oscillations and a_cfg.delay_open_time == 0.0

    await peer.add_session(b_cfg)
    await ours.add_session(a_cfg)
    await ours.wait_for(a_cfg.name, established, 10)

    await peer.close("maintenance")  # the peer goes away: a session flap, then refused connects
    down = await ours.wait_for(a_cfg.name, lambda s: s.fsm_state == "Idle", 5)
    attempts = down.counters["connectAttempts"]
    # The flap's IdleHoldTime (5 s), then one refused attempt per ConnectRetryTime (5 s): no growth.
    bound = a_cfg.idle_hold_time + FAILED_ATTEMPTS * a_cfg.connect_retry_time + 3.0
    loop = asyncio.get_running_loop()
    status = await ours.wait_for(a_cfg.name, _failed_and_waiting(attempts + FAILED_ATTEMPTS), bound)
    assert status.last_error is not None and "connect" in status.last_error
    accepted = status.counters["connectionsAccepted"]

    # The peer comes back as the active side, right after one of our attempts failed: our next
    # attempt is ConnectRetryTime away, so only accepting its connection brings the session up sooner.
    failed_at = loop.time()
    await peer_again.add_session(config(B, A, ASN_B, ASN_A, port))
    up = await ours.wait_for(a_cfg.name, established, 3)
    assert loop.time() - failed_at < a_cfg.connect_retry_time
    assert up.counters["connectionsAccepted"] == accepted + 1
    assert up.counters["connectAttempts"] == status.counters["connectAttempts"]  # not our own connect
    assert up.last_sent is None  # nothing refused with Cease 6/5
    await peer_again.wait_for(b_cfg.name, established, 3)


def test_session_config_pacing_reaches_the_fsm() -> None:
    cfg = config(
        A, B, ASN_A, ASN_B, 179, delay_open_time=3.0, idle_hold_time=7.0, damp_peer_oscillations=False
    )
    fsm = fsm_config(cfg)
    assert (fsm.delay_open_time, fsm.idle_hold_time, fsm.damp_peer_oscillations) == (3.0, 7.0, False)
    assert fsm.connect_retry_time == cfg.connect_retry_time and fsm.idle_hold_max == cfg.idle_hold_max


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delay_open_time": -1.0}, "delay open time"),
        ({"idle_hold_time": 0.0}, "idle hold time"),
        ({"idle_hold_time": 200.0}, "idle hold time"),
    ],
)
def test_session_config_rejects_bad_pacing(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(A, B, ASN_A, ASN_B, 179, **options)
