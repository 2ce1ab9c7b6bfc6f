"""The control socket's wire format: one JSON object per line, each request answered by one reply.

Request ``{"id": <scalar>, "cmd": "<name>", "args": {...}}`` (``id`` and ``args`` optional);
reply ``{"id": <echoed>, "ok": true, "data": <any JSON>}`` or
``{"id": <echoed>, "ok": false, "error": {"code": "<ErrorCode>", "message": "<text>"}}``.

A list may come in parts (a *streamed* reply): every part but the last is a reply line with
``"more": true`` and some of the list in ``data``; the last part has no ``more`` and the rest of
the list. The list is the concatenation of the parts' ``data``. So a listing of a million routes
never exists in the daemon as one value, and a client reads until a reply without ``more`` (an
error reply ends a stream too, and then the parts before it do not count).
Pure functions only: the server and the ``bgpctl`` client share them. See docs/control-protocol.md.

Requests are read strictly (RFC 8259 as I-JSON, RFC 7493, narrows it): UTF-8 only, no NaN or
Infinity or numbers beyond a double, integers within ±(2**53 - 1), no lone surrogates, no duplicate
member names, nesting at most ``MAX_NESTING`` deep, and an ``id`` that is a scalar (as in JSON-RPC
2.0). Anything else is a ``bad_request`` before any handler sees it, so no request can raise past
the parser (``'[' * 3000`` once made ``json.loads`` raise RecursionError) and every id a reply
echoes can be written back as strict JSON. Replies are written with ``allow_nan=False``: a reply is
strict JSON or it is not sent.

Cost: the parser runs on the event loop, so the checks stay near C speed on the largest request
(bench/control_parse.py): per-token Python hooks for integers and floats run only when a cheap
regular expression over the line finds a token they could refuse, and lone surrogates are found by
a regular expression over the escapes instead of re-encoding the whole request.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_NESTING",
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
# Requests nest two levels (request object, args); 32 leaves room for any argument shape while staying
# far below the interpreter's recursion limit, which json.loads would otherwise hit first.
MAX_NESTING = 32
# RFC 7493 §2.2 (I-JSON): integers outside ±(2**53 - 1) do not survive every JSON implementation.
MAX_SAFE_INTEGER = 2**53 - 1
_MAX_INTEGER_CHARS = len(str(-MAX_SAFE_INTEGER))
# Pre-filter: a line without a match holds no number the hooks below could refuse (15 digits are
# always within 2**53, and a double overflows only with a 3-digit exponent or over 308 digits), so
# json.loads runs without them, at C speed.
_RISKY_NUMBER = re.compile(r"[0-9]{16}|[eE][-+]?[0-9]{3}")
# In valid JSON text, the escapes up to the first lone surrogate: anything but a backslash, escapes
# other than \u, \u escapes of no surrogate, and high-low surrogate pairs; then a surrogate escape,
# which can only be a lone one. Possessive repeats keep the match linear (no backtracking).
_UP_TO_LONE_SURROGATE = re.compile(
    r"(?:[^\\]++|\\[^u]|\\u(?!d[89a-f])[0-9a-f]{4}|\\ud[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2})*+\\ud[89a-f]",
    re.IGNORECASE,
)
_SCALARS = (str, int, float, type(None))


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
    STOP = "stop"
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
    """Strict JSON (RFC 8259): NaN/Infinity or a lone surrogate is a ``ValueError``, never sent."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8") + b"\n"


class _NotStrictJsonError(ValueError):
    """Raised from inside ``json.loads`` by the hooks below; its text is the reply's reason."""


def _shorten(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"


def _strict_int(text: str) -> int:
    # The length test comes before int(), whose time grows with the square of the digits.
    value = int(text) if len(text) <= _MAX_INTEGER_CHARS else None
    if value is None or abs(value) > MAX_SAFE_INTEGER:
        raise _NotStrictJsonError(f"integer {_shorten(text)} is outside ±(2**53 - 1) (RFC 7493 §2.2)")
    return value


def _strict_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStrictJsonError(f"number {_shorten(text)} is too large for a double (RFC 8259 §6)")
    return value


def _has_lone_surrogate(text: str) -> bool:
    """Whether a string in the (valid JSON) ``text`` decodes to a lone UTF-16 surrogate, which no
    UTF-8 reply can carry (RFC 8259 §8.2); a high and low surrogate in a row are one character."""
    return "\\u" in text and _UP_TO_LONE_SURROGATE.match(text) is not None


def _no_constant(name: str) -> Any:
    raise _NotStrictJsonError(f"{name} is not JSON (RFC 8259 §6)")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate names are refused: ``{"cmd": "sessions", "cmd": "reload"}`` has no one meaning."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _NotStrictJsonError(f"member name {_shorten(repr(name))} appears twice (RFC 8259 §4)")
            seen.add(name)
    return obj


def _nests_deeper_than(text: str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit``, found without recursion.

    Most requests hold fewer than ``limit`` brackets in all and skip the scan; the scan is one pass
    over at most MAX_REQUEST_BYTES characters (a few milliseconds), so the loop is never stalled.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _load_strict(line: bytes) -> Any:
    if len(line) - line.endswith(b"\n") > MAX_REQUEST_BYTES:  # the newline is no part of the request
        raise BadRequestError(None, f"request exceeds {MAX_REQUEST_BYTES} bytes")
    try:
        text = line.decode("utf-8")  # RFC 8259 §8.1; json.loads(bytes) would also guess UTF-16/32
    except UnicodeDecodeError as err:
        raise BadRequestError(None, f"request is not UTF-8 (byte {err.start})") from None
    if _nests_deeper_than(text, MAX_NESTING):
        raise BadRequestError(None, f"request nests deeper than {MAX_NESTING} levels")
    try:
        risky = _RISKY_NUMBER.search(text) is not None
        obj = json.loads(
            text,
            parse_int=_strict_int if risky else None,
            parse_float=_strict_float if risky else None,
            parse_constant=_no_constant,
            object_pairs_hook=_unique_members,
        )
    except ValueError as err:  # JSONDecodeError or one of the strict hooks
        raise BadRequestError(None, f"request is not valid JSON: {err}") from None
    if _has_lone_surrogate(text):
        raise BadRequestError(None, "request holds a lone UTF-16 surrogate (RFC 8259 §8.2)")
    return obj


def parse_request(line: bytes) -> Request:
    """Decode one request line. On failure the ``BadRequestError`` carries the id when one could be read.

    Nothing but ``BadRequestError`` leaves this function, whatever ``line`` holds (the control fuzz
    target in tests/fuzz checks that).
    """
    obj = _load_strict(line)
    if not isinstance(obj, dict):
        raise BadRequestError(None, "request must be a JSON object")
    request_id = obj.get("id")
    if not isinstance(request_id, _SCALARS):  # echoing a big structure back would cost a loop stall
        raise BadRequestError(None, '"id" must be a string, a number, true, false or null')
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
    """An error reply; a message quoting something unencodable (a lone surrogate) gets "?" for it."""
    text = message.encode("utf-8", "replace").decode("utf-8")
    return _dumps({"id": request_id, "ok": False, "error": {"code": str(code), "message": text}})


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
