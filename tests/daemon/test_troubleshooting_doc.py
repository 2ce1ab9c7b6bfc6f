"""docs/troubleshooting.md quotes log events and messages: they must be the ones bgpd really emits."""

from __future__ import annotations

import errno
import ipaddress
import re
from pathlib import Path

import pytest

import bgpd.cli.run
import bgpd.daemon.allocation
import bgpd.daemon.handlers
import bgpd.daemon.runner
import bgpd.plan.allocation
import bgpd.speaker.peer
import bgpd.speaker.session_log
from bgpd.speaker.sockets import connect_error_text

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
SOURCES = "".join(
    Path(m.__file__).read_text(encoding="utf-8")
    for m in (
        bgpd.daemon.runner,
        bgpd.daemon.allocation,
        bgpd.plan.allocation,
        bgpd.cli.run,
        bgpd.speaker.peer,
        bgpd.speaker.session_log,
    )
)
EVENTS = r"`((?:reload|session|node|state|connect|notification|allocation|reservation)_[a-z_]+)`"


@pytest.mark.parametrize("event", sorted(set(re.findall(EVENTS, DOC))))
def test_every_log_event_named_in_the_doc_is_logged(event: str) -> None:
    assert f'"{event}"' in SOURCES


def test_the_doc_names_the_session_log_events() -> None:
    assert {"state_changed", "connect_failed", "notification_received"} <= set(re.findall(EVENTS, DOC))


def test_the_not_run_message_is_the_daemons() -> None:
    handlers = Path(bgpd.daemon.handlers.__file__).read_text(encoding="utf-8")
    assert "not run on this host: floating IP {session.local_ip} is not here" in handlers
    assert "not run on this host: floating IP 10.0.1.100 is not here" in DOC


def test_the_refusal_summary_is_the_one_bgpd_run_prints() -> None:
    assert "bgpd run: not started (N errors)" in DOC
    assert "bgpd run: not started (" in SOURCES


def test_the_connect_errors_quoted_are_the_speakers() -> None:
    local, peer = ipaddress.ip_address("10.0.1.100"), ipaddress.ip_address("10.0.1.254")
    for code in (
        errno.ECONNREFUSED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EADDRNOTAVAIL,
    ):
        assert f"`{connect_error_text(OSError(code, 'x'), local, peer, 179)}`" in DOC
