"""The allocation ledger: which node holds which pod-CIDR blocks, and which blocks are reserved for
nodes missing from the cluster file, as data and as JSON text.

The ledger is what makes allocation stable across restarts: the allocator keeps every live node's
blocks as recorded here, and keeps a missing node's blocks out of everyone else's reach while its
reservation runs (docs/allocation.md). Because a wrong ledger would silently renumber pods or hand
one block to two nodes, reading is strict — any defect (bad JSON, an unknown version, an
unparsable or misplaced CIDR, a duplicate node, two blocks that overlap, a bad timestamp) raises
``LedgerError`` with the reason and the entry it is about, and the caller must stop rather than
start afresh. File handling (atomic replace, fsync) lives in ``bgpd.daemon.host.statefile``; this
module does no I/O and reads no clock: reservation times are given to it.

JSON form (version 2), written with sorted keys and entries sorted by node so equal ledgers are
byte-identical::

    {"kind": "bgpd-pod-cidr-ledger", "version": 2,
     "nodes": [{"node": "n1", "config": "pool-a", "ipv4": "192.168.3.0/24", "ipv6": null}],
     "reserved": [{"node": "n2", "config": "pool-a", "ipv4": "192.168.4.0/24", "ipv6": null,
                   "missingSince": "2025-03-01T12:00:00Z"}]}

Version 1 (no ``reserved`` list) is still read: every node in it is live. It is written back as
version 2.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from bgpd.rib.cidr import Block, parse_block

__all__ = [
    "LEDGER_KIND",
    "LEDGER_VERSION",
    "READABLE_VERSIONS",
    "Ledger",
    "LedgerError",
    "LedgerText",
    "NodeAllocation",
    "Reservation",
    "format_time",
    "sorted_disjoint",
]

LEDGER_KIND: Final = "bgpd-pod-cidr-ledger"
LEDGER_VERSION: Final = 2
READABLE_VERSIONS: Final = (1, 2)
_ENTRY_KEYS: Final = frozenset({"node", "config", "ipv4", "ipv6"})
_RESERVED_KEYS: Final = _ENTRY_KEYS | {"missingSince"}
_TOP_KEYS: Final = {
    1: frozenset({"kind", "version", "nodes"}),
    2: frozenset({"kind", "version", "nodes", "reserved"}),
}
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
_TIME_TEXT: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


class LedgerError(Exception):
    """The ledger cannot be trusted (or a change to it makes no sense); the message says why and where."""


@dataclass(frozen=True, slots=True)
class NodeAllocation:
    """The blocks one node holds, and the ClusterCIDRConfig they come from."""

    node: str
    config: str
    ipv4: str | None  # the node's block, e.g. "192.168.3.0/24"
    ipv6: str | None


@dataclass(frozen=True, slots=True)
class Reservation:
    """Blocks kept for a node that is missing from the cluster file, so no other node can get them.

    ``missing_since`` is when the node was first missing (POSIX seconds): the reservation ends
    ``reservationTime`` later, at an explicit release, or when the node comes back.
    """

    allocation: NodeAllocation
    missing_since: int

    @property
    def node(self) -> str:
        return self.allocation.node


@dataclass(frozen=True, slots=True)
class Ledger:
    """Every present node's blocks (``entries``) and every reservation (``reserved``), by node name.

    The constructor trusts its input (the allocator builds ledgers that are valid by construction);
    ``from_json`` and ``of`` check everything.
    """

    entries: tuple[NodeAllocation, ...]
    reserved: tuple[Reservation, ...] = ()

    @classmethod
    def empty(cls) -> Ledger:
        return cls(())

    @classmethod
    def of(cls, entries: Iterable[NodeAllocation], reserved: Iterable[Reservation] = ()) -> Ledger:
        """A checked ledger from entries in any order; raises ``LedgerError`` like ``from_json``."""
        live = [_check_entry(f"nodes[{i}]", entry) for i, entry in enumerate(entries)]
        kept = [
            (_check_entry(f"reserved[{i}]", r.allocation), r.missing_since) for i, r in enumerate(reserved)
        ]
        _check_disjoint([*live, *(checked for checked, _ in kept)])
        return cls(
            tuple(sorted((entry for entry, _ in live), key=lambda e: e.node)),
            tuple(sorted((Reservation(entry, since) for (entry, _), since in kept), key=lambda r: r.node)),
        )

    def reservation(self, node: str) -> Reservation | None:
        return next((r for r in self.reserved if r.node == node), None)

    def release(self, node: str) -> Ledger:
        """This ledger without ``node``'s reservation; ``LedgerError`` if it has none."""
        if self.reservation(node) is None:
            present = any(e.node == node for e in self.entries)
            why = "it is in the cluster file" if present else "the ledger does not know it"
            raise LedgerError(f"node {node!r} has no reservation to release: {why}")
        return Ledger(self.entries, tuple(r for r in self.reserved if r.node != node))

    def to_json(self) -> str:
        document = {
            "kind": LEDGER_KIND,
            "version": LEDGER_VERSION,
            "nodes": [_entry_json(e) for e in sorted(self.entries, key=lambda e: e.node)],
            "reserved": [
                {**_entry_json(r.allocation), "missingSince": format_time(r.missing_since)}
                for r in sorted(self.reserved, key=lambda r: r.node)
            ],
        }
        return json.dumps(document, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Ledger:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise LedgerError(f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
        except RecursionError:
            raise LedgerError("not valid JSON: nested too deeply") from None
        if not isinstance(document, dict):
            raise LedgerError(f"expected a JSON object at the top, found {_json_type(document)}")
        if document.get("kind") != LEDGER_KIND:
            raise LedgerError(f"field 'kind' must be {LEDGER_KIND!r}, found {document.get('kind')!r}")
        version = document.get("version")
        if type(version) is not int or version not in READABLE_VERSIONS:
            readable = " and ".join(str(v) for v in READABLE_VERSIONS)
            raise LedgerError(f"unsupported ledger version {version!r} (this bgpd reads {readable})")
        unknown = sorted(set(document) - _TOP_KEYS[version])
        if unknown:
            raise LedgerError(f"unknown top-level field(s) {', '.join(map(repr, unknown))}")
        nodes = _list_field(document, "nodes")
        reserved = _list_field(document, "reserved") if version >= 2 else []
        return cls.of(
            (_entry_from_json(f"nodes[{i}]", item, _ENTRY_KEYS) for i, item in enumerate(nodes)),
            (_reservation_from_json(f"reserved[{i}]", item) for i, item in enumerate(reserved)),
        )


def format_time(seconds: int) -> str:
    """POSIX seconds as RFC 3339 UTC text, the ledger's (and the tables') form of a time."""
    return datetime.fromtimestamp(seconds, UTC).strftime(_TIME_FORMAT)


def _parse_time(where: str, value: Any) -> int:
    if not isinstance(value, str) or not _TIME_TEXT.fullmatch(value):
        raise LedgerError(f"{where}: expected a UTC time like '2025-03-01T12:00:00Z', found {value!r}")
    try:
        parsed = datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as err:
        raise LedgerError(f"{where}: {value!r} is not a valid time ({err})") from None
    return int(parsed.timestamp())


def _entry_json(entry: NodeAllocation) -> dict[str, Any]:
    return {"node": entry.node, "config": entry.config, "ipv4": entry.ipv4, "ipv6": entry.ipv6}


class LedgerText:
    """``Ledger.to_json``, byte for byte, for a ledger that changes a little at a time: the text of
    each entry is kept, and only the entries not seen in the last ledger are formatted (a
    10,000-node ledger is written again on every reload that moves a block; with the standard
    library's indenting encoder that alone took 50 ms)."""

    def __init__(self) -> None:
        self._texts: dict[NodeAllocation, str] = {}

    def render(self, ledger: Ledger) -> str:
        texts: dict[NodeAllocation, str] = {}
        known = self._texts
        for entry in sorted(ledger.entries, key=lambda e: e.node):
            text = known.get(entry)
            texts[entry] = text if text is not None else _entry_text(entry)
        self._texts = texts
        reserved = [
            _entry_text(r.allocation, format_time(r.missing_since))
            for r in sorted(ledger.reserved, key=lambda r: r.node)
        ]
        return (
            f'{{\n "kind": {_string(LEDGER_KIND)},\n "nodes": {_listed(list(texts.values()))},\n'
            f' "reserved": {_listed(reserved)},\n "version": {LEDGER_VERSION}\n}}\n'
        )


_string = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str (ensure_ascii)


def _listed(items: list[str]) -> str:
    joined = ",\n".join(items)
    return f"[\n{joined}\n ]" if items else "[]"


def _entry_text(entry: NodeAllocation, missing_since: str | None = None) -> str:
    """One entry as ``json.dumps(..., indent=1, sort_keys=True)`` writes it inside a list."""
    ipv4 = "null" if entry.ipv4 is None else _string(entry.ipv4)
    ipv6 = "null" if entry.ipv6 is None else _string(entry.ipv6)
    since = "" if missing_since is None else f'   "missingSince": {_string(missing_since)},\n'
    return (
        f'  {{\n   "config": {_string(entry.config)},\n   "ipv4": {ipv4},\n'
        f'   "ipv6": {ipv6},\n{since}   "node": {_string(entry.node)}\n  }}'
    )


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _list_field(document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key)
    if not isinstance(value, list):
        raise LedgerError(f"field {key!r} must be a list, found {_json_type(value)}")
    return value


def _entry_from_json(where: str, item: Any, keys: frozenset[str]) -> NodeAllocation:
    if not isinstance(item, dict):
        raise LedgerError(f"{where}: expected an object, found {_json_type(item)}")
    missing = sorted(keys - set(item))
    if missing:
        raise LedgerError(f"{where}: missing field(s) {', '.join(map(repr, missing))}")
    unknown = sorted(set(item) - keys)
    if unknown:
        raise LedgerError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
    for key in ("node", "config"):
        if not isinstance(item[key], str):
            raise LedgerError(f"{where}.{key}: expected a string, found {_json_type(item[key])}")
    for key in ("ipv4", "ipv6"):
        if item[key] is not None and not isinstance(item[key], str):
            raise LedgerError(f"{where}.{key}: expected a CIDR string or null, found {_json_type(item[key])}")
    return NodeAllocation(node=item["node"], config=item["config"], ipv4=item["ipv4"], ipv6=item["ipv6"])


def _reservation_from_json(where: str, item: Any) -> Reservation:
    allocation = _entry_from_json(where, item, _RESERVED_KEYS)
    return Reservation(allocation, _parse_time(f"{where}.missingSince", item["missingSince"]))


def _check_entry(where: str, entry: NodeAllocation) -> tuple[NodeAllocation, list[Block]]:
    """Validate one entry; return it with canonical CIDR text, plus its parsed blocks."""
    if not entry.node:
        raise LedgerError(f"{where}: node name is empty")
    where = f"{where} (node {entry.node!r})"
    if not entry.config:
        raise LedgerError(f"{where}: config name is empty")
    if entry.ipv4 is None and entry.ipv6 is None:
        raise LedgerError(f"{where}: holds no block (ipv4 and ipv6 are both null)")
    blocks: list[Block] = []
    canonical: dict[str, str | None] = {"ipv4": None, "ipv6": None}
    for key, version, text in (("ipv4", 4, entry.ipv4), ("ipv6", 6, entry.ipv6)):
        if text is None:
            continue
        try:
            block = parse_block(text)
        except ValueError as err:
            raise LedgerError(f"{where}.{key}: {err}") from None
        if block.version != version:
            raise LedgerError(f"{where}.{key}: {text!r} is an IPv{block.version} CIDR")
        blocks.append(block)
        canonical[key] = str(block)
    fixed = NodeAllocation(entry.node, entry.config, canonical["ipv4"], canonical["ipv6"])
    return fixed, blocks


def _check_disjoint(checked: list[tuple[NodeAllocation, list[Block]]]) -> None:
    """No node twice (live or reserved), no address in two blocks."""
    seen: set[str] = set()
    for entry, _ in checked:
        if entry.node in seen:
            raise LedgerError(f"node {entry.node!r} appears more than once")
        seen.add(entry.node)
    sorted_disjoint((block, entry.node) for entry, blocks in checked for block in blocks)


def sorted_disjoint(owned: Iterable[tuple[Block, str]]) -> list[tuple[Block, str]]:
    """``(block, node)`` pairs sorted by block; ``LedgerError`` if two blocks share an address.

    Sorting by first address makes any overlap show up between neighbours.
    """
    ordered = sorted(owned, key=_by_address)
    for (left, left_node), (right, right_node) in itertools.pairwise(ordered):
        if left.overlaps(right):
            raise LedgerError(
                f"block {right} of node {right_node!r} overlaps block {left} of node {left_node!r}"
            )
    return ordered


def _by_address(item: tuple[Block, str]) -> tuple[int, int, int]:
    block = item[0]  # a plain tuple key sorts far faster than the dataclass's generated __lt__
    return block.version, block.first, block.prefixlen
