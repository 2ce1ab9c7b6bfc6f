"""sd_notify(3) spoken directly over the ``NOTIFY_SOCKET`` datagram socket, without libsystemd.

The protocol is one datagram of ``KEY=VALUE`` lines. Without ``NOTIFY_SOCKET`` (not started by
systemd, or not ``Type=notify``) every call is a no-op that returns ``False``; a broken socket also
returns ``False`` instead of raising, because losing a status line must never take the daemon down.

``RELOADING=1`` always travels with ``MONOTONIC_USEC``: systemd (≥ 253) uses it to tell a reload
that started *after* ``systemctl reload`` was issued from an older one, and without it
``systemctl reload`` may return before the reload happened.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "Watchdog",
    "notify",
    "notify_ready",
    "notify_reloading",
    "notify_status",
    "notify_stopping",
    "notify_watchdog",
    "status_line",
    "watchdog_settings",
]


def _socket_address(value: str) -> str | None:
    """``@name`` is a Linux abstract socket (leading NUL); absolute paths are filesystem sockets."""
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # e.g. "vsock:…" — not something a daemon on a host is handed


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification datagram; ``True`` when it was handed to the kernel."""
    env = os.environ if environ is None else environ
    address = _socket_address(env.get("NOTIFY_SOCKET", ""))
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)  # a receiver that stops reading must not freeze the daemon
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError:
        return False
    return True


def notify_ready(environ: Mapping[str, str] | None = None) -> bool:
    return notify("READY=1", environ)


def _monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def notify_reloading(environ: Mapping[str, str] | None = None) -> bool:
    """Start of a reload; send :func:`notify_ready` when it is over (whether it succeeded or not)."""
    return notify(f"RELOADING=1\nMONOTONIC_USEC={_monotonic_usec()}", environ)


def notify_stopping(environ: Mapping[str, str] | None = None) -> bool:
    return notify("STOPPING=1", environ)


def notify_status(text: str, environ: Mapping[str, str] | None = None) -> bool:
    """A one-line summary for ``systemctl status``; newlines would start new assignments, so they go."""
    return notify("STATUS=" + " ".join(text.splitlines()), environ)


def notify_watchdog(environ: Mapping[str, str] | None = None) -> bool:
    return notify("WATCHDOG=1", environ)


@dataclass(frozen=True, slots=True)
class Watchdog:
    """``WatchdogSec=`` as handed to us: the timeout, and how often to ping (half, sd_watchdog_enabled(3))."""

    timeout_usec: int

    @property
    def ping_interval(self) -> float:
        return self.timeout_usec / 2 / 1_000_000


def watchdog_settings(environ: Mapping[str, str] | None = None, pid: int | None = None) -> Watchdog | None:
    """The watchdog this process must ping, or ``None`` when there is none or it is meant for another PID."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return Watchdog(timeout_usec=usec)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def status_line(sessions: int, established: int, routes: int) -> str:
    """The one-line summary for STATUS= (``4 sessions, 2 established, 10 routes``)."""
    return f"{_count(sessions, 'session')}, {established} established, {_count(routes, 'route')}"
