"""The event-loop lag probe: what it keeps, when it logs, and that it sees a real stall."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from bgpd.daemon.loop_lag import LoopLag, LoopLagProbe


@pytest.mark.asyncio
async def test_last_worst_recent_and_over_budget() -> None:
    probe = LoopLagProbe(budget=0.05, window=10.0)
    probe.record(0.002, now=100.0)
    probe.record(0.030, now=101.0)
    probe.record(0.004, now=102.0)
    lag = probe.lag
    assert (lag.last, lag.worst, lag.over_budget, lag.budget) == (0.004, 0.030, 0, 0.05)
    assert lag.recent_max == 0.030
    with capture_logs():
        probe.record(0.080, now=103.0)
    assert probe.lag.over_budget == 1 and probe.lag.worst == 0.080


@pytest.mark.asyncio
async def test_the_recent_worst_forgets_what_is_older_than_the_window() -> None:
    probe = LoopLagProbe(budget=1.0, window=10.0)
    probe.record(0.040, now=100.0)
    probe.record(0.010, now=105.0)
    assert probe._recent[0][1] == 0.040
    probe.record(0.001, now=111.0)  # 0.040 is 11 s old now
    assert probe._recent[0][1] == 0.010
    probe.record(0.001, now=116.0)
    assert probe._recent[0][1] == 0.001
    assert probe.lag.worst == 0.040  # since start, whatever the window


@pytest.mark.asyncio
async def test_a_late_loop_is_logged_once_then_counted_once_per_window() -> None:
    probe = LoopLagProbe(budget=0.05, window=60.0)
    with capture_logs() as logs:
        probe.record(0.070, now=0.0, busy=0.065)
        probe.record(0.090, now=1.0)
        probe.record(0.060, now=2.0)
        probe.record(0.001, now=30.0)
        assert [e["event"] for e in logs] == ["event_loop_late"]  # one line so far
        probe.record(0.001, now=61.0)  # the window is over: the two counted ones, in one line
    assert logs == [
        {
            "event": "event_loop_late",
            "late_ms": 70.0,
            "cpu_ms": 65.0,
            "budget_ms": 50.0,
            "log_level": "warning",
        },
        {
            "event": "event_loop_late",
            "late_ms": 90.0,
            "budget_ms": 50.0,
            "repeated": 2,
            "log_level": "warning",
        },
    ]
    with capture_logs() as later:
        probe.record(0.200, now=200.0)  # a new stall long after: logged at once again
    assert later == [
        {
            "event": "event_loop_late",
            "late_ms": 200.0,
            "cpu_ms": 0.0,
            "budget_ms": 50.0,
            "log_level": "warning",
        }
    ]


@pytest.mark.asyncio
async def test_stop_writes_what_was_only_counted() -> None:
    probe = LoopLagProbe(budget=0.05)
    with capture_logs() as logs:
        probe.record(0.070, now=0.0)
        probe.record(0.080, now=1.0)
        probe.stop()
    assert [e.get("repeated") for e in logs] == [None, 1]


@pytest.mark.asyncio
async def test_the_probe_sees_a_callback_that_holds_the_loop() -> None:
    probe = LoopLagProbe(interval=0.01, budget=0.05)
    probe.start()
    try:
        await asyncio.sleep(0.05)
        with capture_logs() as logs:
            await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0)  # a quiet turn
            time.sleep(0.15)  # holds the loop: no timer can fire meanwhile
            await asyncio.sleep(0.05)
    finally:
        probe.stop()
    lag = probe.lag
    assert lag.worst >= 0.1 and lag.over_budget >= 1
    assert any(e["event"] == "event_loop_late" for e in logs)
    assert lag.worst_busy < 0.1  # sleeping holds the loop but uses no CPU: a starved loop, not a busy one


@pytest.mark.asyncio
async def test_a_busy_callback_shows_as_cpu_too() -> None:
    probe = LoopLagProbe(interval=0.01, budget=0.05)
    probe.start()
    try:
        await asyncio.sleep(0.03)
        with capture_logs() as logs:
            end = time.thread_time() + 0.12
            while time.thread_time() < end:  # 120 ms of this thread's CPU without a turn of the loop
                pass
            await asyncio.sleep(0.03)
    finally:
        probe.stop()
    assert probe.lag.worst_busy >= 0.1
    assert any(e.get("cpu_ms", 0) >= 100 for e in logs)


def test_control_form_is_in_milliseconds() -> None:
    lag = LoopLag(last=0.0012, recent_max=0.0456, worst=0.0789, over_budget=3, budget=0.05, worst_busy=0.0701)
    assert lag.to_control() == {
        "lastMs": 1.2,
        "maxMs": 45.6,
        "windowSeconds": 60,
        "worstMs": 78.9,
        "overBudget": 3,
        "budgetMs": 50.0,
        "worstBusyMs": 70.1,
        "lateHistogram": dict.fromkeys(("5", "10", "20", "50", "100", "200", "500", "1000", "+Inf"), 0),
        "busyHistogram": dict.fromkeys(("5", "10", "20", "50", "100", "200", "500", "1000", "+Inf"), 0),
    }


@pytest.mark.asyncio
async def test_the_histograms_count_each_probe_in_its_bucket() -> None:
    probe = LoopLagProbe(budget=1.0)
    for lag, busy in ((0.001, 0.001), (0.005, 0.004), (0.030, 0.030), (0.3, 0.001), (5.0, 5.0)):
        probe.record(lag, now=0.0, busy=busy)
    control = probe.lag.to_control()
    assert control["lateHistogram"] == {
        "5": 2, "10": 0, "20": 0, "50": 1, "100": 0, "200": 0, "500": 1, "1000": 0, "+Inf": 1
    }  # fmt: skip
    assert control["busyHistogram"]["5"] == 3 and control["busyHistogram"]["+Inf"] == 1


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoopLagProbe(interval=0)


@pytest.mark.asyncio
async def test_stop_ends_the_probe() -> None:
    probe = LoopLagProbe(interval=0.01)
    probe.start()
    assert probe.running
    probe.stop()
    assert not probe.running
