"""Benchmark: one metrics scrape of 500 sessions, bgpd's renderer vs prometheus-client's.

The reference is what bgpd would do with the library: a custom collector that reads the same
maintained values on every scrape and ``generate_latest`` (the classic 0.0.4 text, the library's
default) — the same samples, formatted by the library. Measured in the same run: our whole render
(both formats), and the longest single chunk our renderer produces, which is the longest the
event loop is held between two yields (the budget for anything on the loop is 50 ms). Prints the
numbers, then one JSON line with them.

    python bench/metrics.py [--sessions 500] [--runs 7] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgpd.daemon.metrics import SESSION_FAMILIES, DaemonReading, Format, Kind, render  # noqa: E402
from bgpd.fsm import State  # noqa: E402
from bgpd.plan.usage import PoolUsage  # noqa: E402
from bgpd.speaker import SessionReading  # noqa: E402
from bgpd.speaker.record import Counters, ErrorKind, NotificationRecord  # noqa: E402
from bgpd.wire.constants import MessageType  # noqa: E402


def _readings(count: int) -> list[SessionReading]:
    out = []
    for i in range(count):
        counters = Counters(flaps=i % 3, prefixes_in=10_000 + i, prefixes_out=2_000, withdrawn_in=i)
        for kind in MessageType:
            counters.messages_in[kind] = 1000 + i
            counters.messages_out[kind] = 900 + i
        out.append(
            SessionReading(
                name=f"10.{i // 250}.{i % 250}.254-node-01",
                fsm_state=State.ESTABLISHED if i % 10 else State.ACTIVE,
                admin_down=False,
                uptime=3600.5 + i,
                routes_received=2_000,
                routes_sent=20,
                counters=counters,
                last_error_kind=ErrorKind.NOTIFICATION_RECEIVED,
                last_error_at=1_790_000_000.0 + i,
                last_notification=NotificationRecord(6, 2, "x", 0.0),
            )
        )
    return out


def _reading(sessions: list[SessionReading]) -> DaemonReading:
    return DaemonReading(
        reloads=3,
        reloads_rejected=0,
        last_reload_successful=True,
        loop_lag=0.001,
        loop_lag_max=0.02,
        pools=[PoolUsage(f"pool-{i}", "ipv4", 256, 200, 200) for i in range(20)],
        floating_ips=[(f"10.0.{i}.100", True) for i in range(4)],
        ledger_written=True,
        withheld_pod_cidrs=0,
        sessions=sessions,
        planned={},  # the info family is left out on both sides: no plan sessions in this benchmark
    )


class _Reference(Collector):
    """The same samples through prometheus-client: every scrape builds metric families."""

    def __init__(self, reading: DaemonReading) -> None:
        self.reading = reading

    def collect(self) -> Iterator[Metric]:
        for family, samples in SESSION_FAMILIES:
            if family.kind is Kind.INFO:
                built: Metric = InfoMetricFamily(family.name, family.help, labels=["session", "kind"])
                for session in self.reading.sessions:
                    for _labels, _value in samples(session, None):
                        kind = session.last_error_kind.value if session.last_error_kind else ""
                        built.add_metric([session.name, kind], {})  # type: ignore[attr-defined]
            else:
                cls = CounterMetricFamily if family.kind is Kind.COUNTER else GaugeMetricFamily
                built = cls(family.name, family.help, labels=["session", "extra"])
                for session in self.reading.sessions:
                    for labels, value in samples(session, None):
                        built.add_metric([session.name, labels], value)  # type: ignore[attr-defined]
            yield built


def _timed(runs: int, work: Callable[[], Any]) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def _longest_chunk(reading: DaemonReading) -> float:
    longest = 0.0
    chunks = render(reading, Format.OPENMETRICS)
    while True:
        started = time.perf_counter()
        try:
            next(chunks)
        except StopIteration:
            return longest
        longest = max(longest, time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20 sessions, 2 runs: a check that it works")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.runs = 20, 2
    reading = _reading(_readings(args.sessions))
    registry = CollectorRegistry()
    registry.register(_Reference(reading))
    ours_om = _timed(args.runs, lambda: "".join(render(reading, Format.OPENMETRICS)))
    ours_text = _timed(args.runs, lambda: "".join(render(reading, Format.PROMETHEUS)))
    reference = _timed(args.runs, lambda: generate_latest(registry))
    chunks = [_longest_chunk(reading) for _ in range(args.runs)]
    size = len("".join(render(reading, Format.OPENMETRICS)))
    result = {
        "sessions": args.sessions,
        "bytes": size,
        "ours_openmetrics_s": round(statistics.median(ours_om), 6),
        "ours_text_s": round(statistics.median(ours_text), 6),
        "prometheus_client_text_s": round(statistics.median(reference), 6),
        "longest_chunk_s": round(statistics.median(chunks), 6),
    }
    result["ours_text_vs_prometheus_client"] = round(
        result["ours_text_s"] / result["prometheus_client_text_s"], 3
    )
    print(f"{args.sessions} sessions, {size} bytes of OpenMetrics text (median of {args.runs} runs)")
    print(f"bgpd render, OpenMetrics:            {result['ours_openmetrics_s'] * 1000:.1f} ms")
    print(f"bgpd render, text 0.0.4:             {result['ours_text_s'] * 1000:.1f} ms")
    print(f"prometheus-client, text 0.0.4:       {result['prometheus_client_text_s'] * 1000:.1f} ms")
    print(f"bgpd / prometheus-client:            {result['ours_text_vs_prometheus_client']:.2f}")
    print(f"longest chunk (loop held at most):   {result['longest_chunk_s'] * 1000:.2f} ms")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
