"""A blocking control-socket client for ``bgpctl``: one connection, one request, one reply.

Blocking on purpose: a CLI that sends one request has nothing else to do while it waits, and
plain sockets keep ``bgpctl`` free of event-loop start-up cost.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bgpd.control.protocol import MAX_REQUEST_BYTES, Reply, encode_request, parse_reply

__all__ = ["ControlClientError", "DaemonNotRunningError", "replies", "request"]

# One reply line can be far larger than a request (a whole allocation table); this only stops a
# runaway daemon. A streamed reply is many lines, each of them bounded by the daemon.
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
    """Send one request and return the daemon's reply (which may be an error reply); the parts
    of a streamed reply are joined into one list."""
    parts: list[Any] = []
    for reply in replies(path, cmd, args, timeout):
        if not reply.ok:
            return reply
        if not reply.more and not parts:
            return reply
        if not isinstance(reply.data, list):
            raise ControlClientError("unreadable reply from bgpd: a streamed part carries no list")
        parts.extend(reply.data)
    return Reply(id=reply.id, ok=True, data=parts)


def replies(
    path: Path, cmd: str, args: Mapping[str, Any] | None = None, timeout: float = 30.0
) -> Iterator[Reply]:
    """Send one request and yield the reply lines as they come: one, or the parts of a streamed
    reply (``more``) up to and including the last; an error reply ends them. ``timeout`` bounds
    each wait for the daemon, not the whole answer."""
    payload = encode_request(next(_ids), cmd, args)
    if len(payload) > MAX_REQUEST_BYTES:
        raise ControlClientError(f"request too large ({len(payload)} bytes, limit {MAX_REQUEST_BYTES})")
    with _connect(path, timeout) as sock:
        lines = _lines(sock)
        try:
            sock.sendall(payload)
            while True:
                line = next(lines, None)
                if line is None:
                    raise ControlClientError("bgpd closed the connection without a reply")
                try:
                    reply = parse_reply(line)
                except ValueError as err:
                    raise ControlClientError(f"unreadable reply from bgpd: {err}") from None
                yield reply
                if not reply.more or not reply.ok:
                    return
        except TimeoutError:
            raise ControlClientError(f"bgpd did not answer within {timeout:g} s") from None
        except OSError as err:
            raise ControlClientError(f"connection to bgpd failed: {err.strerror or err}") from None


def _lines(sock: socket.socket) -> Iterator[bytes]:
    """The lines the daemon sends (the last one may lack its newline when the daemon hangs up)."""
    buf = bytearray()
    while True:
        end = buf.find(b"\n")
        while end < 0:
            chunk = sock.recv(1 << 20)
            if not chunk:
                if buf:
                    yield bytes(buf)
                return
            start = len(buf)
            buf += chunk
            if len(buf) > MAX_REPLY_BYTES:
                raise ControlClientError(f"reply from bgpd exceeds {MAX_REPLY_BYTES} bytes")
            end = buf.find(b"\n", start)
        yield bytes(buf[:end])
        del buf[: end + 1]
