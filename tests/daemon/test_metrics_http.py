"""The metrics listener: GET /metrics and nothing else, within its bounds, never holding the loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from bgpd.daemon.metrics import Format
from bgpd.daemon.metrics_http import MetricsListener

TEXT = {
    Format.OPENMETRICS: "# TYPE up gauge\n# HELP up Whether it is up.\nup 1\n# EOF\n",
    Format.PROMETHEUS: "# HELP up Whether it is up.\n# TYPE up gauge\nup 1\n",
}


@pytest_asyncio.fixture
async def listener() -> AsyncIterator[MetricsListener]:
    async def scrape(fmt: Format) -> str:
        return TEXT[fmt]

    server = MetricsListener("127.0.0.1", 0, scrape, max_clients=2, request_timeout=0.5)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    async with asyncio.timeout(5):
        raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.asyncio
async def test_get_metrics_answers_openmetrics_to_prometheus(listener: MetricsListener) -> None:
    accept = b"Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
    status, headers, body = await exchange(
        listener.bound_port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + accept + b"\r\n"
    )
    assert status == 200
    assert headers["content-type"] == Format.OPENMETRICS.content_type
    assert int(headers["content-length"]) == len(body) and headers["connection"] == "close"
    assert [f.name for f in parse_openmetrics(body.decode())] == ["up"]


@pytest.mark.asyncio
async def test_a_plain_client_gets_the_classic_format_and_a_query_is_ignored(
    listener: MetricsListener,
) -> None:
    status, headers, body = await exchange(listener.bound_port, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n")
    assert (status, headers["content-type"], body.decode()) == (
        200,
        Format.PROMETHEUS.content_type,
        TEXT[Format.PROMETHEUS],
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", 404),
        (b"GET /metricsx HTTP/1.1\r\n\r\n", 404),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 404),
        (b"HEAD /metrics HTTP/1.1\r\n\r\n", 404),
        (b"hello\r\n\r\n", 400),
        (b"GET /metrics SPDY/3\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
    ],
)
async def test_anything_else_is_refused(listener: MetricsListener, request_: bytes, status: int) -> None:
    got, _, body = await exchange(listener.bound_port, request_)
    assert got == status and b"up 1" not in body


@pytest.mark.asyncio
async def test_a_silent_client_is_dropped_and_extra_clients_get_503(listener: MetricsListener) -> None:
    port = listener.bound_port
    silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]  # the two slots
    await asyncio.sleep(0.05)
    status, _, _ = await exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n")
    assert status == 503
    for reader, _ in silent:  # each is closed after request_timeout, without a reply
        async with asyncio.timeout(5):
            assert await reader.read() == b""
    status, _, _ = await exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n")
    assert status == 200  # the slots are free again
    for _, writer in silent:
        writer.close()
