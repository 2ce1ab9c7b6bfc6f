"""The JSON-lines request/reply format, without sockets."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.control.protocol import (
    MAX_NESTING,
    MAX_REQUEST_BYTES,
    BadRequestError,
    ControlError,
    ErrorCode,
    Request,
    encode_error,
    encode_ok,
    encode_request,
    optional_bool,
    parse_reply,
    parse_request,
    require_str,
)


def test_request_round_trip() -> None:
    line = encode_request(7, "describe-session", {"name": "s1"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert parse_request(line) == Request(id=7, cmd="describe-session", args={"name": "s1"})


def test_id_and_args_are_optional() -> None:
    assert parse_request(b'{"cmd": "sessions"}') == Request(id=None, cmd="sessions", args={})
    assert parse_request(b'{"cmd": "sessions", "args": null, "id": "a"}').args == {}


@pytest.mark.parametrize(
    ("line", "echoed_id", "fragment"),
    [
        (b"not json", None, "not valid JSON"),
        (b"\xff\xfe", None, "not UTF-8"),
        (b"[1, 2]", None, "JSON object"),
        (b'{"id": 4}', 4, '"cmd"'),
        (b'{"id": 5, "cmd": ""}', 5, '"cmd"'),
        (b'{"id": 6, "cmd": 3}', 6, '"cmd"'),
        (b'{"id": 7, "cmd": "x", "args": [1]}', 7, '"args"'),
        (b'{"id": 8, "cmd": "x", "argz": {}}', 8, "argz"),
    ],
)
def test_bad_requests_keep_the_id_when_readable(line: bytes, echoed_id: object, fragment: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_request(line)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.request_id == echoed_id
    assert fragment in info.value.message


def test_ok_and_error_replies_parse_back() -> None:
    ok = parse_reply(encode_ok({"k": 1}, [{"name": "s"}]))
    assert (ok.ok, ok.id, ok.data) == (True, {"k": 1}, [{"name": "s"}])
    err = parse_reply(encode_error(3, ErrorCode.NOT_FOUND, "no session named x"))
    assert (err.ok, err.id, err.error_code, err.error_message) == (
        False,
        3,
        "not_found",
        "no session named x",
    )
    assert json.loads(encode_error(3, ErrorCode.BUSY, "m")) == {
        "id": 3,
        "ok": False,
        "error": {"code": "busy", "message": "m"},
    }


@pytest.mark.parametrize("line", [b"{", b"[]", b'{"ok": "yes"}', b'{"ok": false}'])
def test_malformed_replies_are_value_errors(line: bytes) -> None:
    with pytest.raises(ValueError):
        parse_reply(line)


def test_argument_helpers_name_the_argument() -> None:
    assert require_str({"name": "s1"}, "name") == "s1"
    with pytest.raises(ControlError, match='"name"') as info:
        require_str({"name": 3}, "name")
    assert info.value.code is ErrorCode.INVALID_ARGUMENT
    assert optional_bool({}, "soft") is False
    assert optional_bool({"soft": True}, "soft") is True
    with pytest.raises(ControlError, match='"soft"'):
        optional_bool({"soft": "yes"}, "soft")


def strict_json(line: bytes) -> Any:
    """Parse as RFC 8259 demands: UTF-8, and no NaN/Infinity (json.loads alone accepts both)."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a reply")

    return json.loads(line.decode("utf-8"), parse_constant=refuse)


LONE_SURROGATE_ID = b'{"id": "\\ud800", "cmd": "sessions"}'
BAD_LINES = {
    "deep nesting": (b"[" * 3000, None, "nests deeper than 32"),
    "deep nesting in args": (
        b'{"id": 1, "cmd": "x", "args": {"a": ' + b"[" * 40 + b"]" * 40 + b"}}",
        None,
        "nests",
    ),
    "overflowing float id": (b'{"id": 1e999}', None, "too large for a double"),
    "overflowing negative float": (b'{"id": 1, "cmd": "x", "args": {"n": -1e400}}', None, "too large"),
    "NaN": (b'{"id": NaN, "cmd": "sessions"}', None, "NaN is not JSON"),
    "Infinity": (b'{"id": 2, "cmd": "sessions", "args": {"n": Infinity}}', None, "Infinity is not JSON"),
    "-Infinity": (b'{"cmd": "sessions", "id": -Infinity}', None, "-Infinity is not JSON"),
    "5000-digit integer": (b'{"id": 1' + b"0" * 5000 + b', "cmd": "x"}', None, "outside"),
    "2**53": (b'{"id": 9007199254740992, "cmd": "x"}', None, "outside"),
    "invalid UTF-8": (b'{"id": 3, "cmd": "\xc3\x28"}', None, "not UTF-8"),
    "UTF-16": ('{"id": 3, "cmd": "sessions"}'.encode("utf-16"), None, "not UTF-8"),
    "encoded surrogate": (b'{"id": 3, "cmd": "\xed\xa0\x80"}', None, "not UTF-8"),
    "lone surrogate id": (LONE_SURROGATE_ID, None, "lone UTF-16 surrogate"),
    "lone surrogate arg": (b'{"id": 4, "cmd": "x", "args": {"s": "\\udc00"}}', None, "lone UTF-16 surrogate"),
    "duplicate member": (b'{"id": 5, "cmd": "sessions", "cmd": "reload"}', None, "appears twice"),
    "too long": (b'{"cmd": "x", "args": {"s": "' + b"a" * MAX_REQUEST_BYTES + b'"}}', None, "exceeds"),
    "string id is fine, cmd a list": (b'{"id": "q", "cmd": ["sessions"]}', "q", '"cmd"'),
    "args a string": (b'{"id": 6, "cmd": "x", "args": "{}"}', 6, '"args"'),
    "a bare number": (b"1e999", None, "too large"),
    "id an array": (b'{"id": [1], "cmd": "sessions"}', None, '"id" must be'),
    "id an object": (b'{"id": {"n": 1}, "cmd": "sessions"}', None, '"id" must be'),
    "a bare string": (b'"sessions"', None, "JSON object"),
    "null": (b"null", None, "JSON object"),
}


@pytest.mark.parametrize(("line", "echoed_id", "fragment"), BAD_LINES.values(), ids=BAD_LINES.keys())
def test_bad_requests_get_a_strict_bad_request_reply(line: bytes, echoed_id: object, fragment: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_request(line)
    assert info.value.request_id == echoed_id
    assert fragment in info.value.message
    reply = strict_json(encode_error(info.value.request_id, info.value.code, info.value.message))
    assert reply["id"] == echoed_id and reply["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    "line",
    [
        b'{"id": 9007199254740991, "cmd": "sessions"}',
        b'{"id": -9007199254740991, "cmd": "sessions"}',
        b'{"id": 1.5e308, "cmd": "sessions"}',
        b'{"id": "\\ud83d\\ude00", "cmd": "sessions"}',  # a surrogate *pair* is one character
        b'{"cmd": "x", "args": {"s": "' + b"[" * 5000 + b'\\"{{{"}}',  # brackets in strings do not nest
        b'{"cmd": "x", "args": ' + b'{"a": ' * (MAX_NESTING - 1) + b"1" + b"}" * (MAX_NESTING - 1) + b"}",
    ],
)
def test_strict_json_at_its_limits_is_accepted(line: bytes) -> None:
    request = parse_request(line)
    assert strict_json(encode_ok(request.id, request.args))["id"] == request.id


def test_replies_are_never_written_with_nan_or_infinity() -> None:
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            encode_ok(1, {"metric": value})


def test_an_error_message_quoting_a_lone_surrogate_is_still_utf8() -> None:
    reply = strict_json(encode_error(7, ErrorCode.NOT_FOUND, "no session named '\ud800'"))
    assert reply["error"]["message"] == "no session named '?'"


def test_a_request_of_exactly_the_limit_is_read() -> None:
    head, tail = b'{"cmd": "x", "args": {"s": "', b'"}}'
    line = head + b"a" * (MAX_REQUEST_BYTES - len(head) - len(tail)) + tail
    assert len(parse_request(line + b"\n").args["s"]) == MAX_REQUEST_BYTES - len(head) - len(tail)
    with pytest.raises(BadRequestError, match="exceeds"):
        parse_request(line + b" \n")


_PIECES = ["a", "\\", '"', "u", "d800", "\\u", "\ud800", "\udc00", "\ud83d", "\ude00", "é", "\n"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join), st.booleans())
def test_a_request_is_refused_exactly_when_a_string_decodes_to_a_lone_surrogate(
    text: str, ascii_only: bool
) -> None:
    """However escapes and backslashes combine; the reference is json.loads's own decoding."""
    line = json.dumps({"cmd": "x", "args": {"s": text}}, ensure_ascii=ascii_only)
    decoded = json.loads(line)["args"]["s"]
    lone = any(0xD800 <= ord(c) <= 0xDFFF for c in decoded)
    try:
        parse_request(line.encode("utf-8", "surrogatepass"))
    except BadRequestError as err:
        assert lone or not ascii_only, err.message  # raw surrogates are not UTF-8 at all
    else:
        assert not lone
