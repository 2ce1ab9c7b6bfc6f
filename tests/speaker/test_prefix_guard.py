"""The max-prefix decision on its own: thresholds, which family goes first, the warning's re-arm."""

from __future__ import annotations

from bgpd.speaker.prefix_limit import LimitState, PrefixGuard, PrefixLimit, Verdict
from bgpd.speaker.record import notification_text
from bgpd.wire import Notification
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST

V4, V6 = IPV4_UNICAST, IPV6_UNICAST


def test_the_limit_itself_is_allowed_one_more_is_over() -> None:
    limit = PrefixLimit(100, 75, 300.0)
    assert limit.warning_at == 75
    assert [limit.state(n) for n in (74, 75, 100, 101)] == [
        LimitState.OK,
        LimitState.WARNING,
        LimitState.WARNING,
        LimitState.OVER,
    ]


def test_the_warning_threshold_rounds_up_and_is_at_least_one() -> None:
    assert PrefixLimit(10, 75, None).warning_at == 8
    assert PrefixLimit(1, 1, None).warning_at == 1


def test_no_limit_never_warns_or_stops() -> None:
    guard = PrefixGuard(PrefixLimit(0, 75, None))
    assert guard.check({V4: 10**7, V6: 10**7}) is None


def test_over_the_limit_wins_over_a_warning_of_another_family() -> None:
    guard = PrefixGuard(PrefixLimit(100, 50, None))
    assert guard.check({V4: 60, V6: 101}) == Verdict(V6, 101, LimitState.OVER)


def test_a_warning_is_given_once_until_the_count_falls_below_the_threshold() -> None:
    guard = PrefixGuard(PrefixLimit(100, 50, None))
    assert guard.check({V4: 50, V6: 0}) == Verdict(V4, 50, LimitState.WARNING)
    assert guard.check({V4: 60, V6: 0}) is None
    assert guard.check({V4: 60, V6: 55}) == Verdict(V6, 55, LimitState.WARNING)
    assert guard.check({V4: 49, V6: 55}) is None
    assert guard.check({V4: 50, V6: 55}) == Verdict(V4, 50, LimitState.WARNING)
    guard.session_down()
    assert guard.check({V4: 50, V6: 0}) == Verdict(V4, 50, LimitState.WARNING)


def test_describe_shows_the_stop_after_the_routes_are_gone() -> None:
    guard = PrefixGuard(PrefixLimit(100, 75, None))
    verdict = guard.check({V4: 101})
    assert verdict is not None
    guard.stopped(verdict, 0.0)
    shown = guard.to_control({V4: 0, V6: 0}, stopped=True, restart_in=None)
    assert shown["state"] == "over-limit" and shown["restart"] == "bgpctl reset"
    assert shown["lastStop"] == {"family": "ipv4-unicast", "received": 101, "at": "1970-01-01T00:00:00.000Z"}
    assert guard.to_control({V4: 80}, stopped=False, restart_in=None)["state"] == "warning"


def test_cease_6_1_data_round_trips_and_reads_as_text() -> None:
    cease = Notification.max_prefixes(2, 1, 5000)
    assert cease.data == bytes.fromhex("0002 01 00001388")
    assert cease.max_prefixes_data == (2, 1, 5000)
    assert notification_text(cease) == "Cease / Maximum Number of Prefixes Reached: ipv6-unicast, limit 5000"
    assert Notification(6, 1).max_prefixes_data is None  # the data is optional (RFC 4486 §4)
    assert Notification(6, 2, cease.data).max_prefixes_data is None
    assert notification_text(Notification(6, 1, bytes.fromhex("0009 07 00000001"))).endswith(
        "AFI 9 SAFI 7, limit 1"
    )
