"""The route watcher's reading and judging, without routers: synthetic samples, router output as
the routers print it, and a fake BIRD control socket. (Its work against real routers is proved in
test_ha.py: no false loss in a steady state, every route of a removed peer seen gone and back.)"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.interop.netlab import BirdControl, NetLabError, parse_bird_protocol, parse_bird_routes
from tests.interop.route_watcher import (
    AddressMonitor,
    GoBgpSource,
    RoutePath,
    Sample,
    SessionView,
    analyse,
    first_fresh,
    gone,
    is_fresh,
    problems,
)

EXPECTED = {"10.244.0.0/24": "10.0.1.11", "2001:db8:a::/64": "2001:db8:1::11"}


def sample(
    at: float, table: Mapping[str, tuple[str, ...]], stale: bool = False, since: float | None = None
) -> Sample:
    return Sample(at, {p: tuple(RoutePath(hop, stale, since) for hop in hops) for p, hops in table.items()})


FULL = {"10.244.0.0/24": ("10.0.1.11",), "2001:db8:a::/64": ("2001:db8:1::11",)}
HALF = {"2001:db8:a::/64": ("2001:db8:1::11",)}


def test_problems_missing_wrong_and_conflicting() -> None:
    table = sample(0, {"10.244.0.0/24": ("10.0.1.99",), "10.9.0.0/24": ("10.0.1.5", "10.0.1.6")}).table
    found = problems(table, EXPECTED)
    assert found.missing == {"2001:db8:a::/64"}
    assert found.wrong == {"10.244.0.0/24"}
    assert found.conflicts == {"10.9.0.0/24"}
    assert found.lossy
    assert not problems(sample(0, FULL).table, EXPECTED).lossy


def test_analyse_finds_each_loss_window_and_the_longest_gap() -> None:
    samples = [
        sample(0.00, FULL),
        sample(0.02, HALF),
        sample(0.04, {}),
        sample(0.06, FULL),
        sample(0.08, FULL),
        sample(0.10, {"10.244.0.0/24": ("10.0.1.12",), **HALF}),  # wrong next hop
        sample(0.13, FULL),
    ]
    report = analyse("tor", samples, EXPECTED, [(0.01, "stop")])
    assert [(w.start, w.end) for w in report.windows] == [(0.02, 0.06), (0.10, 0.13)]
    assert report.windows[0].prefixes == {"10.244.0.0/24", "2001:db8:a::/64"}
    assert report.missing == {"10.244.0.0/24", "2001:db8:a::/64"}
    assert report.wrong == {"10.244.0.0/24"}
    assert report.longest_gap == pytest.approx(0.04)
    assert report.max_interval == pytest.approx(0.03)
    assert report.samples == 7 and not report.extra and not report.stale_seen
    assert "loss +0.020 .. +0.060 s" in report.summary() and "mark +0.010 s: stop" in report.summary()


def test_analyse_an_open_window_extra_routes_and_staleness() -> None:
    samples = [sample(0.0, FULL, stale=True), sample(0.5, {}), sample(0.9, {"10.9.0.0/24": ("10.0.1.5",)})]
    report = analyse("tor", samples, EXPECTED)
    assert report.windows[0].end is None and report.longest_gap == pytest.approx(0.4)
    assert report.extra == {"10.9.0.0/24"}
    assert report.stale_seen
    with pytest.raises(ValueError, match="no samples"):
        analyse("tor", [], EXPECTED)


def test_fresh_needs_every_route_not_stale_and_taken_after_the_event() -> None:
    assert not is_fresh(sample(1.0, FULL, since=0.5), EXPECTED, after=0.8)  # taken before the event
    assert not is_fresh(sample(1.0, FULL, stale=True, since=0.9), EXPECTED, after=0.8)
    assert not is_fresh(sample(1.0, HALF, since=0.9), EXPECTED, after=0.8)
    assert is_fresh(sample(1.0, FULL, since=0.9), EXPECTED, after=0.8)
    # BIRD keeps an identical route's time through a graceful restart: a session that came up after
    # the event with its End-of-RIB done (not restarting) makes its routes fresh.
    old = sample(1.0, FULL, since=0.1)
    up = SessionView(established=True, since=0.9, restarting=False)
    assert is_fresh(Sample(1.0, old.table, up), EXPECTED, after=0.8)
    assert not is_fresh(Sample(1.0, old.table, SessionView(True, 0.9, restarting=True)), EXPECTED, after=0.8)
    assert not is_fresh(Sample(1.0, old.table, SessionView(True, 0.5, restarting=False)), EXPECTED, after=0.8)
    samples = [sample(0.7, FULL, since=0.1), sample(0.9, {}), sample(1.1, FULL, since=1.05)]
    assert first_fresh(samples, EXPECTED, after=0.8) == 1.1
    assert first_fresh(samples[:2], EXPECTED, after=0.8) is None


def test_gone_is_for_good_and_gives_the_spread() -> None:
    samples = [sample(0.0, FULL), sample(0.1, HALF), sample(0.2, FULL), sample(0.3, HALF), sample(0.4, {})]
    assert gone(samples, EXPECTED, after=0.0) == (0.3, 0.4)  # the first disappearance came back
    assert gone(samples[:4], EXPECTED, after=0.0) is None
    assert gone(samples, ["10.244.0.0/24"], after=0.35) == (0.4, 0.4)


class _Peer:
    """What GoBgpSource needs of a GoBgpPeer to take monitor lines."""

    name = "tor"
    socket = Path("/nonexistent")


def _line(prefix: str, hop: str, **flags: bool) -> str:
    path = {
        "nlri": {"prefix": prefix},
        "attrs": [{"type": 1, "value": 0}, {"type": 3, "nexthop": hop}],
        "neighbor-ip": "10.0.1.100",
        **flags,
    }
    return json.dumps([path])


def test_gobgp_streams_and_polls_update_the_mirror() -> None:
    source = GoBgpSource(_Peer())  # type: ignore[arg-type]
    source._best(1.0, _line("10.244.0.0/24", "10.0.1.11"))  # before the seed: in the seed already
    assert source.sample().table == {}
    source._seeded_at = 2.0
    source._best(3.0, _line("10.244.0.0/24", "10.0.1.11"))
    source._best(3.1, "not json")
    assert source.sample().table["10.244.0.0/24"] == (RoutePath("10.0.1.11", False, 3.0, "10.0.1.100"),)
    # A full read that shows the path stale (GoBGP reports staleness in no stream) marks it ...
    source.read = lambda: {"10.244.0.0/24": (RoutePath("10.0.1.11", True, None, "10.0.1.100"),)}  # type: ignore[method-assign]
    source.poll_interval = 0.0
    threading.Timer(0.05, source._stop.set).start()
    source._poll()  # until the timer stops it
    assert source.sample().table["10.244.0.0/24"][0].stale
    # ... until the neighbor sends the path again: received, so fresh, at that time.
    source._received(4.0, _line("10.244.0.0/24", "10.0.1.11"))
    assert source.sample().table["10.244.0.0/24"] == (RoutePath("10.0.1.11", False, 4.0, "10.0.1.100"),)
    source._received(4.1, _line("10.9.0.0/24", "10.0.1.12"))  # no best path yet: the best stream adds it
    source._best(4.2, _line("10.244.0.0/24", "10.0.1.11", withdrawal=True))
    assert source.sample().table == {} and source.events == 4 and source.polls > 0


def test_bird_output_with_precise_times() -> None:
    routes = parse_bird_routes(
        "Table master4:\n"
        "222.2.0.0/24         unicast [floating 1765123456.789 from 10.0.1.100] * (100) [AS65001i]\n"
        "\tvia 10.0.1.11 on eth0\n"
        "\tBGP.next_hop: 10.0.1.11\n"
        "                     unicast [floating2 1765123457.001 from 10.0.1.101] (100) [AS65001i]\n"
        "\tvia 10.0.1.31 on eth0\n"
        "\tBGP.next_hop: 10.0.1.31\n"
    )
    first, second = routes["222.2.0.0/24"]
    assert (first.protocol, first.since, first.best, first.next_hop) == (
        "floating",
        "1765123456.789",
        True,
        "10.0.1.11",
    )
    assert (second.protocol, second.since, second.best, second.next_hop) == (
        "floating2",
        "1765123457.001",
        False,
        "10.0.1.31",
    )
    info = parse_bird_protocol(
        "floating",
        "Name       Proto      Table      State  Since         Info\n"
        "floating   BGP        ---        start  1765123456.789  Active        Socket: Connection closed\n"
        "  BGP state:          Active\n"
        "    Neighbor address: 10.0.1.100\n"
        "    Neighbor graceful restart active\n",
    )
    assert info["since"] == "1765123456.789" and info["state"] == "start"
    assert info["BGP state"] == "Active" and info["restarting"] == "yes"


@pytest.fixture
def fake_bird(tmp_path: Path) -> Iterator[Path]:
    """A unix socket answering like BIRD's control socket: a greeting, then canned replies."""
    path = tmp_path / "bird.ctl"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    replies = {
        b"show status": b"1000-BIRD 2.0.12\n1011-Router ID is 10.0.1.254\n 2nd line\n0013 Daemon is up\n",
        b"bad": b"8003 syntax error\n",
    }

    def serve() -> None:
        conn, _ = server.accept()
        with conn, conn.makefile("rwb") as stream:
            stream.write(b"0001 BIRD 2.0.12 ready.\n")
            stream.flush()
            for line in stream:
                stream.write(replies[line.strip()])
                stream.flush()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        server.close()
        thread.join(timeout=5)


def test_bird_control_speaks_the_reply_codes(fake_bird: Path) -> None:
    control = BirdControl(fake_bird, timeout=5)
    try:
        assert control.query("show status") == "BIRD 2.0.12\nRouter ID is 10.0.1.254\n2nd line\nDaemon is up"
        with pytest.raises(NetLabError, match="8003 syntax error"):
            control.query("bad")
    finally:
        control.close()


def test_address_monitor_reads_ip_monitor_lines() -> None:
    monitor = AddressMonitor([])
    on_line = monitor._parser("gw-b")
    on_line(1.0, "3: eth0    inet 10.0.1.100/24 scope global secondary eth0\\       valid_lft forever")
    on_line(
        2.0, "Deleted 3: eth0    inet 10.0.1.100/24 scope global secondary eth0\\       valid_lft forever"
    )
    on_line(3.0, "3: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever")
    assert [(e.address, e.added) for e in monitor.events] == [
        ("10.0.1.100", True),
        ("10.0.1.100", False),
        ("fe80::1", True),
    ]
    assert monitor.arrived("10.0.1.100", "gw-b", after=0.5) == 1.0
    assert monitor.arrived("10.0.1.100", "gw-b", after=1.5) is None
    assert monitor.arrived("10.0.1.100", "gw-a", after=0.0) is None
