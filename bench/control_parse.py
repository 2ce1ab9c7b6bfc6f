"""Benchmark: the worst control-socket request lines against the 50 ms event-loop budget.

``parse_request`` reads each request strictly (nesting scan, number, name and surrogate checks;
docs/control-protocol.md) on the event loop. This times it on request lines of the largest size
the server reads (MAX_REQUEST_BYTES), each built to make one of those checks do the most work, and
compares it with plain ``json.loads`` of the same line (the reference, measured in the same run).
The budget is the daemon's: no control request may stall the loop for 50 ms (design.md). Prints
a table, then one JSON line for tooling.

    python bench/control_parse.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgpd.control.protocol import (  # noqa: E402
    MAX_NESTING,
    MAX_REQUEST_BYTES,
    BadRequestError,
    parse_request,
)

BUDGET_MS = 50.0


def _fill(head: bytes, unit: bytes, tail: bytes, sep: bytes = b"") -> bytes:
    """``head + unit (sep unit)* + tail``, as long as fits MAX_REQUEST_BYTES."""
    count = (MAX_REQUEST_BYTES - len(head) - len(tail) + len(sep)) // (len(unit) + len(sep))
    return head + sep.join([unit] * count) + tail


def cases() -> dict[str, bytes]:
    args = b'{"cmd": "x", "args": {"v": '
    return {
        # brackets inside a string: the nesting check cannot stop at its cheap count and scans it all
        "brackets in a string": _fill(args + b'"', b"[", b'"}}'),
        "escaped quotes": _fill(args + b'"', b'\\"', b'"}}'),
        "small integers": _fill(args + b"[", b"7", b"]}}", b","),
        # one 16-digit integer or 3-digit exponent turns on the per-number hooks for the whole line
        "integers, hooks on": _fill(args + b"[9007199254740991,", b"7", b"]}}", b","),
        "floats": _fill(args + b"[", b"1.5e30", b"]}}", b","),
        "floats, hooks on": _fill(args + b"[", b"1.5e300", b"]}}", b","),
        "members": _fill(args + b"{", b'"k":0', b"}}}", b","),  # duplicate names: refused at the 2nd
        "distinct members": _distinct_members(),
        "surrogate pairs": _fill(args + b'"', b"\\ud83d\\ude00", b'"}}'),
        "deepest allowed nesting": _fill(
            args + b"[" * (MAX_NESTING - 3), b"[1]", b"]" * (MAX_NESTING - 3) + b"}}", b","
        ),
    }


def _distinct_members() -> bytes:
    head, tail = b'{"cmd": "x", "args": {"v": {', b"}}}"
    parts: list[bytes] = []
    size = len(head) + len(tail)
    n = 0
    while size + len(f'"k{n}":0,'.encode()) < MAX_REQUEST_BYTES:
        part = f'"k{n}":0'.encode()
        parts.append(part)
        size += len(part) + 1
        n += 1
    return head + b",".join(parts) + tail


def _best_ms(fn: Callable[[bytes], object], line: bytes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn(line)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _strict(line: bytes) -> object:
    try:
        return parse_request(line)
    except BadRequestError as err:
        return err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    repeat = parser.parse_args().repeat
    results = {}
    print(f"{'request line (64 KiB)':26} {'strict ms':>10} {'json.loads ms':>14} {'ratio':>7}  outcome")
    for name, line in cases().items():
        assert len(line) <= MAX_REQUEST_BYTES, (name, len(line))
        strict = _best_ms(_strict, line, repeat)
        plain = _best_ms(json.loads, line, repeat)
        outcome = _strict(line)
        verdict = "bad_request" if isinstance(outcome, BadRequestError) else "ok"
        results[name] = {"strict_ms": round(strict, 3), "json_ms": round(plain, 3), "outcome": verdict}
        print(f"{name:26} {strict:>10.2f} {plain:>14.2f} {strict / plain:>7.1f}  {verdict}")
    worst = max(r["strict_ms"] for r in results.values())  # type: ignore[type-var]
    print(f"worst case {worst:.2f} ms = {worst / BUDGET_MS:.3f} of the {BUDGET_MS:g} ms loop budget")
    print(json.dumps({"cases": results, "worst_ms": worst, "budget_ratio": round(worst / BUDGET_MS, 4)}))


if __name__ == "__main__":
    main()
