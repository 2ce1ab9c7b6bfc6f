"""Route filters: one definition read by the daemon and built by bgpctl, refusing what it cannot mean."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from bgpd.control.protocol import ControlError, ErrorCode
from bgpd.control.queries import RouteQuery, only_known, parse_prefix


def test_round_trip_through_request_arguments() -> None:
    query = RouteQuery(session="s1", prefix=ipaddress.ip_network("10.0.0.0/8"), limit=5)
    assert query.to_args() == {"session": "s1", "prefix": "10.0.0.0/8", "limit": 5}
    assert RouteQuery.from_args(query.to_args()) == query
    assert RouteQuery().to_args() == {}
    assert RouteQuery.from_args({}) == RouteQuery()


@pytest.mark.parametrize(
    ("inside", "route", "wanted"),
    [
        ("10.0.0.0/8", "10.0.0.0/8", True),  # the prefix itself
        ("10.0.0.0/8", "10.1.2.0/24", True),  # a more-specific
        ("10.0.0.0/8", "0.0.0.0/0", False),  # a covering route is not inside
        ("10.0.0.0/8", "11.0.0.0/24", False),
        ("222.2.0.0/24", "222.2.0.0/25", True),
        ("222.2.0.1", "222.2.0.1/32", True),  # a bare address is its host prefix
        ("222.2.0.1", "222.2.0.0/24", False),
        ("2222:3::/64", "2222:3::100/120", True),
        ("0.0.0.0/0", "2222:3::/120", False),  # families never mix
        ("::/0", "2222:3::/120", True),
    ],
)
def test_prefix_finds_itself_and_its_more_specifics(inside: str, route: str, wanted: bool) -> None:
    assert RouteQuery(prefix=parse_prefix(inside)).wants_prefix(route) is wanted


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        ({"prefx": "10.0.0.0/8"}, "unknown argument(s) prefx (known: session, prefix, limit)"),
        ({"limit": 0}, '"limit" must be a positive integer'),
        ({"limit": "3"}, '"limit" must be a positive integer'),
        ({"limit": True}, '"limit" must be a positive integer'),
        ({"session": ""}, '"session" must be a non-empty string'),
        ({"session": 7}, '"session" must be a non-empty string'),
        ({"prefix": "10.0.0.1/8"}, "'10.0.0.1/8' has host bits set; the prefix is 10.0.0.0/8"),
        ({"prefix": "ten/8"}, "'ten/8' is not a prefix"),
    ],
)
def test_bad_arguments_are_invalid_argument(args: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ControlError) as refused:
        RouteQuery.from_args(args)
    assert refused.value.code is ErrorCode.INVALID_ARGUMENT
    assert complaint in refused.value.message


def test_commands_without_arguments_refuse_any() -> None:
    only_known({"name": "x"}, ("name",))
    with pytest.raises(ControlError) as refused:
        only_known({"nmae": "x"}, ("name",))
    assert refused.value.message == "unknown argument(s) nmae (known: name)"
