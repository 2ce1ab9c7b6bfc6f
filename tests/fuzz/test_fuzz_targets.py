"""The fuzz harness: its seed corpus replays cleanly and reaches deep, its checks catch what they
claim to, and a bounded coverage-guided run (atheris, fixed seed and input count) finds nothing.

The long run is ``python tools/fuzz.py run`` (see that file); this is its short form for CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bgpd.control import protocol
from bgpd.fsm.states import State
from bgpd.wire import update as wire_update
from tests.fuzz import targets
from tests.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).parent / "corpus"
SEEDS = sorted(p for p in CORPUS.glob("*/*") if p.is_file())
BOUNDED_RUNS = 1000  # per target; a few seconds each, most of it interpreter start-up


def test_every_target_has_a_seed_corpus() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(TARGETS)
    for target in TARGETS:
        assert len(list((CORPUS / target).iterdir())) >= 10, target


@pytest.mark.parametrize("seed", SEEDS, ids=[f"{p.parent.name}/{p.name}" for p in SEEDS])
def test_seed_replays_without_an_undeclared_error(seed: Path) -> None:
    TARGETS[seed.parent.name](seed.read_bytes())


def _outcomes(target: str) -> dict[str, object]:
    return {p.name: TARGETS[target](p.read_bytes()) for p in sorted((CORPUS / target).iterdir())}


def test_wire_seeds_are_real_messages_that_reach_deep() -> None:
    """Seeds that stopped early would make the fuzzer start from nowhere."""
    framing = _outcomes("framing")
    assert framing["vector-all-in-7-octet-chunks"] == framing["vector-all-extended"] >= 20
    assert all(n == 1 for name, n in framing.items() if not name.startswith("vector-all"))
    update = _outcomes("update")
    assert update["vector-announce-all"] == 4  # IPv4 and IPv6 from GoBGP and BIRD
    assert update["vector-announce-then-withdraw"] == 0
    opened = _outcomes("open")
    assert opened["vector-open-gobgp-3.10.0-config0"] == (State.ESTABLISHED, 4)
    assert opened["vector-open-bird-2.0.12-config3"] == (State.IDLE, 0)  # iBGP, our own identifier
    assert opened["vector-open-gobgp-then-withdraw"] == (State.ESTABLISHED, 0)


def test_control_seeds_cover_good_and_bad_requests() -> None:
    outcomes = _outcomes("control")
    good = {name for name, code in outcomes.items() if code == "ok"}
    assert {c.value for c in protocol.Command} <= {name.split("-soft")[0] for name in good}
    assert all(code == "bad_request" for name, code in outcomes.items() if name.startswith("bad-"))


def test_an_undeclared_error_escapes_the_control_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the harness exists for: the RecursionError json.loads once raised must reach the fuzzer."""

    def crashing(line: bytes) -> protocol.Request:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(targets, "parse_request", crashing)
    with pytest.raises(RecursionError):
        TARGETS["control"](b"[" * 3000)


def test_a_non_strict_reply_fails_the_control_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reply like the old ``"id": Infinity`` is caught by the target's strict reading."""
    monkeypatch.setattr(targets, "encode_error", lambda *_: b'{"id":Infinity,"ok":false}\n')
    with pytest.raises(AssertionError, match="Infinity"):
        TARGETS["control"](b'{"id": 1e999}')


def test_an_undeclared_error_escapes_the_update_target(monkeypatch: pytest.MonkeyPatch) -> None:
    def crashing(*_: object) -> object:
        raise IndexError("read past the end")

    monkeypatch.setattr(wire_update.Update, "decode", classmethod(crashing))
    with pytest.raises(IndexError):
        TARGETS["update"]((CORPUS / "update" / "vector-update-gobgp-ipv6").read_bytes())


def test_bounded_coverage_guided_run(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "fuzz.py"),
            "run",
            *TARGETS,
            f"--runs={BOUNDED_RUNS}",
            "--seed=1",
            "--max-seconds=120",
            f"--work={tmp_path}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary == {
        "inputs": dict.fromkeys(TARGETS, BOUNDED_RUNS),
        "total": BOUNDED_RUNS * len(TARGETS),
        "seed": 1,
        "ok": True,
    }


def test_a_crash_fails_the_run_and_names_the_input(tmp_path: Path) -> None:
    """The bounded run above can only pass honestly if a crash makes it fail: plant one in a copy."""
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "fuzz.py", tmp_path / "tools" / "fuzz.py")
    fuzz_pkg = tmp_path / "tests" / "fuzz"
    (fuzz_pkg / "corpus" / "control").mkdir(parents=True)
    (tmp_path / "tests" / "__init__.py").write_text("")
    (fuzz_pkg / "__init__.py").write_text("")
    (fuzz_pkg / "corpus" / "control" / "seed").write_bytes(b'{"cmd": "sessions"}')
    (fuzz_pkg / "targets.py").write_text(
        "def control(data: bytes) -> None:\n"
        "    if b'cmd' in data:\n"
        "        raise KeyError('planted bug')\n"
        "TARGETS = {'control': control}\n"
    )
    tool, work = tmp_path / "tools" / "fuzz.py", tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, str(tool), "run", "control", "--runs=100", f"--work={work}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["ok"] is False
    assert "KeyError: 'planted bug'" in proc.stderr
    [crash] = (work / "control").glob("crash-*")
    assert crash.read_bytes() == b'{"cmd": "sessions"}'
    assert f"input in {crash}" in proc.stderr


def test_found_an_update_that_withdraws_and_announces_the_same_prefix() -> None:
    """Found by the long run (1.0 M inputs into ``update``): withdrawn 0.0.0.0/0 twice, NLRI
    0.0.0.0/0 twice. RFC 4271 §4.3: processed as if the withdrawal were not there, so the route
    stays; applied again it must leave the same table (the old check wrongly wanted no withdrawal)."""
    found = (CORPUS / "update" / "found-withdraw-and-announce-the-same-prefix").read_bytes()
    assert TARGETS["update"](found) == 1


def test_the_fuzzing_guide_states_the_bounded_run_and_the_targets() -> None:
    guide = " ".join((ROOT / "docs" / "fuzzing.md").read_text(encoding="utf-8").split())
    assert f"({BOUNDED_RUNS:,} inputs per target, seed 1)" in guide
    for target in TARGETS:
        assert f"| `{target}` |" in guide
