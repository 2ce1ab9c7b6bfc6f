"""The loop-lag probe sees the loop held up, and keeps the worst since start."""

from __future__ import annotations

import asyncio
import time

import pytest

from bgpd.daemon.looplag import LoopLagProbe


async def _ticks(probe: LoopLagProbe, count: int) -> None:
    target = probe.ticks + count
    async with asyncio.timeout(10):
        while probe.ticks < target:
            await asyncio.sleep(probe.interval)


@pytest.mark.asyncio
async def test_a_blocked_loop_shows_as_lag_and_the_maximum_stays() -> None:
    probe = LoopLagProbe(interval=0.01)
    probe.start()
    try:
        await _ticks(probe, 1)
        asyncio.get_running_loop().call_soon(time.sleep, 0.2)  # a stall, as a slow handler would be
        await _ticks(probe, 1)
        assert probe.max >= 0.1  # the tick due during the stall ran at least this late
        worst = probe.max
        await _ticks(probe, 3)
        assert probe.max == worst and probe.current < worst  # the maximum is kept, current moves on
    finally:
        probe.stop()
    assert not probe.running


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoopLagProbe(interval=0)
