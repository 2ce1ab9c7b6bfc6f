"""sd_notify over a real AF_UNIX datagram socket standing in for systemd's."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bgpd.daemon.host import systemd


@pytest.fixture
def notify_socket(short_dir: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    path = short_dir / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    try:
        yield sock, {"NOTIFY_SOCKET": str(path)}
    finally:
        sock.close()


def _received(sock: socket.socket) -> dict[str, str]:
    lines = sock.recv(4096).decode().split("\n")
    return dict(line.split("=", 1) for line in lines if line)


def test_ready_stopping_and_watchdog_reach_the_socket(
    notify_socket: tuple[socket.socket, dict[str, str]],
) -> None:
    sock, env = notify_socket
    assert systemd.notify_ready(env) is True
    assert _received(sock) == {"READY": "1"}
    assert systemd.notify_stopping(env) is True
    assert _received(sock) == {"STOPPING": "1"}
    assert systemd.notify_watchdog(env) is True
    assert _received(sock) == {"WATCHDOG": "1"}


def test_reloading_carries_a_current_monotonic_timestamp(
    notify_socket: tuple[socket.socket, dict[str, str]],
) -> None:
    sock, env = notify_socket
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert systemd.notify_reloading(env) is True
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    fields = _received(sock)
    assert fields["RELOADING"] == "1"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after


def test_status_is_flattened_to_one_line(notify_socket: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = notify_socket
    assert systemd.notify_status("4 sessions, 2 established\n10 routes", env)
    assert sock.recv(4096) == b"STATUS=4 sessions, 2 established 10 routes"


def test_abstract_namespace_socket() -> None:
    name = f"bgpd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        assert systemd.notify_ready({"NOTIFY_SOCKET": "@" + name}) is True
        assert sock.recv(64) == b"READY=1"


def test_no_socket_is_a_quiet_no_op() -> None:
    assert systemd.notify_ready({}) is False
    assert systemd.notify_status("x", {"NOTIFY_SOCKET": ""}) is False
    assert systemd.notify_ready({"NOTIFY_SOCKET": "vsock:2:1234"}) is False


def test_broken_socket_returns_false_instead_of_raising(short_dir: Path) -> None:
    assert systemd.notify_ready({"NOTIFY_SOCKET": str(short_dir / "missing")}) is False
    not_a_socket = short_dir / "file"
    not_a_socket.write_text("")
    assert systemd.notify_ready({"NOTIFY_SOCKET": str(not_a_socket)}) is False


def test_uses_the_process_environment_by_default(
    notify_socket: tuple[socket.socket, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, env = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", env["NOTIFY_SOCKET"])
    assert systemd.notify_ready() is True
    assert sock.recv(64) == b"READY=1"


def test_watchdog_interval_is_half_the_timeout() -> None:
    dog = systemd.watchdog_settings({"WATCHDOG_USEC": "30000000"})
    assert dog is not None
    assert dog.ping_interval == 15.0


def test_watchdog_for_this_pid_only() -> None:
    env = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert systemd.watchdog_settings(env) == systemd.Watchdog(2_000_000)
    assert systemd.watchdog_settings({**env, "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert systemd.watchdog_settings(env, pid=os.getpid() + 1) is None


@pytest.mark.parametrize(
    "env",
    [{}, {"WATCHDOG_USEC": ""}, {"WATCHDOG_USEC": "0"}, {"WATCHDOG_USEC": "abc"}, {"WATCHDOG_USEC": "-5"}],
)
def test_watchdog_absent_or_invalid(env: dict[str, str]) -> None:
    assert systemd.watchdog_settings(env) is None


def test_watchdog_with_garbage_pid_is_not_ours() -> None:
    assert systemd.watchdog_settings({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "x"}) is None


def test_status_line_counts_sessions_and_routes() -> None:
    assert systemd.status_line(4, 2, 10) == "4 sessions, 2 established, 10 routes"
    assert systemd.status_line(1, 0, 1) == "1 session, 0 established, 1 route"
