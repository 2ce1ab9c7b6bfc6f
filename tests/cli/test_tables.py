"""Table rendering against fixed data: the product's columns, kubectl spacing and ages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bgpd.cli.tables import (
    format_age,
    parse_timestamp,
    render_describe,
    render_table,
    table_for,
)

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def _cells(line: str) -> list[str]:
    return re.split(r" {3,}", line.strip())


def _ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


SESSIONS = [
    {
        "name": "10.0.1.254-node-01",
        "localASN": 65500,
        "peerASN": 65000,
        "localIP": "10.0.1.100",
        "peerIP": "10.0.1.254",
        "state": "Established",
        "fsmState": "Established",
        "lastReport": _ago(2),
        "uptimeSeconds": 812,
        "prefixesSent": 2,
        "prefixesReceived": 0,
        "lastError": None,
    },
    {
        "name": "10.0.1.254-node-02",
        "localASN": 65500,
        "peerASN": 65000,
        "localIP": "10.0.3.100",
        "peerIP": "10.0.1.254",
        "state": "NotEstablished",
        "fsmState": "Connect",
        "lastReport": _ago(2),
        "uptimeSeconds": None,
        "prefixesSent": 0,
        "prefixesReceived": 0,
        "lastError": "connect: No route to host",
    },
]


def test_sessions_table_matches_the_product_layout() -> None:
    expected = (
        "NAME                 LOCAL ASN   PEER ASN   LOCAL IP     PEER IP      STATE            LAST REPORT\n"
        "10.0.1.254-node-01   65500       65000      10.0.1.100   10.0.1.254   Established      2s\n"
        "10.0.1.254-node-02   65500       65000      10.0.3.100   10.0.1.254   NotEstablished   2s\n"
    )
    assert table_for("bgpsessions", SESSIONS, NOW) == expected


def test_sessions_wide_adds_the_rfc_state_uptime_counters_and_error() -> None:
    lines = table_for("bgpsessions", SESSIONS, NOW, wide=True).splitlines()
    assert _cells(lines[0])[-5:] == [
        "FSM STATE",
        "UPTIME",
        "PREFIXES SENT",
        "PREFIXES RECEIVED",
        "LAST ERROR",
    ]
    assert lines[1].split()[-5:] == ["Established", "13m", "2", "0", "<none>"]
    assert lines[2].endswith(
        "Connect       <none>   0               0                   connect: No route to host"
    )


def test_advertised_routes_like_the_product() -> None:
    routes = [
        {
            "name": "route-via-222-22-208-240",
            "prefix": "222.2.0.0/24",
            "nextHop": "222.22.208.240",
            "family": "ipv4-unicast",
            "metric": None,
            "sessions": ["s1", "s2"],
        },
        {
            "name": "route-via-222-22-209-240",
            "prefix": "222.2.1.0/24",
            "nextHop": "222.22.209.240",
            "family": "ipv4-unicast",
            "metric": 10,
            "sessions": ["s1"],
        },
    ]
    assert table_for("bgpadvertisedroutes", routes, NOW) == (
        "NAME                       PREFIX         METRIC\n"
        "route-via-222-22-208-240   222.2.0.0/24\n"
        "route-via-222-22-209-240   222.2.1.0/24   10\n"
    )
    wide = table_for("bgpadvertisedroutes", routes, NOW, wide=True).splitlines()
    assert _cells(wide[0])[3:] == ["NEXT HOP", "FAMILY", "COMMUNITIES", "SESSIONS"]
    assert wide[1].split() == [
        "route-via-222-22-208-240",
        "222.2.0.0/24",
        "222.22.208.240",
        "ipv4-unicast",
        "<none>",
        "s1,s2",
    ]


def test_received_routes_and_allocations() -> None:
    received = [
        {"session": "s1", "prefix": "0.0.0.0/0", "nextHop": "10.0.1.254", "metric": None, "asPath": [65000]}
    ]
    assert table_for("bgpreceivedroutes", received, NOW).splitlines()[1].split() == [
        "s1",
        "0.0.0.0/0",
        "10.0.1.254",
    ]
    wide = table_for("bgpreceivedroutes", received, NOW, wide=True).splitlines()
    assert wide[1].endswith("<none>   65000")
    allocations = [
        {
            "node": "node-01",
            "nodePool": "np1",
            "clusterCIDRConfig": "cluster-wide-1",
            "podCIDRs": ["222.2.0.0/24", "2222:3::/120"],
        }
    ]
    assert table_for("allocations", allocations, NOW) == (
        "NODE      NODEPOOL   CLUSTERCIDRCONFIG   POD CIDRS\n"
        "node-01   np1        cluster-wide-1      222.2.0.0/24,2222:3::/120\n"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-0.5, "0s"),
        (0, "0s"),
        (2, "2s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (300, "5m"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 120, "3h2m"),
        (8 * 3600 + 1800, "8h"),
        (47 * 3600, "47h"),
        (2 * 86400 + 17 * 3600, "2d17h"),
        (3 * 86400, "3d"),
        (8 * 86400, "8d"),
        (2 * 365 * 86400 + 3 * 86400, "2y3d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_ages_like_kubectl(seconds: float, text: str) -> None:
    assert format_age(seconds) == text


def test_last_report_ages_and_missing_values() -> None:
    rows = [
        dict(SESSIONS[0], lastReport=_ago(2 * 86400 + 17 * 3600 + 59)),
        dict(SESSIONS[0], lastReport=None),
    ]
    rows.append(dict(SESSIONS[0], lastReport="yesterday"))
    cells = [line.split()[-1] for line in table_for("bgpsessions", rows, NOW).splitlines()[1:]]
    assert cells == ["2d17h", "<none>", "<invalid>"]


def test_timestamps_with_offsets_or_naive_are_utc() -> None:
    assert parse_timestamp("2026-11-26T13:00:00+01:00") == NOW
    assert parse_timestamp("2026-11-26T12:00:00") == NOW
    assert parse_timestamp("2026-11-26T12:00:00Z") == NOW


def test_render_table_pads_by_the_widest_cell_plus_three() -> None:
    assert render_table(["A", "BB"], [["xxxx", "y"], ["z", ""]]) == "A      BB\nxxxx   y\nz\n"


def test_describe_renders_nested_sections() -> None:
    text = render_describe(
        {
            "name": "s1",
            "localASN": 65001,
            "lastReport": _ago(5),
            "uptimeSeconds": 7200,
            "capabilities": {"negotiated": ["ipv4-unicast", "four-octet-as"]},
            "lastNotificationReceived": {"code": 6, "subcode": 2, "text": "Cease/Administrative Shutdown"},
            "history": [{"from": "Idle", "to": "Connect", "reason": "manual start"}],
            "lastError": None,
        },
        NOW,
    )
    assert text.splitlines() == [
        "Name:  s1",
        "Local ASN:  65001",
        f"Last Report:  {_ago(5)} (5s ago)",
        "Uptime:  120m",
        "Capabilities:",
        "  Negotiated:",
        "    - ipv4-unicast",
        "    - four-octet-as",
        "Last Notification Received:",
        "  Code:  6",
        "  Subcode:  2",
        "  Text:  Cease/Administrative Shutdown",
        "History:",
        "  - From:  Idle",
        "    To:  Connect",
        "    Reason:  manual start",
        "Last Error:  <none>",
    ]


def test_describe_says_what_a_session_that_never_came_up_has_not_done_yet() -> None:
    text = render_describe(
        {
            "name": "s1",
            "uptimeSeconds": None,
            "lastError": "connection refused by 127.0.1.254:17999",
            "holdTime": None,
            "capabilities": {},
            "counters": {"messagesIn": {}, "messagesOut": {}, "flaps": 0, "somethingNew": []},
            "routes": {"skipped": []},
        },
        NOW,
    )
    assert text.splitlines() == [
        "Name:  s1",
        "Uptime:  not established",
        "Last Error:  connection refused by 127.0.1.254:17999",
        "Hold Time:  none negotiated yet",
        "Capabilities:  none negotiated yet",
        "Counters:",
        "  Messages In:  none yet",
        "  Messages Out:  none yet",
        "  Flaps:  0",
        "  Something New:  none",
        "Routes:",
        "  Skipped:  none",
    ]
    assert "{}" not in text
