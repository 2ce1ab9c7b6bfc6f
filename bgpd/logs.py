"""structlog configuration for the daemon: JSON lines for journald, a readable console on a terminal.

Log lines go straight to stdout through structlog's own writer — never through the standard
library's ``logging`` — because journald already timestamps, stores and forwards stdout, and the
stdlib detour costs time on every line (structlog docs, "Performance"). Context bound with
``structlog.contextvars`` (e.g. the reload generation) is merged into every line.
"""

from __future__ import annotations

import enum
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import FilteringBoundLogger, Processor

__all__ = ["LEVELS", "LogFormat", "configure_logging", "session_logger"]


class LogFormat(enum.StrEnum):
    AUTO = "auto"  # console on a terminal, JSON otherwise
    JSON = "json"
    CONSOLE = "console"


# The numeric levels structlog's filtering loggers understand (same values as the stdlib's).
LEVELS: dict[str, int] = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _wants_console(fmt: LogFormat, stream: TextIO) -> bool:
    if fmt is LogFormat.AUTO:
        return _isatty(stream)
    return fmt is LogFormat.CONSOLE


def configure_logging(
    level: str = "info",
    fmt: LogFormat | str = LogFormat.AUTO,
    stream: TextIO | None = None,
    *,
    cache: bool = True,
) -> None:
    """Configure structlog process-wide. ``cache=False`` lets tests reconfigure freely."""
    level = level.lower()
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r} (expected one of {', '.join(LEVELS)})")
    out = sys.stdout if stream is None else stream
    console = _wants_console(LogFormat(fmt), out)
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if console:
        processors.append(structlog.dev.ConsoleRenderer(colors=_isatty(out)))
    else:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=cache,
    )


def session_logger(session: str, peer: str, **context: Any) -> FilteringBoundLogger:
    """The logger for one BGP session: every line it writes names the session and the peer."""
    logger: FilteringBoundLogger = structlog.get_logger().bind(session=session, peer=peer, **context)
    return logger
