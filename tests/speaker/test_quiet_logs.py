"""A peer that is down costs a bounded number of log lines however long it stays down, and its
coming back reports how often the failure repeated (OpenBGPD's logmsg.c habit)."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from bgpd.speaker import Speaker
from bgpd.speaker.status import SessionStatus
from tests.speaker.scripted_peer import ScriptedListener, free_port, peer_open
from tests.speaker.test_speaker import ASN_A, ASN_B, A, B, config, established


def shown(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines written at the default level (info and above)."""
    return [entry for entry in logs if entry["log_level"] != "debug"]


def attempts(count: int) -> Any:
    def check(status: SessionStatus) -> bool:
        return bool(status.counters["connectAttempts"] >= count)

    return check


@pytest.mark.asyncio
async def test_a_down_peer_retried_many_times_yields_a_bounded_number_of_lines(speaker: Speaker) -> None:
    port = free_port()  # nothing listens at the peer's address: every attempt is refused
    cfg = config(A, B, ASN_A, ASN_B, port, connect_retry_time=0.01)
    with capture_logs() as logs:
        await speaker.add_session(cfg)
        await speaker.wait_for(cfg.name, attempts(5), 10)
        early = len(shown(logs))
        down = await speaker.wait_for(cfg.name, attempts(60), 20)
        late = shown(logs)
        assert len(late) == early  # 55 more failed attempts, not one more line
        assert [(e["event"], e.get("new")) for e in late] == [
            ("state_changed", "Connect"),  # the start
            ("connect_failed", None),  # the first failure; the Connect <-> Idle cycle is not news
        ]
        assert late[1]["error"].startswith("connection refused by") and late[1]["log_level"] == "warning"
        assert down.last_error == late[1]["error"]  # the record still says what is wrong
        assert len(logs) > 2 * 55  # the retries are all there at debug level

        listener = ScriptedListener()  # the peer comes back
        await listener.start(B, port)
        try:
            peer = await listener.accept()
            await peer.handshake(peer_open(ASN_B, B))
            up = await speaker.wait_for(cfg.name, established, 5)
            peer.close()
        finally:
            listener.close()
    after = shown(logs)[len(late) :]
    repeated = [e for e in after if e["event"] == "connect_failed"]
    assert len(repeated) == 1 and repeated[0]["error"] == late[1]["error"]
    # all failures but the one already logged (an attempt the retry timer overtook is no failure)
    failures = up.counters["connectAttempts"] - 1  # the last attempt got through
    assert 55 <= repeated[0]["repeated"] <= failures - 1
    assert [e.get("new") for e in after if e["event"] == "state_changed"][-1] == "Established"
