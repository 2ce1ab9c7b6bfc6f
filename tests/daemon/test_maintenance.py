"""bgpctl disable/enable/drain/undrain against the daemon's logic (a recording speaker): what is
sent, what is persisted, and that neither a reload nor a restart brings a disabled session up."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgpd.control.protocol import ControlError, ErrorCode
from bgpd.daemon.handlers import sessions_data
from bgpd.daemon.host.statefile import MAINTENANCE_FILE, load_maintenance
from bgpd.daemon.runner import Daemon
from bgpd.plan.maintenance import Maintenance
from bgpd.wire.constants import GRACEFUL_SHUTDOWN
from tests.daemon._fakes import FakeSpeaker
from tests.daemon.test_runner import make
from tests.plan._fixtures import SEGMENTS, SINGLE, with_peer_asn

ONE = "10.0.1.254-node-01"
OTHER = "10.0.3.254-node-02"


def restarted(tmp_path: Path, path: Path) -> tuple[Daemon, FakeSpeaker]:
    """A new daemon on the same files and state directory, as ``bgpd run`` starts after a restart."""
    maintenance = load_maintenance(tmp_path / "state")
    daemon, speaker, _, _ = make(tmp_path, path.read_text(encoding="utf-8"), maintenance=maintenance)
    return daemon, speaker


@pytest.mark.asyncio
async def test_disable_sends_the_text_persists_and_survives_reload_and_restart(tmp_path: Path) -> None:
    daemon, speaker, _, path = make(tmp_path)
    await daemon.start()
    speaker.calls.clear()
    message = await daemon.disable_session(ONE, "ToR upgrade")
    assert speaker.calls == [("shutdown", ONE, "ToR upgrade")]
    assert "disabled" in message and "ToR upgrade" in message
    assert load_maintenance(tmp_path / "state").shutdown_message(ONE) == "ToR upgrade"
    row = next(r for r in sessions_data(daemon.snapshot()) if r["name"] == ONE)
    assert (row["disabled"], row["disabledMessage"], row["drained"]) == (True, "ToR upgrade", False)

    speaker.calls.clear()
    path.write_text(with_peer_asn(SINGLE, "10.0.1.254", 65010), encoding="utf-8")  # even a reset
    await daemon.reload("test")
    assert ("add", ONE) not in speaker.calls and ("start", ONE) not in speaker.calls
    assert speaker.held_down == {ONE: "ToR upgrade"}

    await daemon.stop()
    again, speaker2 = restarted(tmp_path, path)
    await again.start()
    assert ("add-held-down", ONE, "ToR upgrade") in speaker2.calls
    assert ("add-unplanned", OTHER) in speaker2.calls  # started at once, its routes from the first plan
    assert speaker2.held_down == {ONE: "ToR upgrade"}

    speaker2.calls.clear()
    assert "enabled" in await again.enable_session(ONE)
    assert speaker2.calls == [("start", ONE)]
    assert load_maintenance(tmp_path / "state") == Maintenance()


@pytest.mark.asyncio
async def test_disabling_twice_or_enabling_an_enabled_session_changes_nothing(tmp_path: Path) -> None:
    daemon, speaker, _, _ = make(tmp_path)
    await daemon.start()
    await daemon.disable_session(ONE, "first")
    speaker.calls.clear()
    assert "already" in await daemon.disable_session(ONE, "second")
    assert "is not disabled" in await daemon.enable_session(OTHER)
    assert speaker.calls == []
    assert load_maintenance(tmp_path / "state").shutdown_message(ONE) == "first"


@pytest.mark.asyncio
async def test_a_disabled_session_cannot_be_reset(tmp_path: Path) -> None:
    daemon, _, _, _ = make(tmp_path)
    await daemon.start()
    await daemon.disable_session(ONE, "x")
    with pytest.raises(ControlError) as caught:
        await daemon.reset_session(ONE, soft=False)
    assert caught.value.code is ErrorCode.FAILED and "bgpctl enable bgpsession" in caught.value.message


@pytest.mark.asyncio
async def test_drain_re_announces_with_graceful_shutdown_and_undrain_without(tmp_path: Path) -> None:
    daemon, speaker, _, _ = make(tmp_path)
    await daemon.start()
    speaker.calls.clear()
    message = await daemon.set_drained(ONE, True)
    assert speaker.calls == [("routes", ONE)] and "on 1 session run here" in message
    assert {r.path.communities for r in speaker.routes[ONE]} == {(GRACEFUL_SHUTDOWN,)}
    assert {r.path.communities for r in speaker.routes[OTHER]} == {()}
    carrying = sorted(n for n, routes in speaker.routes.items() if routes)  # the others carry nothing
    speaker.calls.clear()
    await daemon.set_drained(None, True)
    assert sorted(speaker.calls) == [("routes", n) for n in carrying if n != ONE]
    assert load_maintenance(tmp_path / "state").drained_all
    with pytest.raises(ControlError, match="undrain them all"):
        await daemon.set_drained(ONE, False)
    speaker.calls.clear()
    await daemon.set_drained(None, False)
    assert sorted(speaker.calls) == [("routes", n) for n in carrying]
    assert all(r.path.communities == () for routes in speaker.routes.values() for r in routes)


@pytest.mark.asyncio
async def test_unknown_sessions_are_not_found_and_remote_ones_may_be_disabled(tmp_path: Path) -> None:
    daemon, speaker, addresses, _ = make(tmp_path)
    del addresses.addresses["10.0.1.100"]  # 10.0.1.100's sessions run on another gateway
    await daemon.start()
    for verb in (
        daemon.set_drained("nope", True),
        daemon.disable_session("nope", "x"),
        daemon.enable_session("nope"),
    ):
        with pytest.raises(ControlError) as caught:
            await verb
        assert caught.value.code is ErrorCode.NOT_FOUND
    assert "does not run on this host" in await daemon.disable_session(ONE, "x")
    addresses.addresses["10.0.1.100"] = SEGMENTS["10.0.1.100"]  # the floating IP comes here
    await daemon.addresses_changed()
    assert ("add-held-down", ONE, "x") in speaker.calls


@pytest.mark.asyncio
async def test_a_state_that_cannot_be_written_changes_nothing(tmp_path: Path) -> None:
    daemon, speaker, _, _ = make(tmp_path)
    await daemon.start()
    (tmp_path / "state" / MAINTENANCE_FILE).mkdir()  # replacing a directory fails
    speaker.calls.clear()
    with pytest.raises(ControlError) as caught:
        await daemon.disable_session(ONE, "x")
    assert caught.value.code is ErrorCode.FAILED and "nothing changed" in caught.value.message
    assert speaker.calls == [] and speaker.held_down == {}
