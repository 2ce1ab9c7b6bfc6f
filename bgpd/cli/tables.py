"""Pure rendering of control-socket data into the tables ``bgpctl`` prints.

The tables mimic the product's ``kubectl get bgpsessions`` / ``bgpadvertisedroutes`` output
(docs/seed Troubleshooting): upper-case headers, left-aligned columns separated by at least three
spaces, ages like kubectl (``2s``, ``5m``, ``3h``, ``2d17h``). Input is the JSON the daemon sends
(docs/control-protocol.md), so the same data renders the same way whether it came over the socket
or from a test fixture; ``now`` is an argument, never read here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "NONE",
    "TABLES",
    "Column",
    "column_widths",
    "format_age",
    "format_rows",
    "parse_timestamp",
    "render_describe",
    "render_status",
    "render_table",
    "table_cells",
    "table_for",
]

NONE = "<none>"  # what kubectl prints for an absent value in a column
COLUMN_GAP = 3


def format_age(seconds: float) -> str:
    """kubectl's human duration: precise while short, coarser as it grows (apimachinery HumanDuration)."""
    total = int(seconds)
    if total < -1:
        return "<invalid>"  # clocks disagree by more than the tolerated second
    if total < 0:
        return "0s"
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years, rest_days = divmod(days, 365)
    if days < 365 * 8:
        return f"{years}y{rest_days}d" if rest_days else f"{years}y"
    return f"{years}y"


def parse_timestamp(value: str) -> datetime:
    """An RFC 3339 timestamp as the daemon sends it (``2026-11-26T21:41:15.123Z``), as an aware datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _age_since(value: Any, now: datetime) -> str:
    if not isinstance(value, str) or not value:
        return NONE
    try:
        return format_age((now - parse_timestamp(value)).total_seconds())
    except ValueError:
        return "<invalid>"


def _text(value: Any) -> str:
    if value is None or value in ("", []):
        return NONE
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _blank_if_none(value: Any) -> str:
    """The product leaves METRIC empty when no MED is set, rather than printing ``<none>``."""
    return "" if value is None else str(value)


def _seconds(value: Any) -> str:
    return format_age(float(value)) if isinstance(value, int | float) else NONE


def _state(row: Mapping[str, Any], _now: datetime) -> str:
    """The session's state, then its maintenance markers, as kubectl shows a cordoned node
    (``Ready,SchedulingDisabled``): ``NotEstablished,Disabled``, ``Established,Drained``."""
    markers = [word for key, word in (("disabled", "Disabled"), ("drained", "Drained")) if row.get(key)]
    return ",".join([_text(row.get("state")), *markers])


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    cell: Callable[[Mapping[str, Any], datetime], str]
    wide_only: bool = False


def _field(key: str, fmt: Callable[[Any], str] = _text) -> Callable[[Mapping[str, Any], datetime], str]:
    return lambda row, _now: fmt(row.get(key))


_SESSIONS = (
    Column("NAME", _field("name")),
    Column("LOCAL ASN", _field("localASN")),
    Column("PEER ASN", _field("peerASN")),
    Column("LOCAL IP", _field("localIP")),
    Column("PEER IP", _field("peerIP")),
    Column("STATE", _state),
    Column("LAST REPORT", lambda row, now: _age_since(row.get("lastReport"), now)),
    Column("FSM STATE", _field("fsmState"), wide_only=True),
    Column("UPTIME", _field("uptimeSeconds", _seconds), wide_only=True),
    Column("PREFIXES SENT", _field("prefixesSent"), wide_only=True),
    Column("PREFIXES RECEIVED", _field("prefixesReceived"), wide_only=True),
    Column("LAST ERROR", _field("lastError"), wide_only=True),
)
_ADVERTISED = (
    Column("NAME", _field("name")),
    Column("PREFIX", _field("prefix")),
    Column("METRIC", _field("metric", _blank_if_none)),
    Column("NEXT HOP", _field("nextHop"), wide_only=True),
    Column("FAMILY", _field("family"), wide_only=True),
    Column("COMMUNITIES", _field("communities"), wide_only=True),
    Column("SESSIONS", _field("sessions"), wide_only=True),
)
_RECEIVED = (
    Column("SESSION", _field("session")),
    Column("PREFIX", _field("prefix")),
    Column("NEXT HOP", _field("nextHop")),
    Column("METRIC", _field("metric", _blank_if_none)),
    # RFC 4724 §4.2: kept from before the peer's graceful restart, not re-sent yet
    Column("STALE", _field("stale", lambda v: "yes" if v else "no")),
    Column("FAMILY", _field("family"), wide_only=True),
    Column("AS PATH", _field("asPath", lambda v: " ".join(map(str, v)) if v else NONE), wide_only=True),
)
_ALLOCATIONS = (
    Column("NODE", _field("node")),
    Column("NODEPOOL", _field("nodePool")),
    Column("CLUSTERCIDRCONFIG", _field("clusterCIDRConfig")),
    Column("POD CIDRS", _field("podCIDRs")),
    Column("NODE IPS", _field("nodeIPs"), wide_only=True),
    Column("MISSING SINCE", _field("missingSince"), wide_only=True),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "bgpsessions": _SESSIONS,
    "bgpadvertisedroutes": _ADVERTISED,
    "bgpreceivedroutes": _RECEIVED,
    "allocations": _ALLOCATIONS,
}


def column_widths(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    """Each column as wide as its widest cell (header included)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    return widths


def format_rows(rows: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    """Left-aligned cells padded to ``widths`` plus three spaces; no trailing blanks. A cell wider
    than its column (a row printed later by ``--watch``) pushes the rest of its line right."""
    lines = []
    for row in rows:
        padded = "".join(cell.ljust(w + COLUMN_GAP) for cell, w in zip(row[:-1], widths, strict=False))
        lines.append((padded + row[-1]).rstrip())
    return "".join(line + "\n" for line in lines)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, each as wide as its widest cell plus three spaces; no trailing blanks."""
    return format_rows([list(headers), *rows], column_widths(headers, rows))


def table_cells(
    kind: str, items: Sequence[Mapping[str, Any]], now: datetime, *, wide: bool = False
) -> tuple[list[str], list[list[str]]]:
    """The headers and cells ``table_for`` lays out, for callers that print rows over time."""
    columns = [c for c in TABLES[kind] if wide or not c.wide_only]
    return [c.header for c in columns], [[c.cell(item, now) for c in columns] for item in items]


def table_for(kind: str, items: Sequence[Mapping[str, Any]], now: datetime, *, wide: bool = False) -> str:
    """Render the daemon's list for ``kind`` (a key of ``TABLES``)."""
    return render_table(*table_cells(kind, items, now, wide=wide))


_LABELS = {
    "name": "Name",
    "localASN": "Local ASN",
    "peerASN": "Peer ASN",
    "localIP": "Local IP",
    "peerIP": "Peer IP",
    "fsmState": "FSM State",
    "lastReport": "Last Report",
    "uptimeSeconds": "Uptime",
    "holdTime": "Hold Time",
    "keepaliveTime": "Keepalive Time",
    "lastError": "Last Error",
}


# What an empty or absent field means, in words, instead of ``{}`` or ``<none>``: a session that
# never came up has negotiated nothing and exchanged no messages yet. Other empty sections say "none".
_NOT_YET = {
    "holdTime": "none negotiated yet",
    "keepaliveTime": "none negotiated yet",
    "capabilities": "none negotiated yet",
    "messagesIn": "none yet",
    "messagesOut": "none yet",
    "history": "no state changes yet",
    "uptimeSeconds": "not established",
}
EMPTY_SECTION = "none"


def _label(key: str) -> str:
    """``camelCase`` keys become ``Camel Case`` labels; runs of capitals (ASN, IP) stay together."""
    if key in _LABELS:
        return _LABELS[key]
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", key)
    return " ".join(w if w.isupper() else w.capitalize() for w in words) or key


def _describe_lines(value: Any, indent: int, now: datetime) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, Mapping | list) and item:
                lines.append(f"{pad}{_label(str(key))}:")
                lines += _describe_lines(item, indent + 1, now)
            elif item is None or (isinstance(item, Mapping | list) and not item):
                empty = NONE if item is None else EMPTY_SECTION
                lines.append(f"{pad}{_label(str(key))}:  {_NOT_YET.get(str(key), empty)}")
            elif key == "lastReport" and isinstance(item, str):
                lines.append(f"{pad}{_label(key)}:  {item} ({_age_since(item, now)} ago)")
            elif key == "uptimeSeconds":
                lines.append(f"{pad}{_label(key)}:  {_seconds(item)}")
            else:
                lines.append(f"{pad}{_label(str(key))}:  {_text(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping):
                inner = _describe_lines(item, indent + 1, now)
                lines.append(f"{pad}- {inner[0].lstrip()}" if inner else f"{pad}-")
                lines += inner[1:]
            else:
                lines.append(f"{pad}- {_text(item)}")
    else:
        lines.append(f"{pad}{_text(value)}")
    return lines


def render_describe(data: Mapping[str, Any], now: datetime) -> str:
    """``kubectl describe``-style text: one ``Label:  value`` per field, nested sections indented."""
    return "\n".join(_describe_lines(data, 0, now)) + "\n"


def _ledger_line(unwritten: Any, now: datetime) -> str:
    """The ledger's line of ``bgpctl status``: on disk, or since when and why not."""
    if not isinstance(unwritten, Mapping):
        return "written"
    since = unwritten.get("since")
    age = f" ({_age_since(since, now)} ago)" if isinstance(since, str) else ""
    waiting = "; a reload waits for it" if unwritten.get("reloadWaiting") else ""
    return (
        f"NOT WRITTEN since {_text(since)}{age}: {_text(unwritten.get('error'))}; "
        f"pod CIDRs not announced until written: {_text(unwritten.get('withheldPodCIDRs'))}{waiting}"
    )


def render_status(data: Mapping[str, Any], now: datetime) -> str:
    """``bgpctl status``: the daemon as a whole, one line per subject."""
    sessions = data.get("sessions") or {}
    lag = data.get("loopLag") or {}
    planned = data.get("plannedAt")
    age = f" ({_age_since(planned, now)} ago)" if isinstance(planned, str) else ""
    lines = [
        ("Generation", f"{_text(data.get('generation'))}, plan of {_text(planned)}{age}"),
        (
            "Sessions",
            f"{_text(sessions.get('planned'))} planned, {_text(sessions.get('running'))} run here, "
            f"{_text(sessions.get('established'))} established",
        ),
        ("Routes", f"{_text(data.get('routes'))} from {_text(data.get('nodes'))} nodes"),
        (
            "Event Loop Lag",
            f"last {_text(lag.get('lastMs'))} ms, worst {_text(lag.get('maxMs'))} ms in the last "
            f"{_text(lag.get('windowSeconds'))} s and {_text(lag.get('worstMs'))} ms since start; "
            f"{_text(lag.get('overBudget'))} over the {_text(lag.get('budgetMs'))} ms budget",
        ),
        ("Loop CPU", f"at most {_text(lag.get('worstBusyMs'))} ms between two probes"),
        ("Ledger", _ledger_line(data.get("ledgerUnwritten"), now)),
    ]
    width = max(len(label) for label, _ in lines) + 1
    return "".join(f"{label + ':':{width}}  {text}\n" for label, text in lines)
