"""Metrics from a running ``bgpd run``: scraped over HTTP as Prometheus does, and with ``bgpctl get
metrics``, both parsed by prometheus-client's OpenMetrics parser, values matching the sessions."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from bgpd.cli.demo import free_port
from tests.e2e.harness import Cluster

pytestmark = pytest.mark.asyncio

ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"


def _get(url: str, accept: str = ACCEPT) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # loopback only
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def _values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parse_openmetrics(text)
        for s in family.samples
    }


async def test_scrape_over_http_and_bgpctl_get_metrics(short_dir: Path) -> None:
    port = free_port()
    settings = f"metrics:\n  enabled: true\n  address: 127.0.0.1\n  port: {port}\n"
    async with Cluster(short_dir, extra_settings=settings) as cluster:
        url = f"http://127.0.0.1:{port}/metrics"
        status, content_type, text = await asyncio.to_thread(_get, url)
        assert (status, content_type) == (200, "application/openmetrics-text; version=1.0.0; charset=utf-8")
        over_http = _values(text)
        sessions = {
            dict(labels)["session"]: value
            for (metric, labels), value in over_http.items()
            if metric == "bgpd_session_established"
        }
        assert sorted(sessions.values()) == [0, 0, 1, 1]  # two on their segment, two that cannot be
        up = [name for name, value in sessions.items() if value == 1]
        for name in up:
            key = (("session", name),)
            assert over_http[("bgpd_session_state", key)] == 6
            assert over_http[("bgpd_session_routes_advertised", key)] == 4  # what each router holds
            assert over_http[("bgpd_session_messages_sent_total", (*key, ("type", "update")))] >= 1
        assert over_http[("bgpd_sessions", ())] == 4
        assert over_http[("bgpd_floating_ips_held", ())] == 2
        assert (
            over_http[("bgpd_cluster_cidr_allocations", (("config", "cluster-wide-1"), ("family", "ipv4")))]
            == 4
        )

        status, _, _ = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/")
        assert status == 404
        status, content_type, classic = await asyncio.to_thread(_get, url, "text/plain")
        assert (status, content_type) == (200, "text/plain; version=0.0.4; charset=utf-8")
        assert "# EOF" not in classic and "bgpd_session_established{" in classic

        done = await asyncio.to_thread(cluster.bgpctl, "get", "metrics")
        assert done.returncode == 0, done.stderr
        via_bgpctl = _values(done.stdout)
        steady = ("bgpd_session_established", "bgpd_session_state", "bgpd_sessions", "bgpd_floating_ip_held")
        assert {k: v for k, v in via_bgpctl.items() if k[0] in steady} == {
            k: v for k, v in over_http.items() if k[0] in steady
        }
