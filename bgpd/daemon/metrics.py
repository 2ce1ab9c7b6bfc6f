"""The daemon's metrics in the Prometheus text formats: OpenMetrics 1.0 and the classic 0.0.4.

Written here rather than with ``prometheus-client`` (docs/dependencies.md says why): the values
already exist, maintained where they happen — the session records' counters, the daemon's reload
counters, the loop-lag probe, the pool usage computed once per plan — so a scrape only formats
numbers. The two formats differ only in the family header lines (OpenMetrics names a counter's
family without ``_total`` and has ``info`` and ``# EOF``), so one pass renders either. Rendering
is a generator of chunks (one family's samples for at most ``CHUNK`` sessions), so the HTTP
listener and the control socket can give the loop back between chunks: 500 sessions never hold it.

Labels are bounded by the configuration, never by what a peer sends: ``session`` (a planned
session name), message ``type`` (five), ``config``/``family`` of a ClusterCIDRConfig, floating IP
``address``, and for the last error its ``kind`` (``ErrorKind``, five) and, for a NOTIFICATION, its
``code``/``subcode`` (numbers from the RFC registries). The error's *text* is not a label: it holds
addresses and whatever a peer wrote in its shutdown communication, and a label from it would let a
peer mint series at will; ``bgpctl describe bgpsession`` shows it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from bgpd import __version__
from bgpd.fsm import State
from bgpd.plan import Session
from bgpd.plan.usage import PoolUsage
from bgpd.speaker import SessionReading
from bgpd.speaker.status import message_kind
from bgpd.wire.constants import MessageType

__all__ = ["CHUNK", "FAMILIES", "DaemonReading", "Format", "MetricFamily", "render"]

CHUNK: Final = 100  # sessions per chunk of one family's samples

# RFC 4273 (BGP4-MIB) bgpPeerState: the numbers every BGP exporter uses for the FSM state
STATE_NUMBER: Final = {
    State.IDLE: 1,
    State.CONNECT: 2,
    State.ACTIVE: 3,
    State.OPEN_SENT: 4,
    State.OPEN_CONFIRM: 5,
    State.ESTABLISHED: 6,
}
_MESSAGE_TYPES: Final = tuple((t, message_kind(t)) for t in MessageType)


class Format(enum.Enum):
    """An exposition format and its Content-Type."""

    OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"

    @property
    def content_type(self) -> str:
        return self.value

    @classmethod
    def negotiate(cls, accept: str | None) -> Format:
        """OpenMetrics for a client that accepts it (Prometheus asks for it first), else 0.0.4."""
        if accept is not None and "application/openmetrics-text" in accept:
            return cls.OPENMETRICS
        return cls.PROMETHEUS


class Kind(enum.Enum):
    COUNTER = "counter"
    GAUGE = "gauge"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """One metric family: its name (without ``_total``/``_info``), type, help and unit."""

    name: str
    kind: Kind
    help: str
    unit: str = ""

    def __post_init__(self) -> None:
        if self.unit and not self.name.endswith(f"_{self.unit}"):  # OpenMetrics: the unit is a suffix
            raise ValueError(f"{self.name} must end with _{self.unit}")

    @property
    def sample(self) -> str:
        """The name its samples carry."""
        if self.kind is Kind.COUNTER:
            return f"{self.name}_total"
        if self.kind is Kind.INFO:
            return f"{self.name}_info"
        return self.name

    def header(self, fmt: Format) -> str:
        if fmt is Format.OPENMETRICS:
            unit = f"# UNIT {self.name} {self.unit}\n" if self.unit else ""
            return f"# TYPE {self.name} {self.kind.value}\n{unit}# HELP {self.name} {self.help}\n"
        kind = "gauge" if self.kind is Kind.INFO else self.kind.value  # 0.0.4 has no info type
        return f"# HELP {self.sample} {self.help}\n# TYPE {self.sample} {kind}\n"


@dataclass(frozen=True, slots=True)
class DaemonReading:
    """Everything one scrape formats, read by the daemon at the start of the scrape."""

    reloads: int  # applied
    reloads_rejected: int
    last_reload_successful: bool
    loop_lag: float  # seconds, the probe's latest tick
    loop_lag_max: float  # seconds, the worst since start
    pools: Sequence[PoolUsage]
    floating_ips: Sequence[tuple[str, bool]]  # every floating IP of the cluster, held here or not
    ledger_written: bool  # the pod-CIDR ledger on disk is the daemon's (no write failing)
    withheld_pod_cidrs: int  # blocks not announced until the ledger giving them is on disk
    sessions: Sequence[SessionReading]  # the sessions run here, by name
    planned: Mapping[str, Session]  # the same sessions as the plan has them (labels, maintenance)


def _escape(value: str) -> str:
    """A label value as both formats quote it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@lru_cache(maxsize=4096)  # session names change only with the plan: escape each once
def _session_label(name: str) -> str:
    return f'session="{_escape(name)}"'


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


Sample = tuple[str, float]  # the labels inside {} (without braces), the value
_SessionSamples = Callable[[SessionReading, Session | None], Iterable[Sample]]


def _one(value: Callable[[SessionReading, Session | None], float]) -> _SessionSamples:
    return lambda reading, planned: (("", value(reading, planned)),)


def _info(reading: SessionReading, planned: Session | None) -> Iterable[Sample]:
    if planned is None:
        return ()
    labels = (
        ("peer", planned.peer),
        ("local_ip", planned.local_ip),
        ("peer_ip", planned.peer_ip),
        ("local_asn", str(planned.local_asn)),
        ("peer_asn", str(planned.peer_asn)),
    )
    return ((",".join(f'{k}="{_escape(v)}"' for k, v in labels), 1),)


def _messages(direction: str) -> _SessionSamples:
    def samples(reading: SessionReading, _planned: Session | None) -> Iterable[Sample]:
        counts = reading.counters.messages_in if direction == "in" else reading.counters.messages_out
        return ((f'type="{kind}"', counts[t]) for t, kind in _MESSAGE_TYPES)

    return samples


def _last_error(reading: SessionReading, _planned: Session | None) -> Iterable[Sample]:
    if reading.last_error_kind is None:
        return ()
    labels = f'kind="{reading.last_error_kind.value}"'
    note = reading.last_notification
    if note is not None:
        labels += f',code="{note.code}",subcode="{note.subcode}"'
    return ((labels, 1),)


def _last_error_at(reading: SessionReading, _planned: Session | None) -> Iterable[Sample]:
    return () if reading.last_error_at is None else (("", reading.last_error_at),)


def _flag(value: bool) -> int:
    return 1 if value else 0


_S = "bgpd_session_"
SESSION_FAMILIES: Final[tuple[tuple[MetricFamily, _SessionSamples], ...]] = (
    (
        MetricFamily(f"{_S}peer", Kind.INFO, "The session's peer and addresses (join on session)."),
        _info,
    ),
    (
        MetricFamily(f"{_S}established", Kind.GAUGE, "1 when the session is Established, else 0."),
        _one(lambda r, _p: _flag(r.fsm_state is State.ESTABLISHED)),
    ),
    (
        MetricFamily(
            f"{_S}state",
            Kind.GAUGE,
            "FSM state as RFC 4273 bgpPeerState: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, "
            "5 OpenConfirm, 6 Established.",
        ),
        _one(lambda r, _p: STATE_NUMBER[r.fsm_state]),
    ),
    (
        MetricFamily(
            f"{_S}disabled", Kind.GAUGE, "1 while an operator holds the session down (bgpctl disable)."
        ),
        _one(lambda _r, p: _flag(p is not None and p.disabled is not None)),
    ),
    (
        MetricFamily(
            f"{_S}drained", Kind.GAUGE, "1 while its routes carry GRACEFUL_SHUTDOWN (bgpctl drain)."
        ),
        _one(lambda _r, p: _flag(p is not None and p.drained)),
    ),
    (
        MetricFamily(
            f"{_S}uptime_seconds",
            Kind.GAUGE,
            "Seconds since the session became Established; 0 when not.",
            "seconds",
        ),
        _one(lambda r, _p: round(r.uptime, 3) if r.uptime is not None else 0),
    ),
    (
        MetricFamily(f"{_S}flaps", Kind.COUNTER, "Times the session left Established."),
        _one(lambda r, _p: r.counters.flaps),
    ),
    (
        MetricFamily(f"{_S}messages_received", Kind.COUNTER, "BGP messages received, by type."),
        _messages("in"),
    ),
    (
        MetricFamily(f"{_S}messages_sent", Kind.COUNTER, "BGP messages sent, by type."),
        _messages("out"),
    ),
    (
        MetricFamily(f"{_S}routes_received", Kind.GAUGE, "Prefixes in the session's Adj-RIB-In now."),
        _one(lambda r, _p: r.routes_received),
    ),
    (
        MetricFamily(f"{_S}routes_advertised", Kind.GAUGE, "Prefixes the peer has from us now."),
        _one(lambda r, _p: r.routes_sent),
    ),
    (
        MetricFamily(f"{_S}prefixes_received", Kind.COUNTER, "Prefix announcements received."),
        _one(lambda r, _p: r.counters.prefixes_in),
    ),
    (
        MetricFamily(f"{_S}withdrawals_received", Kind.COUNTER, "Prefix withdrawals received."),
        _one(lambda r, _p: r.counters.withdrawn_in),
    ),
    (
        MetricFamily(f"{_S}prefixes_sent", Kind.COUNTER, "Prefix announcements sent."),
        _one(lambda r, _p: r.counters.prefixes_out),
    ),
    (
        MetricFamily(f"{_S}withdrawals_sent", Kind.COUNTER, "Prefix withdrawals sent."),
        _one(lambda r, _p: r.counters.withdrawn_out),
    ),
    (
        MetricFamily(
            f"{_S}updates_treated_as_withdraw", Kind.COUNTER, "UPDATEs handled as withdrawals (RFC 7606)."
        ),
        _one(lambda r, _p: r.counters.updates_treated_as_withdraw),
    ),
    (
        MetricFamily(
            f"{_S}updates_attribute_discard", Kind.COUNTER, "UPDATEs with an attribute discarded (RFC 7606)."
        ),
        _one(lambda r, _p: r.counters.updates_attribute_discard),
    ),
    (
        MetricFamily(
            f"{_S}last_error",
            Kind.INFO,
            "The kind of the session's last error and, for a NOTIFICATION, its code and subcode; "
            "the text is in bgpctl describe bgpsession.",
        ),
        _last_error,
    ),
    (
        MetricFamily(
            f"{_S}last_error_timestamp_seconds",
            Kind.GAUGE,
            "When the last error happened (POSIX).",
            "seconds",
        ),
        _last_error_at,
    ),
)

_D = "bgpd_"
BUILD = MetricFamily(f"{_D}build", Kind.INFO, "The running bgpd's version.")
RELOADS = MetricFamily(
    f"{_D}reloads", Kind.COUNTER, "Reloads applied (SIGHUP, systemctl reload, bgpctl reload)."
)
REJECTED = MetricFamily(
    f"{_D}reloads_rejected", Kind.COUNTER, "Reloads refused: the old configuration runs on."
)
LAST_OK = MetricFamily(f"{_D}last_reload_successful", Kind.GAUGE, "1 unless the last reload was refused.")
LAG = MetricFamily(
    f"{_D}event_loop_lag_seconds", Kind.GAUGE, "How late the event loop ran the latest probe tick.", "seconds"
)
LAG_MAX = MetricFamily(
    f"{_D}event_loop_lag_max_seconds", Kind.GAUGE, "The worst event loop lag since bgpd started.", "seconds"
)
ALLOCATIONS = MetricFamily(
    f"{_D}cluster_cidr_allocations",
    Kind.GAUGE,
    "Nodes holding a pod block of the ClusterCIDRConfig, by family.",
)
FREE = MetricFamily(
    f"{_D}cluster_cidr_free_blocks",
    Kind.GAUGE,
    "Per-node blocks of the ClusterCIDRConfig not held, by family.",
)
HELD = MetricFamily(
    f"{_D}floating_ip_held", Kind.GAUGE, "1 for each floating IP this host holds now, else 0."
)
HELD_COUNT = MetricFamily(
    f"{_D}floating_ips_held", Kind.GAUGE, "How many of the floating IPs this host holds."
)
LEDGER_WRITTEN = MetricFamily(
    f"{_D}ledger_written", Kind.GAUGE, "1 unless a write of the pod-CIDR ledger is failing (retried)."
)
WITHHELD = MetricFamily(
    f"{_D}ledger_withheld_pod_cidrs",
    Kind.GAUGE,
    "Pod CIDRs not announced until the ledger giving them is written.",
)
SESSIONS = MetricFamily(f"{_D}sessions", Kind.GAUGE, "Sessions run on this host.")

FAMILIES: Final = (
    BUILD,
    RELOADS,
    REJECTED,
    LAST_OK,
    LAG,
    LAG_MAX,
    ALLOCATIONS,
    FREE,
    HELD,
    HELD_COUNT,
    LEDGER_WRITTEN,
    WITHHELD,
    SESSIONS,
    *(family for family, _ in SESSION_FAMILIES),
)


def _daemon_samples(reading: DaemonReading) -> Iterator[tuple[MetricFamily, Iterable[Sample]]]:
    yield BUILD, ((f'version="{_escape(__version__)}"', 1),)
    yield RELOADS, (("", reading.reloads),)
    yield REJECTED, (("", reading.reloads_rejected),)
    yield LAST_OK, (("", _flag(reading.last_reload_successful)),)
    yield LAG, (("", reading.loop_lag),)
    yield LAG_MAX, (("", reading.loop_lag_max),)
    pools = [(f'config="{_escape(p.config)}",family="{p.family}"', p) for p in reading.pools]
    yield ALLOCATIONS, ((labels, p.allocations) for labels, p in pools)
    yield FREE, ((labels, p.free) for labels, p in pools)
    yield HELD, ((f'address="{_escape(a)}"', _flag(held)) for a, held in reading.floating_ips)
    yield HELD_COUNT, (("", sum(held for _, held in reading.floating_ips)),)
    yield LEDGER_WRITTEN, (("", _flag(reading.ledger_written)),)
    yield WITHHELD, (("", reading.withheld_pod_cidrs),)
    yield SESSIONS, (("", len(reading.sessions)),)


def _lines(sample: str, samples: Iterable[Sample]) -> str:
    return "".join(
        f"{sample}{{{labels}}} {_number(value)}\n" if labels else f"{sample} {_number(value)}\n"
        for labels, value in samples
    )


def render(reading: DaemonReading, fmt: Format) -> Iterator[str]:
    """The exposition text in chunks (see the module docstring); joined, one complete document."""
    for family, samples in _daemon_samples(reading):
        yield family.header(fmt) + _lines(family.sample, samples)
    sessions = reading.sessions
    for family, per_session in SESSION_FAMILIES:
        head = family.header(fmt)
        for start in range(0, len(sessions), CHUNK):
            part = []
            for session in sessions[start : start + CHUNK]:
                label = _session_label(session.name)
                part += [
                    (f"{label},{extra}" if extra else label, value)
                    for extra, value in per_session(session, reading.planned.get(session.name))
                ]
            yield head + _lines(family.sample, part)
            head = ""
        if head:
            yield head  # no session here: the family is still declared
    if fmt is Format.OPENMETRICS:
        yield "# EOF\n"
