"""The collector and the long-lived state: paused while it is made, frozen after, on again for the
daemon's life (``bgpd.daemon.heap``); ``bgpd plan`` pauses it and leaves it as it found it."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bgpd.cli import plan as plan_cli
from bgpd.cli import run as run_cli
from bgpd.cli.main import main
from bgpd.daemon.heap import DAEMON_THRESHOLDS, collector_paused, long_lived
from tests.plan._fixtures import SINGLE


@pytest.fixture
def collector() -> Iterator[None]:
    """Leave the test process's collector as it was: on, nothing frozen by the test."""
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        if gc.get_freeze_count() > frozen:
            gc.unfreeze()
        gc.set_threshold(*thresholds)
        gc.enable()


def test_the_collector_is_off_inside_and_on_again_after(collector: None) -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off(collector: None) -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_long_lived_state_is_frozen_out_of_later_collections(collector: None) -> None:
    with long_lived():
        kept = [[n] for n in range(1000)]
        assert not gc.isenabled()
    assert gc.isenabled()
    walked = gc.get_objects()  # what a collection walks: the frozen objects are not in it
    assert not any(obj is kept[0] for obj in walked)
    assert any(obj is walked for obj in gc.get_objects())  # made after: walked as usual


def test_a_failed_read_freezes_nothing_and_turns_the_collector_back_on(collector: None) -> None:
    frozen = gc.get_freeze_count()
    with pytest.raises(ValueError), long_lived():
        raise ValueError("bad input")
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def _inputs(tmp_path: Path) -> dict[str, Any]:
    config = tmp_path / "cluster.yaml"
    config.write_text(SINGLE, encoding="utf-8")
    return {"config": config, "settings": None, "state_dir": tmp_path / "state", "socket": tmp_path / "s"}


def test_the_daemon_runs_with_the_collector_on_and_its_inputs_frozen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collector: None
) -> None:
    seen: dict[str, Any] = {}

    def fake_run(coroutine: Any) -> int:
        seen["enabled"] = gc.isenabled()
        seen["thresholds"] = gc.get_threshold()
        seen["frozen"] = gc.get_freeze_count()
        seen["loaded"] = coroutine.cr_frame.f_locals["loaded"]
        coroutine.close()
        return 0

    monkeypatch.setattr(run_cli.uvloop, "run", fake_run)
    monkeypatch.setattr(run_cli, "configure_logging", lambda *_: None)  # the test process's stays
    before = gc.get_freeze_count()
    thresholds = gc.get_threshold()
    assert run_cli.run(argparse.Namespace(**_inputs(tmp_path))) == 0
    assert seen["enabled"] is True
    assert seen["thresholds"] == DAEMON_THRESHOLDS != thresholds  # young objects get to die young
    assert seen["frozen"] > before
    assert seen["loaded"].manifests.floating_ips  # what was read is what the daemon gets


def test_bgpd_plan_reads_with_the_collector_paused_and_leaves_it_as_it_found_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, collector: None
) -> None:
    reading: list[bool] = []
    load_inputs = plan_cli.load_inputs

    def watched(args: argparse.Namespace) -> Any:
        reading.append(gc.isenabled())
        return load_inputs(args)

    monkeypatch.setattr(plan_cli, "load_inputs", watched)
    frozen = gc.get_freeze_count()
    assert main(["plan", "--config", str(_inputs(tmp_path)["config"]), "-o", "json"]) == 0
    assert '"routes"' in capsys.readouterr().out
    assert reading == [False]
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
