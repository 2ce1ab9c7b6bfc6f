"""The metrics text: both exposition formats parse with prometheus-client's own parsers, every
family is there with the values the daemon maintains, and labels stay bounded and escaped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus
from structlog.testing import capture_logs

from bgpd.daemon.handlers import ReloadRejectedError
from bgpd.daemon.metrics import CHUNK, FAMILIES, DaemonReading, Format, render
from bgpd.fsm import State
from bgpd.plan.maintenance import Maintenance
from bgpd.plan.usage import PoolUsage
from bgpd.speaker import SessionReading
from bgpd.speaker.record import Counters, ErrorKind, NotificationRecord
from bgpd.wire.constants import MessageType
from tests.daemon.test_runner import make, started_with_settings
from tests.plan._fixtures import SINGLE, plan

AT = 1_790_000_000.5


def reading(name: str, state: State = State.ESTABLISHED, **kw: Any) -> SessionReading:
    counters = Counters(flaps=2, prefixes_in=7, withdrawn_in=1, prefixes_out=4, updates_treated_as_withdraw=3)
    counters.messages_in[MessageType.UPDATE] = 5
    counters.messages_out[MessageType.KEEPALIVE] = 9
    values: dict[str, Any] = {
        "name": name,
        "fsm_state": state,
        "admin_down": False,
        "uptime": 61.25 if state is State.ESTABLISHED else None,
        "routes_received": 6,
        "routes_sent": 2,
        "counters": counters,
        "last_error_kind": None,
        "last_error_at": None,
        "last_notification": None,
    }
    return SessionReading(**(values | kw))


def daemon_reading(sessions: list[SessionReading] | None = None, **kw: Any) -> DaemonReading:
    planned = plan(maintenance=Maintenance().drain("10.0.3.254-node-02")).local_sessions()
    values: dict[str, Any] = {
        "reloads": 3,
        "reloads_rejected": 1,
        "last_reload_successful": False,
        "loop_lag": 0.002,
        "loop_lag_max": 0.031,
        "pools": (PoolUsage("cluster-wide-1", "ipv4", 256, 4, 5),),
        "floating_ips": (("10.0.1.100", True), ("10.0.3.100", False)),
        "ledger_written": False,
        "withheld_pod_cidrs": 2,
        "sessions": sessions if sessions is not None else [reading(n) for n in sorted(planned)],
        "planned": planned,
    }
    return DaemonReading(**(values | kw))


def samples(text: str, fmt: Format) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    parse = parse_openmetrics if fmt is Format.OPENMETRICS else parse_prometheus
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value for family in parse(text) for s in family.samples
    }


@pytest.mark.parametrize("fmt", list(Format))
def test_both_formats_parse_and_carry_every_family(fmt: Format) -> None:
    text = "".join(render(daemon_reading(), fmt))
    parse = parse_openmetrics if fmt is Format.OPENMETRICS else parse_prometheus
    names = {family.name for family in parse(text)}
    if fmt is Format.OPENMETRICS:
        assert text.endswith("# EOF\n")
        assert names == {f.name for f in FAMILIES}
    else:  # the classic parser names a family after its samples (``_total`` kept)
        assert {n.removesuffix("_total").removesuffix("_info") for n in names} == {f.name for f in FAMILIES}


@pytest.mark.parametrize("fmt", list(Format))
def test_the_values_are_the_maintained_ones(fmt: Format) -> None:
    one = "10.0.1.254-node-01"
    note = NotificationRecord(6, 2, 'Cease / Administrative Shutdown: "bye"', AT)
    sessions = [
        reading(
            one,
            State.ACTIVE,
            last_error_kind=ErrorKind.NOTIFICATION_RECEIVED,
            last_error_at=AT,
            last_notification=note,
        ),
        reading("10.0.3.254-node-02", last_error_kind=ErrorKind.CONNECT_FAILED, last_error_at=AT),
    ]
    got = samples("".join(render(daemon_reading(sessions), fmt)), fmt)
    s1 = (("session", one),)
    s2 = (("session", "10.0.3.254-node-02"),)
    assert got[("bgpd_reloads_total", ())] == 3
    assert got[("bgpd_reloads_rejected_total", ())] == 1
    assert got[("bgpd_last_reload_successful", ())] == 0
    assert got[("bgpd_event_loop_lag_max_seconds", ())] == 0.031
    pool = (("config", "cluster-wide-1"), ("family", "ipv4"))
    assert (got[("bgpd_cluster_cidr_allocations", pool)], got[("bgpd_cluster_cidr_free_blocks", pool)]) == (
        4,
        251,
    )
    assert got[("bgpd_floating_ip_held", (("address", "10.0.3.100"),))] == 0
    assert got[("bgpd_floating_ips_held", ())] == 1
    assert (got[("bgpd_ledger_written", ())], got[("bgpd_ledger_withheld_pod_cidrs", ())]) == (0, 2)
    assert got[("bgpd_sessions", ())] == 2
    assert (got[("bgpd_session_established", s1)], got[("bgpd_session_state", s1)]) == (0, 3)
    assert (got[("bgpd_session_established", s2)], got[("bgpd_session_state", s2)]) == (1, 6)
    assert (got[("bgpd_session_uptime_seconds", s1)], got[("bgpd_session_uptime_seconds", s2)]) == (0, 61.25)
    assert (got[("bgpd_session_drained", s1)], got[("bgpd_session_drained", s2)]) == (0, 1)
    assert got[("bgpd_session_flaps_total", s1)] == 2
    assert got[("bgpd_session_messages_received_total", (*s1, ("type", "update")))] == 5
    assert got[("bgpd_session_messages_received_total", (*s1, ("type", "route-refresh")))] == 0
    assert got[("bgpd_session_messages_sent_total", (*s1, ("type", "keepalive")))] == 9
    assert (got[("bgpd_session_routes_received", s1)], got[("bgpd_session_routes_advertised", s1)]) == (6, 2)
    assert got[("bgpd_session_prefixes_received_total", s1)] == 7
    assert got[("bgpd_session_withdrawals_received_total", s1)] == 1
    assert got[("bgpd_session_prefixes_sent_total", s1)] == 4
    assert got[("bgpd_session_updates_treated_as_withdraw_total", s1)] == 3
    info = "bgpd_session_last_error_info"
    assert got[(info, (("code", "6"), ("kind", "notification-received"), *s1, ("subcode", "2")))] == 1
    assert got[(info, (("kind", "connect-failed"), *s2))] == 1  # no code: it was no NOTIFICATION
    assert got[("bgpd_session_last_error_timestamp_seconds", s1)] == AT
    peer = dict(next(k for k in got if k[0] == "bgpd_session_peer_info" and ("session", one) in k[1])[1])
    assert peer == {
        "session": one,
        "peer": "bgppeer1",
        "local_ip": "10.0.1.100",
        "peer_ip": "10.0.1.254",
        "local_asn": "65001",
        "peer_asn": "65002",
    }


def test_no_label_comes_from_text_a_peer_wrote() -> None:
    wild = NotificationRecord(6, 2, 'x"}\n' * 60, AT)
    sessions = [
        reading("10.0.1.254-node-01", last_error_kind=ErrorKind.NOTIFICATION_RECEIVED, last_notification=wild)
    ]
    text = "".join(render(daemon_reading(sessions), Format.OPENMETRICS))
    assert 'x"}' not in text and 'x\\"}' not in text
    list(parse_openmetrics(text))


def test_label_values_are_escaped() -> None:
    planned = plan().local_sessions()
    name = "10.0.1.254-node-01"
    tricky = planned[name].__class__(
        'peer "one"\\x', planned[name].config, True, None, planned[name].announced, planned[name].skipped
    )
    text = "".join(render(daemon_reading([reading(name)], planned={name: tricky}), Format.OPENMETRICS))
    family = next(f for f in parse_openmetrics(text) if f.name == "bgpd_session_peer")
    assert family.samples[0].labels["peer"] == 'peer "one"\\x'


def test_many_sessions_come_in_chunks_that_give_the_loop_back() -> None:
    sessions = [reading(f"s{i:04d}") for i in range(CHUNK * 2 + 1)]
    chunks = list(render(daemon_reading(sessions, planned={}), Format.OPENMETRICS))
    established = [c for c in chunks if "bgpd_session_established{" in c]
    assert len(established) == 3 and established[0].startswith("# TYPE bgpd_session_established gauge")
    assert not established[1].startswith("#")
    family = next(f for f in parse_openmetrics("".join(chunks)) if f.name == "bgpd_session_established")
    assert len(family.samples) == CHUNK * 2 + 1


def test_format_negotiation_follows_accept() -> None:
    prometheus_accept = (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
        "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    )
    assert Format.negotiate(prometheus_accept) is Format.OPENMETRICS
    assert Format.negotiate("text/plain") is Format.PROMETHEUS
    assert Format.negotiate(None) is Format.PROMETHEUS


@pytest.mark.asyncio
async def test_the_daemon_counts_reloads_and_knows_its_floating_ips(tmp_path: Path) -> None:
    daemon, _, addresses, path = make(tmp_path)
    await daemon.start()
    await daemon.reload("test")
    path.write_text("kind: Cluster\nmetadata: [\n", encoding="utf-8")
    with pytest.raises(ReloadRejectedError):
        await daemon.reload("test")
    del addresses.addresses["10.0.3.100"]
    await daemon.addresses_changed()
    await daemon.disable_session("10.0.1.254-node-01", "x")
    text = await daemon.metrics_text(Format.OPENMETRICS)
    got = samples(text, Format.OPENMETRICS)
    assert (got[("bgpd_reloads_total", ())], got[("bgpd_reloads_rejected_total", ())]) == (1, 1)
    assert got[("bgpd_last_reload_successful", ())] == 0
    assert got[("bgpd_floating_ip_held", (("address", "10.0.1.100"),))] == 1
    assert got[("bgpd_floating_ip_held", (("address", "10.0.3.100"),))] == 0
    assert got[("bgpd_sessions", ())] == 2  # the sessions of 10.0.1.100 only
    assert (got[("bgpd_ledger_written", ())], got[("bgpd_ledger_withheld_pod_cidrs", ())]) == (1, 0)
    one = (("session", "10.0.1.254-node-01"),)
    assert (got[("bgpd_session_disabled", one)], got[("bgpd_session_established", one)]) == (1, 0)
    pool = (("config", "cluster-wide-1"), ("family", "ipv4"))
    assert got[("bgpd_cluster_cidr_allocations", pool)] == 4  # the example's four nodes
    assert got[("bgpd_event_loop_lag_max_seconds", ())] >= 0
    path.write_text(SINGLE, encoding="utf-8")
    await daemon.reload("test")
    assert (
        samples(await daemon.metrics_text(Format.OPENMETRICS), Format.OPENMETRICS)[
            ("bgpd_last_reload_successful", ())
        ]
        == 1
    )
    await daemon.stop()


@pytest.mark.asyncio
async def test_a_changed_listener_waits_for_a_restart(tmp_path: Path) -> None:
    daemon, _, settings = await started_with_settings(tmp_path)
    settings.write_text("defaults:\n  holdTime: 90\nmetrics:\n  enabled: true\n", encoding="utf-8")
    with capture_logs() as logs:
        await daemon.reload("test")
    ignored = [e for e in logs if e["event"] == "reload_ignored_setting"]
    assert [e["setting"] for e in ignored] == ["metrics"]
