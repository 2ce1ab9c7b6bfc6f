#!/usr/bin/env python3
"""Coverage-guided fuzzing of bgpd's input surfaces with atheris (libFuzzer for Python).

Targets (tests/fuzz/targets.py): ``framing``, ``open`` (OPEN and capability negotiation through the
FSM), ``update`` (UPDATE decode into the Adj-RIB-In) and ``control`` (control-socket requests).

    python tools/fuzz.py run [TARGET ...] [--runs N] [--seed S] [--max-seconds T] [--work DIR]
    python tools/fuzz.py seed

``run`` fuzzes each target in its own child process, one after the other (one core), each until
it executed ``--runs`` inputs or ran ``--max-seconds``, whichever comes first, starting from the
seed corpus tests/fuzz/corpus/TARGET. It prints the inputs executed per target and in total; its
last line is one JSON object. A crash stops that target: libFuzzer writes the input to
WORK/TARGET/crash-* and ``run`` exits 1 naming the file (replay it with
``python -c "from tests.fuzz.targets import TARGETS; TARGETS['T'](open('FILE','rb').read())"``,
then keep it as a seed under tests/fuzz/corpus/T/ with its regression test). New inputs the fuzzer
finds go to WORK/TARGET/corpus, never into tests/.

``seed`` rewrites the wire seeds (tests/fuzz/corpus/{framing,open,update}/vector-*) from the
captured messages in tests/wire/vectors; the control seeds are hand-made request lines.

Why atheris: it is coverage-guided (the inputs that reach new branches of bgpd's code are kept and
mutated further), where the hypothesis tests in tests/wire/test_fuzz.py search blindly; it is the
fuzzer OSS-Fuzz runs for Python projects, and installs as a wheel (the ``fuzz`` extra).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
VECTORS = ROOT / "tests" / "wire" / "vectors"
TARGET_NAMES = ("framing", "open", "update", "control")
MAX_LEN = 4096  # one BGP message (RFC 4271 §4.1), and far more than any control request needs
INPUT_TIMEOUT_S = 5  # one input running this long is a stall: libFuzzer reports it as a crash
_DONE = re.compile(rb"Done (\d+) runs in (\d+) second")
_PROGRESS = re.compile(rb"^#(\d+)\s", re.MULTILINE)
_CRASH_FILE = re.compile(rb"Test unit written to (\S+)")


# ------------------------------------------------------------------------------------------- seed
def _vector_messages() -> Iterator[tuple[str, bytes]]:
    """(name, whole message) for every captured vector, OPENs from the .hex captures included."""
    for path in sorted(VECTORS.glob("*.json")):
        yield path.stem, bytes.fromhex(json.loads(path.read_text())["hex"])
    for path in sorted(VECTORS.glob("open-*.hex")):
        lines = (line.split("#", 1)[0] for line in path.read_text().splitlines())
        yield path.stem, bytes.fromhex("".join("".join(lines).split()))


def _seeds() -> dict[str, dict[str, bytes]]:
    messages = dict(_vector_messages())
    kind = {name: name.split("-", 1)[0] for name in messages}

    def joined(*kinds: str) -> bytes:
        return b"".join(messages[n] for n in sorted(messages) if kind[n] in kinds)

    announce, end_of_rib, withdraw = joined("update"), joined("end"), joined("withdraw")
    keepalive = messages["keepalive-gobgp"]
    seeds: dict[str, dict[str, bytes]] = {"framing": {}, "open": {}, "update": {}}
    for name, message in messages.items():
        seeds["framing"][f"vector-{name}"] = b"\x00" + message
        if kind[name] in ("update", "withdraw", "end"):
            seeds["update"][f"vector-{name}"] = b"\x00" + message
    everything = joined(*set(kind.values()))
    seeds["framing"]["vector-all-in-7-octet-chunks"] = b"\x07" + everything
    seeds["framing"]["vector-all-extended"] = b"\x41" + everything
    seeds["update"]["vector-announce-all"] = b"\x00" + announce + end_of_rib
    seeds["update"]["vector-announce-then-withdraw"] = b"\x00" + announce + withdraw
    seeds["update"]["vector-announce-all-add-path-ipv4-only"] = b"\x12" + announce
    for open_name in sorted(n for n in messages if kind[n] == "open"):
        session = messages[open_name] + keepalive + announce + end_of_rib
        for config in range(4):
            seeds["open"][f"vector-{open_name}-config{config}"] = bytes((config,)) + session
        refresh = messages["route-refresh-ipv4-bird"]
        seeds["open"][f"vector-{open_name}-then-withdraw"] = b"\x00" + session + refresh + withdraw
        seeds["open"][f"vector-{open_name}-then-notification"] = (
            b"\x00" + messages[open_name] + keepalive + messages["notification-shutdown-bird"]
        )
        seeds["open"][f"vector-{open_name}-hold-expires"] = b"\x80" + messages[open_name] + keepalive
    return seeds


def seed() -> int:
    for target, files in _seeds().items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("vector-*"):
            old.unlink()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        print(f"{target}: {len(files)} seeds from {VECTORS.relative_to(ROOT)}")
    return 0


# -------------------------------------------------------------------------------------------- run
@dataclass(frozen=True, slots=True)
class TargetRun:
    target: str
    inputs: int  # executed, as libFuzzer counted them
    seconds: float
    ok: bool
    crash: str | None = None  # the file libFuzzer wrote the failing input to
    log_tail: str = ""


def worker(target: str, libfuzzer_args: Sequence[str]) -> None:
    """Runs inside the child: instrument bgpd, then hand control to libFuzzer (which never returns)."""
    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["bgpd"]):
        # imported here, not at the top: only modules imported inside this block are instrumented
        from tests.fuzz.targets import TARGETS  # noqa: PLC0415
    atheris.Setup([sys.argv[0], *libfuzzer_args], TARGETS[target])
    atheris.Fuzz()


def _run_one(target: str, runs: int, seed_value: int, max_seconds: int, work: Path) -> TargetRun:
    out = work / target
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    args = [
        f"-runs={runs}",
        f"-seed={seed_value}",
        f"-max_total_time={max_seconds}",
        f"-max_len={MAX_LEN}",
        f"-timeout={INPUT_TIMEOUT_S}",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={out}/",
        "-print_final_stats=1",
        str(out / "corpus"),  # libFuzzer adds what it finds to the first folder only
        str(CORPUS / target),
    ]
    started = time.monotonic()
    proc = subprocess.run(  # atheris prints the Python traceback on stdout, libFuzzer on stderr
        [sys.executable, __file__, "worker", target, "--", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
        timeout=max_seconds + 120,
    )
    elapsed = round(time.monotonic() - started, 1)
    log = proc.stdout
    done = _DONE.search(log)
    progress = _PROGRESS.findall(log)
    executed = int(done.group(1)) if done else int(progress[-1]) if progress else 0
    if proc.returncode == 0 and done is not None:
        return TargetRun(target, executed, elapsed, ok=True)
    crash = _CRASH_FILE.search(log)
    text = log.decode(errors="replace")
    exception = text.find("=== Uncaught Python exception")
    return TargetRun(
        target,
        executed,
        elapsed,
        ok=False,
        crash=crash.group(1).decode() if crash else None,
        log_tail=text[exception:][:6000] if exception >= 0 else text[-4000:],
    )


def run(targets: Sequence[str], runs: int, seed_value: int, max_seconds: int, work: Path) -> int:
    results: list[TargetRun] = []
    for target in targets:
        result = _run_one(target, runs, seed_value, max_seconds, work)
        results.append(result)
        rate = result.inputs / max(result.seconds, 0.1)
        print(f"{target:8} {result.inputs:>12,} inputs in {result.seconds:>7} s ({rate:,.0f}/s)", flush=True)
        if not result.ok:
            print(f"{target}: FAILED, input in {result.crash}\n{result.log_tail}", file=sys.stderr)
    total = sum(r.inputs for r in results)
    ok = all(r.ok for r in results)
    print(f"{'total':8} {total:>12,} inputs")
    summary = {r.target: r.inputs for r in results}
    print(json.dumps({"inputs": summary, "total": total, "seed": seed_value, "ok": ok}))
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["worker"]:
        worker(args[1], args[3:])  # worker TARGET -- libFuzzer arguments
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="fuzz targets under atheris and print the inputs executed")
    run_p.add_argument(
        "targets", nargs="*", metavar="TARGET", help=f"any of {', '.join(TARGET_NAMES)} (default: all)"
    )
    run_p.add_argument("--runs", type=int, default=1_000_000, help="inputs per target (default 1e6)")
    run_p.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed (default 1)")
    run_p.add_argument("--max-seconds", type=int, default=3600, help="time limit per target (default 3600)")
    run_p.add_argument("--work", type=Path, help="where found inputs and crashes go (default: a temp dir)")
    sub.add_parser("seed", help="rewrite the wire seeds from tests/wire/vectors")
    ns = parser.parse_args(args)
    if ns.command == "seed":
        return seed()
    unknown = sorted(set(ns.targets) - set(TARGET_NAMES))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGET_NAMES)}")
    work = ns.work or Path(tempfile.mkdtemp(prefix="bgpd-fuzz-"))
    print(f"work directory: {work}", flush=True)
    return run(ns.targets or list(TARGET_NAMES), ns.runs, ns.seed, ns.max_seconds, work)


if __name__ == "__main__":
    sys.exit(main())
