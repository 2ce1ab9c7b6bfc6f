"""A blocking control-socket client for ``bgpctl``: one connection, one request, one reply.

Blocking on purpose: a CLI that sends one request has nothing else to do while it waits, and
plain sockets keep ``bgpctl`` free of event-loop start-up cost.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bgpd.control.protocol import MAX_REQUEST_BYTES, Reply, encode_request, parse_reply

__all__ = ["ControlClientError", "DaemonNotRunningError", "request"]

# A reply can be far larger than a request (a full route table); this only stops a runaway daemon.
MAX_REPLY_BYTES = 256 * 1024 * 1024
_ids = itertools.count(1)


class ControlClientError(Exception):
    """Talking to the daemon failed; the message is one line for the operator."""


class DaemonNotRunningError(ControlClientError):
    pass


def _connect(path: Path, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except FileNotFoundError:
        sock.close()
        raise DaemonNotRunningError(f"bgpd is not running (no socket at {path})") from None
    except ConnectionRefusedError:
        sock.close()
        raise DaemonNotRunningError(
            f"bgpd is not running (stale socket at {path}, nobody listening)"
        ) from None
    except PermissionError:
        sock.close()
        raise ControlClientError(
            f"permission denied on {path} (run as root or as a member of the socket's group)"
        ) from None
    except OSError as err:
        sock.close()
        raise ControlClientError(f"cannot connect to {path}: {err.strerror or err}") from None
    return sock


def request(path: Path, cmd: str, args: Mapping[str, Any] | None = None, timeout: float = 30.0) -> Reply:
    """Send one request and return the daemon's reply (which may be an error reply)."""
    payload = encode_request(next(_ids), cmd, args)
    if len(payload) > MAX_REQUEST_BYTES:
        raise ControlClientError(f"request too large ({len(payload)} bytes, limit {MAX_REQUEST_BYTES})")
    with _connect(path, timeout) as sock:
        buf = bytearray()
        try:
            sock.sendall(payload)
            while b"\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                if len(buf) > MAX_REPLY_BYTES:
                    raise ControlClientError(f"reply from bgpd exceeds {MAX_REPLY_BYTES} bytes")
        except TimeoutError:
            raise ControlClientError(f"bgpd did not answer within {timeout:g} s") from None
        except OSError as err:
            raise ControlClientError(f"connection to bgpd failed: {err.strerror or err}") from None
    line, newline, _ = bytes(buf).partition(b"\n")
    if not newline and not line:
        raise ControlClientError("bgpd closed the connection without a reply")
    try:
        return parse_reply(line)
    except ValueError as err:
        raise ControlClientError(f"unreadable reply from bgpd: {err}") from None
