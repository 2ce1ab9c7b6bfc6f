"""Logging configuration: JSON lines off a terminal, console on one, levels, context, session binding."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog

from bgpd.logs import LogFormat, configure_logging, session_logger


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_when_not_a_tty() -> None:
    out = io.StringIO()
    configure_logging("info", LogFormat.AUTO, out, cache=False)
    structlog.get_logger().info("state_changed", old="OpenConfirm", new="Established")
    (line,) = _lines(out)
    assert line["event"] == "state_changed"
    assert line["level"] == "info"
    assert line["new"] == "Established"
    stamp = datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00"))
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamp) < timedelta(seconds=5)


def test_console_renderer_on_a_tty() -> None:
    out = _Tty()
    configure_logging("info", "auto", out, cache=False)
    structlog.get_logger().info("hello", peer="10.0.1.254")
    text = out.getvalue()
    assert "hello" in text
    assert "peer" in text and "10.0.1.254" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_forced_formats_override_the_tty_check() -> None:
    tty = _Tty()
    configure_logging("info", "json", tty, cache=False)
    structlog.get_logger().info("x")
    assert _lines(tty)[0]["event"] == "x"
    plain = io.StringIO()
    configure_logging("info", "console", plain, cache=False)
    structlog.get_logger().info("y")
    assert "y" in plain.getvalue() and not plain.getvalue().startswith("{")


def test_level_filters_lower_lines() -> None:
    out = io.StringIO()
    configure_logging("warning", "json", out, cache=False)
    log = structlog.get_logger()
    log.info("dropped")
    log.debug("dropped too")
    log.warning("kept")
    log.error("kept too")
    assert [line["event"] for line in _lines(out)] == ["kept", "kept too"]


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="loud"):
        configure_logging("loud", "json", io.StringIO(), cache=False)


def test_contextvars_are_merged() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out, cache=False)
    structlog.contextvars.bind_contextvars(generation=3)
    structlog.get_logger().info("reload_applied")
    assert _lines(out)[0]["generation"] == 3


def test_session_logger_names_session_and_peer() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out, cache=False)
    log = session_logger("10.0.1.254-node-01", "10.0.1.254", local="10.0.1.100")
    log.info("notification_received", code=6, subcode=2, text="Cease/Administrative Shutdown")
    (line,) = _lines(out)
    assert line["session"] == "10.0.1.254-node-01"
    assert line["peer"] == "10.0.1.254"
    assert line["local"] == "10.0.1.100"
    assert line["text"] == "Cease/Administrative Shutdown"


def test_exceptions_are_rendered_into_the_json_line() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out, cache=False)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        structlog.get_logger().exception("handler_failed")
    (line,) = _lines(out)
    assert "RuntimeError: boom" in str(line["exception"])


def test_nothing_goes_through_stdlib_logging(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    configure_logging("debug", "json", out, cache=False)
    with caplog.at_level(logging.DEBUG):
        structlog.get_logger().info("direct")
    assert caplog.records == []
    assert _lines(out)[0]["event"] == "direct"


def test_level_names_are_case_insensitive() -> None:
    out = io.StringIO()
    configure_logging("WARNING", "json", out, cache=False)
    structlog.get_logger().info("dropped")
    structlog.get_logger().warning("kept")
    assert [line["event"] for line in _lines(out)] == ["kept"]
