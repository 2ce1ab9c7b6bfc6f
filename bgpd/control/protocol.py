"""The control socket's wire format: one JSON object per line, each request answered by one reply.

Request ``{"id": <any JSON>, "cmd": "<name>", "args": {...}}`` (``id`` and ``args`` optional);
reply ``{"id": <echoed>, "ok": true, "data": <any JSON>}`` or
``{"id": <echoed>, "ok": false, "error": {"code": "<ErrorCode>", "message": "<text>"}}``.

A list may come in parts (a *streamed* reply): every part but the last is a reply line with
``"more": true`` and some of the list in ``data``; the last part has no ``more`` and the rest of
the list. The list is the concatenation of the parts' ``data``. So a listing of a million routes
never exists in the daemon as one value, and a client reads until a reply without ``more`` (an
error reply ends a stream too, and then the parts before it do not count).
Pure functions only: the server and the ``bgpctl`` client share them. See docs/control-protocol.md.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_REQUEST_BYTES",
    "BadRequestError",
    "Command",
    "ControlError",
    "ErrorCode",
    "Reply",
    "Request",
    "encode_error",
    "encode_ok",
    "encode_part",
    "encode_request",
    "optional_bool",
    "parse_reply",
    "parse_request",
    "require_str",
]

# A request line longer than this is refused and the connection closed (ExaBGP's MAX_COMMAND_SIZE idea):
# no legitimate request comes near it, and it bounds what one client can make the daemon buffer.
MAX_REQUEST_BYTES = 64 * 1024


class ErrorCode(enum.StrEnum):
    BAD_REQUEST = "bad_request"  # not JSON, not an object, or fields of the wrong type
    REQUEST_TOO_LARGE = "request_too_large"  # line over MAX_REQUEST_BYTES; the connection is closed
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_ARGUMENT = "invalid_argument"  # the command exists but its args are wrong
    NOT_FOUND = "not_found"  # e.g. no session of that name
    PERMISSION_DENIED = "permission_denied"  # privileged command from an unprivileged peer
    BUSY = "busy"  # too many clients connected; the connection is closed
    FAILED = "failed"  # the command ran and failed (e.g. a reload rejected by validation)
    INTERNAL_ERROR = "internal_error"  # a bug: the handler raised something unexpected


class Command(enum.StrEnum):
    """The commands bgpd serves; ``bgpctl`` maps its sub-commands onto these."""

    SESSIONS = "sessions"
    ADVERTISED_ROUTES = "advertised-routes"
    RECEIVED_ROUTES = "received-routes"
    ALLOCATIONS = "allocations"
    DESCRIBE_SESSION = "describe-session"
    RELOAD = "reload"
    RESET_SESSION = "reset-session"
    STATUS = "status"
    DISABLE_SESSION = "disable-session"
    ENABLE_SESSION = "enable-session"
    DRAIN = "drain"
    UNDRAIN = "undrain"
    METRICS = "metrics"
    RELEASE_NODE = "release-node"


class ControlError(Exception):
    """Raised by handlers (and the parser) to answer with an error reply instead of data."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    id: Any
    cmd: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    id: Any
    ok: bool
    data: Any = None
    error_code: str = ""
    error_message: str = ""
    more: bool = False  # a part of a streamed reply, more parts follow


class BadRequestError(ControlError):
    """A request that could not be understood; remembers the id so the reply can still echo it."""

    def __init__(self, request_id: Any, message: str) -> None:
        super().__init__(ErrorCode.BAD_REQUEST, message)
        self.request_id = request_id


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def parse_request(line: bytes) -> Request:
    """Decode one request line. On failure the ``ControlError`` carries the id when one could be read."""
    try:
        obj = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadRequestError(None, f"request is not valid JSON: {err}") from None
    if not isinstance(obj, dict):
        raise BadRequestError(None, "request must be a JSON object")
    request_id = obj.get("id")
    cmd = obj.get("cmd")
    if not isinstance(cmd, str) or not cmd:
        raise BadRequestError(request_id, 'request needs "cmd", a non-empty string')
    args = obj.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise BadRequestError(request_id, '"args" must be a JSON object')
    unknown = sorted(set(obj) - {"id", "cmd", "args"})
    if unknown:
        raise BadRequestError(request_id, f"unknown request field(s): {', '.join(unknown)}")
    return Request(id=request_id, cmd=cmd, args=args)


def encode_ok(request_id: Any, data: Any) -> bytes:
    return _dumps({"id": request_id, "ok": True, "data": data})


def encode_part(request_id: Any, part: list[Any]) -> bytes:
    """One part of a streamed reply, not the last one (see the module docstring)."""
    return _dumps({"id": request_id, "ok": True, "data": part, "more": True})


def encode_error(request_id: Any, code: ErrorCode, message: str) -> bytes:
    return _dumps({"id": request_id, "ok": False, "error": {"code": str(code), "message": message}})


def encode_request(request_id: Any, cmd: str, args: Mapping[str, Any] | None = None) -> bytes:
    return _dumps({"id": request_id, "cmd": cmd, "args": dict(args or {})})


def parse_reply(line: bytes) -> Reply:
    """Decode one reply line (client side); a malformed reply is a ``ValueError``."""
    try:
        obj = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"reply is not valid JSON: {err}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("ok"), bool):
        raise ValueError('reply must be a JSON object with a boolean "ok"')
    if obj["ok"]:
        more = obj.get("more", False)
        if not isinstance(more, bool) or (more and not isinstance(obj.get("data"), list)):
            raise ValueError('"more" must be true or false, and a part must carry a list')
        return Reply(id=obj.get("id"), ok=True, data=obj.get("data"), more=more)
    error = obj.get("error")
    if not isinstance(error, dict):
        raise ValueError('error reply must carry an "error" object')
    return Reply(
        id=obj.get("id"),
        ok=False,
        error_code=str(error.get("code", "")),
        error_message=str(error.get("message", "")),
    )


def require_str(args: Mapping[str, Any], name: str) -> str:
    """A mandatory string argument, or ``invalid_argument`` naming it."""
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError(ErrorCode.INVALID_ARGUMENT, f'argument "{name}" must be a non-empty string')
    return value


def optional_bool(args: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = args.get(name, default)
    if not isinstance(value, bool):
        raise ControlError(ErrorCode.INVALID_ARGUMENT, f'argument "{name}" must be true or false')
    return value
