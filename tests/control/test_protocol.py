"""The JSON-lines request/reply format, without sockets."""

from __future__ import annotations

import json

import pytest

from bgpd.control.protocol import (
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
        (b"\xff\xfe", None, "not valid JSON"),
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
