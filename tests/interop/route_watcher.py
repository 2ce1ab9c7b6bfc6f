"""A route watcher: what a ToR holds, sampled every few tens of milliseconds, and what went missing.

Issue 12 §3 asks for proof that no pod route is ever missing from a ToR, or has a wrong next hop,
through restarts and failovers. A ``RouteWatcher`` thread samples each router's table every
``interval`` seconds (20 ms by default), records every sample, and ``analyse`` turns the samples
into a ``Report``: the windows during which some expected route was missing or wrong, the longest
such gap, the resolution really achieved (the longest interval between two samples), and prefixes
heard with two different next hops. ``first_fresh`` gives the time at which the router held a fresh
path for every route again (for "time from the IP move to a fresh path").

How each router is read, and why (measured here, 2-core machine under load):
- **BIRD**: ``birdc`` costs a process start per question (≈3 ms); over one persistent
  control-socket connection (``BirdControl``) a sample, ``show route all`` of both tables plus
  ``show protocols all NAME``, takes ≈1 ms. BIRD does not show per-route staleness, so a route of
  the watched protocol counts as stale while BIRD reports "Neighbor graceful restart active" (until
  End-of-RIB or the restart timer). BIRD's route and protocol times (``precise_times``) say when it
  last took a path, so freshness is visible too.
- **GoBGP**: ``gobgp -j global rib`` costs ≈30 ms per call (a Go process start plus a gRPC dial)
  and answers one family, so two families every 50 ms would keep a core busy and disturb what is
  measured. Instead the table is mirrored from GoBGP's own event streams (``gobgp -j monitor``,
  ≈15 ms after each change, both families in one stream), seeded by one full read per family once
  the streams are up; a sample reads the mirror. The best-path stream gives presence, next hop and
  withdrawals, the adj-in stream the arrival of each path the neighbor sends (so freshness), and a
  full read every 0.5 s GoBGP's ``stale`` flags, which no stream reports (``GoBgpSource``).
  ``verify`` compares the mirror with a fresh full read, so a stream that missed an event cannot
  hide a loss.

Bounded: a watcher stops by itself after ``max_duration`` seconds or ``max_samples`` samples per
source (``truncated`` says so), every read has a timeout, and the helper processes it starts
(``gobgp monitor``, ``ip monitor``) are ended by PID when it stops.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any, Protocol

from tests.interop.netlab import (
    BirdControl,
    BirdPeer,
    GoBgpPeer,
    Namespace,
    NetLabError,
    gobgp_next_hop,
    parse_bird_protocol,
    parse_bird_routes,
)

INTERVAL = 0.02
MAX_DURATION = 120.0
MAX_SAMPLES = 10_000
MAX_LINES = 100_000  # per helper process: far above any test, a bound on a runaway stream


@dataclass(frozen=True, slots=True)
class RoutePath:
    """One path a router holds for a prefix."""

    next_hop: str
    stale: bool | None = None  # None: the router does not tell
    since: float | None = None  # when the router took it (time.monotonic scale), when it tells
    source: str = ""  # the neighbor (GoBGP) or protocol (BIRD) it came from


@dataclass(frozen=True, slots=True)
class SessionView:
    """The router's view of the watched neighbor (only where it is cheap to read: BIRD)."""

    established: bool
    since: float | None  # last state change (time.monotonic scale)
    restarting: bool  # helper mode: the neighbor's routes are kept as stale


Table = Mapping[str, tuple[RoutePath, ...]]  # prefix -> paths, best first


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # time.monotonic()
    table: Table
    session: SessionView | None = None


class TableSource(Protocol):
    name: str

    def open(self) -> None: ...

    def sample(self) -> Sample: ...

    def read(self) -> Table:
        """A full read by an independent path (the CLI), to check the samples against."""
        ...

    def close(self) -> None: ...


# -- helper processes ----------------------------------------------------------------------------------


class LineStream:
    """A helper process whose output lines a thread reads and stamps with ``time.monotonic()``."""

    def __init__(self, argv: Sequence[str], on_line: Callable[[float, str], None]) -> None:
        self.argv = list(argv)
        self._on_line = on_line
        self._popen: subprocess.Popen[str] = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.first_line = threading.Event()
        self.lines = 0
        self._thread = threading.Thread(target=self._read, name=f"lines-{self.argv[0]}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        stdout: IO[str] | None = self._popen.stdout
        assert stdout is not None
        for line in stdout:
            self.lines += 1
            self._on_line(time.monotonic(), line.rstrip("\n"))
            self.first_line.set()
            if self.lines >= MAX_LINES:
                break

    def close(self) -> None:
        if self._popen.poll() is None:
            self._popen.terminate()
            try:
                self._popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait(timeout=5)
        self._thread.join(timeout=5)
        if self._popen.stdout is not None:
            self._popen.stdout.close()


# -- sources -------------------------------------------------------------------------------------------


def _gobgp_path(path: Mapping[str, Any], at: float | None = None) -> RoutePath:
    return RoutePath(
        gobgp_next_hop(dict(path)) or "", bool(path.get("stale", False)), at, str(path.get("neighbor-ip", ""))
    )


class GoBgpSource:
    """GoBGP's Loc-RIB, mirrored from its event streams (see the module docstring).

    ``monitor global rib`` reports every change of a best path (presence, next hop, withdrawal,
    including routes dropped when a session goes down or swept at End-of-RIB). It is silent when
    GoBGP marks paths stale or replaces a stale path by an identical fresh one (``GetChanges``
    compares paths without their flags), so ``monitor adj-in`` supplies the arrival of every path
    the neighbor sends (a path received is fresh), and a full read every ``poll_interval`` seconds
    supplies the stale flags (GoBGP keeps a restarting neighbor's routes for at least its 5 s idle
    hold, so 0.5 s polls see every stale period)."""

    def __init__(
        self, peer: GoBgpPeer, families: Sequence[str] = ("ipv4", "ipv6"), poll_interval: float = 0.5
    ) -> None:
        self.name = peer.name
        self.peer = peer
        self.families = tuple(families)
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._table: dict[str, RoutePath] = {}
        self._seeded_at: float | None = None
        self._streams: list[LineStream] = []
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self.events = 0
        self.polls = 0

    def open(self) -> None:
        argv = ["gobgp", "--target", f"unix://{self.peer.socket}", "-j", "monitor"]
        self._streams.append(LineStream([*argv, "adj-in", "--current"], self._received))
        best = LineStream([*argv, "global", "rib", "--current"], self._best)
        self._streams.append(best)
        # --current makes GoBGP answer the subscription at once (with "[]" when the table is empty):
        # after that first line no change can fall between the streams and the seed below.
        if not best.first_line.wait(10.0):
            raise NetLabError(f"{self.name}: gobgp monitor said nothing within 10 s")
        seeded_at = time.monotonic()
        table = self.read()
        with self._lock:
            self._table = {prefix: paths[0] for prefix, paths in table.items() if paths}  # times unknown
            self._seeded_at = seeded_at
        self._poller = threading.Thread(target=self._poll, name=f"poll-{self.name}", daemon=True)
        self._poller.start()

    def _lines(self, at: float, line: str) -> list[Mapping[str, Any]]:
        """The paths of one monitor line, if it came after the seed (before: in the seed already)."""
        if self._seeded_at is None or at < self._seeded_at:
            return []
        try:
            paths: list[Mapping[str, Any]] = json.loads(line)
        except ValueError:
            return []
        return paths

    def _best(self, at: float, line: str) -> None:
        with self._lock:
            for path in self._lines(at, line):
                self.events += 1
                prefix = str(path["nlri"]["prefix"])
                if path.get("withdrawal"):
                    self._table.pop(prefix, None)
                else:
                    self._table[prefix] = _gobgp_path(path, at)

    def _received(self, at: float, line: str) -> None:
        with self._lock:
            for path in self._lines(at, line):
                self.events += 1
                prefix = str(path["nlri"]["prefix"])
                held = self._table.get(prefix)
                fresh = _gobgp_path(path, at)
                if not path.get("withdrawal") and held is not None and held.source == fresh.source:
                    self._table[prefix] = replace(held, next_hop=fresh.next_hop, stale=False, since=at)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_interval):
            started = time.monotonic()
            try:
                table = self.read()
            except NetLabError:
                continue  # gobgpd busy or going away: the next poll (or the test's own checks) tells
            self.polls += 1
            with self._lock:
                for prefix, paths in table.items():
                    held = self._table.get(prefix)
                    if paths and paths[0].stale and held is not None and (held.since or 0.0) < started:
                        self._table[prefix] = replace(held, stale=True)

    def sample(self) -> Sample:
        at = time.monotonic()
        with self._lock:
            return Sample(at, {prefix: (path,) for prefix, path in self._table.items()})

    def read(self) -> Table:
        table: dict[str, tuple[RoutePath, ...]] = {}
        for family in self.families:
            for prefix, paths in self.peer.global_rib(family).items():
                ordered = sorted(paths, key=lambda p: not p.get("best", False))  # best first, as BIRD
                table[prefix] = tuple(_gobgp_path(p) for p in ordered)
        return table

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=30)
        for stream in self._streams:
            stream.close()


class BirdSource:
    """BIRD's tables over one persistent control connection; ``protocol`` is the watched neighbor."""

    def __init__(self, peer: BirdPeer, protocol: str, tables: Sequence[str] = ("master4", "master6")) -> None:
        if not peer.precise_times:
            raise NetLabError(f"{peer.name}: the watcher needs BirdPeer(precise_times=True)")
        self.name = peer.name
        self.peer = peer
        self.protocol = protocol
        self.tables = tuple(tables)
        self._control: BirdControl | None = None
        self._offset = 0.0

    def open(self) -> None:
        self._control = self.peer.control()
        self._offset = time.time() - time.monotonic()  # BIRD prints wall-clock times

    def _monotonic(self, text: str) -> float | None:
        try:
            return float(text) - self._offset
        except ValueError:
            return None

    def _table(self, query: Callable[[str], str], session: SessionView | None) -> Table:
        table: dict[str, tuple[RoutePath, ...]] = {}
        for name in self.tables:
            for prefix, routes in parse_bird_routes(query(f"show route all table {name}")).items():
                table[prefix] = tuple(
                    RoutePath(
                        r.next_hop,
                        session.restarting if session is not None and r.protocol == self.protocol else None,
                        self._monotonic(r.since),
                        r.protocol,
                    )
                    for r in routes
                )
        return table

    def _session(self, query: Callable[[str], str]) -> SessionView:
        info = parse_bird_protocol(self.protocol, query(f"show protocols all {self.protocol}"))
        return SessionView(
            established=info.get("BGP state") == "Established",
            since=self._monotonic(info.get("since", "")),
            restarting=info.get("restarting") == "yes",
        )

    def sample(self) -> Sample:
        assert self._control is not None, "open() first"
        at = time.monotonic()
        session = self._session(self._control.query)
        return Sample(at, self._table(self._control.query, session), session)

    def read(self) -> Table:
        def birdc(command: str) -> str:
            return self.peer.cli(*command.split()) or ""

        return self._table(birdc, self._session(birdc))

    def close(self) -> None:
        if self._control is not None:
            self._control.close()


# -- the watcher ---------------------------------------------------------------------------------------


class RouteWatcher:
    """Samples every source every ``interval`` seconds on one thread, until stopped or a bound."""

    def __init__(
        self,
        sources: Sequence[TableSource],
        *,
        interval: float = INTERVAL,
        max_duration: float = MAX_DURATION,
        max_samples: int = MAX_SAMPLES,
    ) -> None:
        self.sources = {source.name: source for source in sources}
        self.interval = interval
        self.max_duration = max_duration
        self.max_samples = max_samples
        self.samples: dict[str, list[Sample]] = {name: [] for name in self.sources}
        self.marks: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self.truncated = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RouteWatcher:
        try:
            for source in self.sources.values():
                source.open()
        except BaseException:
            for source in self.sources.values():
                source.close()  # also what a source that failed half-way had started
            raise
        self._thread = threading.Thread(target=self._run, name="route-watcher", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        tick = started
        while not self._stop.is_set():
            for name, source in self.sources.items():
                try:
                    self.samples[name].append(source.sample())
                except (OSError, NetLabError, ValueError) as exc:
                    self.errors.append(f"{name}: {exc}")
                    return
            count = max(len(s) for s in self.samples.values())
            if count >= self.max_samples or time.monotonic() - started >= self.max_duration:
                self.truncated = True
                return
            tick += self.interval
            self._stop.wait(max(0.0, tick - time.monotonic()))

    def mark(self, label: str) -> float:
        """Note an event of the test (a signal sent, a link taken down) at the current time."""
        at = time.monotonic()
        self.marks.append((at, label))
        return at

    def latest(self, name: str) -> Sample | None:
        samples = self.samples[name]
        return samples[-1] if samples else None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for source in self.sources.values():
            source.close()

    def verify(self, name: str) -> tuple[dict[str, str], dict[str, str]]:
        """Best next hops from the latest sample and from an independent full read, for a steady
        state. (Only the watcher's thread samples: BIRD's control connection is not shared.)"""
        latest = self.latest(name)
        if latest is None:
            raise NetLabError(f"{name}: no sample yet")
        return strip(latest.table), strip(self.sources[name].read())

    def __enter__(self) -> RouteWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def strip(table: Table) -> dict[str, str]:
    """prefix -> best path's next hop, without times and flags (to compare two reads)."""
    return {prefix: paths[0].next_hop for prefix, paths in table.items() if paths}


# -- addresses -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddressEvent:
    at: float
    namespace: str
    address: str
    added: bool


class AddressMonitor:
    """``ip -o monitor address`` on each namespace: when each address arrived or left, and where."""

    def __init__(self, namespaces: Sequence[Namespace]) -> None:
        self.namespaces = list(namespaces)
        self.events: list[AddressEvent] = []
        self._lock = threading.Lock()
        self._streams: list[LineStream] = []

    def start(self) -> AddressMonitor:
        for ns in self.namespaces:
            self._streams.append(
                LineStream(["ip", "-n", ns.name, "-o", "monitor", "address"], self._parser(ns.name))
            )
        return self

    def _parser(self, namespace: str) -> Callable[[float, str], None]:
        def on_line(at: float, line: str) -> None:
            words = line.split()
            for family in ("inet", "inet6"):
                if family in words and words.index(family) + 1 < len(words):
                    address = str(ipaddress.ip_interface(words[words.index(family) + 1]).ip)
                    with self._lock:
                        self.events.append(AddressEvent(at, namespace, address, words[0] != "Deleted"))

        return on_line

    def arrived(self, address: str, namespace: str, after: float) -> float | None:
        """When ``address`` was added in ``namespace`` at or after ``after`` (first time), if it was."""
        with self._lock:
            for event in self.events:
                if (
                    event.added
                    and (event.address, event.namespace) == (address, namespace)
                    and event.at >= after
                ):
                    return event.at
        return None

    def close(self) -> None:
        for stream in self._streams:
            stream.close()

    def __enter__(self) -> AddressMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- analysis (pure) -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problems:
    missing: frozenset[str]  # expected, absent
    wrong: frozenset[str]  # best path with another next hop than expected
    conflicts: frozenset[str]  # paths with two different next hops for one prefix

    @property
    def lossy(self) -> bool:
        return bool(self.missing or self.wrong)


def problems(table: Table, expected: Mapping[str, str]) -> Problems:
    missing = frozenset(p for p in expected if not table.get(p))
    wrong = frozenset(p for p, hop in expected.items() if table.get(p) and table[p][0].next_hop != hop)
    conflicts = frozenset(p for p, paths in table.items() if len({path.next_hop for path in paths}) > 1)
    return Problems(missing, wrong, conflicts)


@dataclass(frozen=True, slots=True)
class LossWindow:
    """From the first sample with a route missing or wrong to the first sample with all right again."""

    start: float
    end: float | None  # None: still lossy when watching ended
    prefixes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    samples: int
    first: float
    last: float
    max_interval: float  # the resolution really achieved: the longest time between two samples
    p99_interval: float  # ... and the 99th percentile of those times
    windows: tuple[LossWindow, ...]
    missing: frozenset[str]  # ever missing
    wrong: frozenset[str]  # ever with a wrong next hop
    conflicts: frozenset[str]  # ever heard with two next hops
    stale_seen: bool  # some expected route was held as stale at some sample
    extra: frozenset[str]  # present in the last sample but not expected
    marks: tuple[tuple[float, str], ...] = field(default=())

    @property
    def lost(self) -> frozenset[str]:
        return self.missing | self.wrong

    @property
    def longest_gap(self) -> float:
        return max(((w.end if w.end is not None else self.last) - w.start for w in self.windows), default=0.0)

    def summary(self) -> str:
        lines = [
            f"{self.name}: {self.samples} samples over {self.last - self.first:.2f} s, "
            f"interval p99 {self.p99_interval * 1000:.0f} ms, max {self.max_interval * 1000:.0f} ms; "
            f"lost {len(self.lost)} route(s), "
            f"longest gap {self.longest_gap:.3f} s, stale seen: {self.stale_seen}, "
            f"conflicts: {sorted(self.conflicts) or 'none'}, extra at end: {sorted(self.extra) or 'none'}"
        ]
        for window in self.windows:
            end = f"+{window.end - self.first:.3f}" if window.end is not None else "end (still lossy)"
            lines.append(f"  loss {window.start - self.first:+.3f} .. {end} s: {sorted(window.prefixes)}")
        for at, label in self.marks:
            lines.append(f"  mark {at - self.first:+.3f} s: {label}")
        return "\n".join(lines)


def analyse(
    name: str,
    samples: Sequence[Sample],
    expected: Mapping[str, str],
    marks: Sequence[tuple[float, str]] = (),
) -> Report:
    """Loss windows, gaps and conflicts over ``samples`` for the ``expected`` prefix -> next hop."""
    if not samples:
        raise ValueError(f"{name}: no samples to analyse")
    windows: list[LossWindow] = []
    missing: set[str] = set()
    wrong: set[str] = set()
    conflicts: set[str] = set()
    stale_seen = False
    open_start: float | None = None
    open_prefixes: set[str] = set()
    intervals = sorted(b.at - a.at for a, b in itertools.pairwise(samples)) or [0.0]
    for sample in samples:
        found = problems(sample.table, expected)
        missing |= found.missing
        wrong |= found.wrong
        conflicts |= found.conflicts
        stale_seen = stale_seen or any(
            path.stale for prefix in expected for path in sample.table.get(prefix, ())[:1]
        )
        if found.lossy:
            if open_start is None:
                open_start, open_prefixes = sample.at, set()
            open_prefixes |= found.missing | found.wrong
        elif open_start is not None:
            windows.append(LossWindow(open_start, sample.at, frozenset(open_prefixes)))
            open_start = None
    if open_start is not None:
        windows.append(LossWindow(open_start, None, frozenset(open_prefixes)))
    return Report(
        name=name,
        samples=len(samples),
        first=samples[0].at,
        last=samples[-1].at,
        max_interval=intervals[-1],
        p99_interval=intervals[len(intervals) * 99 // 100],
        windows=tuple(windows),
        missing=frozenset(missing),
        wrong=frozenset(wrong),
        conflicts=frozenset(conflicts),
        stale_seen=stale_seen,
        extra=frozenset(set(samples[-1].table) - set(expected)),
        marks=tuple(marks),
    )


def is_fresh(sample: Sample, expected: Mapping[str, str], after: float) -> bool:
    """Every expected route held, right next hop, not stale, and taken by the router at or after
    ``after`` (its own time for the path, or an End-of-RIB-complete session that came up since)."""
    if problems(sample.table, expected).lossy:
        return False
    session = sample.session
    session_fresh = (
        session is not None
        and session.established
        and not session.restarting
        and session.since is not None
        and session.since >= after
    )
    for prefix in expected:
        best = sample.table[prefix][0]
        if best.stale:
            return False
        if not session_fresh and (best.since is None or best.since < after):
            return False
    return True


def first_fresh(samples: Sequence[Sample], expected: Mapping[str, str], after: float) -> float | None:
    """The time of the first sample at or after ``after`` that ``is_fresh``; None if none is."""
    for sample in samples:
        if sample.at >= after and is_fresh(sample, expected, after):
            return sample.at
    return None


def gone(samples: Sequence[Sample], prefixes: Iterable[str], after: float) -> tuple[float, float] | None:
    """(first, last): when the first and the last of ``prefixes`` disappeared after ``after`` (each
    for good: absent in every later sample); None while any of them is still held."""
    times: list[float] = []
    for prefix in prefixes:
        when: float | None = None
        for sample in samples:
            if sample.at < after:
                continue
            present = bool(sample.table.get(prefix))
            if present:
                when = None
            elif when is None:
                when = sample.at
        if when is None:
            return None
        times.append(when)
    return (min(times), max(times)) if times else None
