"""Connection attempts to one peer go a window at a time; the window follows the peer's pace; the
FSM's retry and keepalive timers are jittered (RFC 4271 §10)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from bgpd.fsm.timers import Timer, Timers
from bgpd.speaker import Speaker, connect_gate
from bgpd.speaker.connect_gate import INITIAL_WINDOW, ConnectGate
from tests.speaker.scripted_peer import free_port
from tests.speaker.test_speaker import ASN_A, ASN_B, config


class Attempts:
    def __init__(self, gate: ConnectGate, count: int) -> None:
        self.started: list[int] = []
        self.admissions = [gate.enter(lambda n=n: self.started.append(n)) for n in range(count)]


@pytest.mark.asyncio
async def test_at_most_a_window_in_flight_and_the_rest_in_order() -> None:
    gate = ConnectGate(asyncio.get_running_loop(), window=3)
    attempts = Attempts(gate, 7)
    assert attempts.started == [0, 1, 2] and gate.in_flight == 3 and gate.waiting == 4
    attempts.admissions[1].cancel()  # refused: the window stays, the place goes to the next
    assert attempts.started == [0, 1, 2, 3] and gate.window == 3
    attempts.admissions[5].cancel()  # still waiting: it just leaves the queue
    attempts.admissions[0].cancel()
    assert attempts.started == [0, 1, 2, 3, 4]
    attempts.admissions[0].done()  # over already: nothing happens twice
    assert gate.in_flight == 3 and gate.waiting == 1


@pytest.mark.asyncio
async def test_fast_handshakes_widen_the_window() -> None:
    gate = ConnectGate(asyncio.get_running_loop(), window=2)
    attempts = Attempts(gate, 10)
    for admission in attempts.admissions[:2]:
        admission.done()  # at once: fast
    assert gate.window == 4  # slow start: one more per fast handshake
    assert attempts.started == [0, 1, 2, 3, 4, 5]


@pytest.mark.asyncio
async def test_a_slow_handshake_halves_the_window_once_and_frees_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connect_gate, "SLOW", 0.05)
    gate = ConnectGate(asyncio.get_running_loop(), window=4)
    attempts = Attempts(gate, 12)
    assert attempts.started == [0, 1, 2, 3]
    await asyncio.sleep(0.08)  # none of the four finished its handshake in time
    assert gate.window == 2  # one halving for the burst, not four
    assert attempts.started == [0, 1, 2, 3, 4, 5]  # the slow ones no longer count
    for admission in attempts.admissions[4:6]:
        admission.done()  # fast again: after a cut the window grows by 1/window per handshake
    assert gate.window == pytest.approx(2 + 1 / 2 + 1 / 2.5)


def test_jitter_scales_retry_keepalive_and_idle_hold_only() -> None:
    timers = Timers(lambda: 0.8)
    for timer in Timer:
        timers.start(timer, 100.0, 10.0)
    deadlines = timers.snapshot()
    assert deadlines[Timer.CONNECT_RETRY] == deadlines[Timer.KEEPALIVE] == deadlines[Timer.IDLE_HOLD] == 108.0
    assert deadlines[Timer.HOLD] == deadlines[Timer.DELAY_OPEN] == 110.0
    exact = Timers()
    exact.start(Timer.CONNECT_RETRY, 100.0, 10.0)
    assert exact.deadline(Timer.CONNECT_RETRY) == 110.0


@pytest.mark.asyncio
async def test_many_sessions_to_a_peer_that_does_not_accept_connect_a_window_at_a_time(
    speaker: Speaker,
) -> None:
    port = free_port()
    with socket.socket() as deaf:  # listens, never accepts: connects pile up in its queue
        deaf.bind(("127.0.0.200", port))
        deaf.listen(1)
        names = []
        for n in range(20):
            cfg = config(f"127.0.0.{10 + n}", "127.0.0.200", ASN_A, ASN_B, port)
            await speaker.add_session(cfg)
            names.append(cfg.name)
        await asyncio.sleep(0.5)  # less than SLOW: nothing was found slow yet
        attempts = sum(speaker.state(name).counters["connectAttempts"] for name in names)
    assert attempts == INITIAL_WINDOW
