"""The allocation ledger: which node holds which pod-CIDR blocks, as data and as JSON text.

The ledger is what makes allocation stable across restarts: the allocator keeps every live node's
blocks as recorded here. Because a wrong ledger would silently renumber pods or hand one block to two
nodes, reading is strict — any defect (bad JSON, an unknown version, an unparsable or misplaced
CIDR, a duplicate node, two blocks that overlap) raises ``LedgerError`` with the reason and the entry
it is about, and the caller must stop rather than start afresh. File handling (atomic replace,
fsync) lives in ``bgpd.daemon.host.statefile``; this module does no I/O.

JSON form (version 1), written with sorted keys and entries sorted by node so equal ledgers are
byte-identical::

    {"kind": "bgpd-pod-cidr-ledger", "version": 1,
     "nodes": [{"node": "n1", "config": "pool-a", "ipv4": "192.168.3.0/24", "ipv6": null}]}
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from bgpd.rib.cidr import Block, parse_block

__all__ = [
    "LEDGER_KIND",
    "LEDGER_VERSION",
    "Ledger",
    "LedgerError",
    "LedgerText",
    "NodeAllocation",
    "sorted_disjoint",
]

LEDGER_KIND: Final = "bgpd-pod-cidr-ledger"
LEDGER_VERSION: Final = 1
_ENTRY_KEYS: Final = frozenset({"node", "config", "ipv4", "ipv6"})
_TOP_KEYS: Final = frozenset({"kind", "version", "nodes"})


class LedgerError(Exception):
    """The ledger cannot be trusted; the message says why and where."""


@dataclass(frozen=True, slots=True)
class NodeAllocation:
    """The blocks one node holds, and the ClusterCIDRConfig they come from."""

    node: str
    config: str
    ipv4: str | None  # the node's block, e.g. "192.168.3.0/24"
    ipv6: str | None


@dataclass(frozen=True, slots=True)
class Ledger:
    """Every node's current blocks, sorted by node name.

    The constructor trusts its input (the allocator builds ledgers that are valid by construction);
    ``from_json`` and ``of`` check everything.
    """

    entries: tuple[NodeAllocation, ...]

    @classmethod
    def empty(cls) -> Ledger:
        return cls(())

    @classmethod
    def of(cls, entries: Iterable[NodeAllocation]) -> Ledger:
        """A checked ledger from entries in any order; raises ``LedgerError`` like ``from_json``."""
        checked = [_check_entry(i, entry) for i, entry in enumerate(entries)]
        _check_disjoint(checked)
        return cls(tuple(sorted((entry for entry, _ in checked), key=lambda e: e.node)))

    def to_json(self) -> str:
        document = {
            "kind": LEDGER_KIND,
            "version": LEDGER_VERSION,
            "nodes": [
                {"node": e.node, "config": e.config, "ipv4": e.ipv4, "ipv6": e.ipv6}
                for e in sorted(self.entries, key=lambda e: e.node)
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
        unknown = sorted(set(document) - _TOP_KEYS)
        if unknown:
            raise LedgerError(f"unknown top-level field(s) {', '.join(map(repr, unknown))}")
        if document.get("kind") != LEDGER_KIND:
            raise LedgerError(f"field 'kind' must be {LEDGER_KIND!r}, found {document.get('kind')!r}")
        version = document.get("version")
        if type(version) is not int or version != LEDGER_VERSION:
            raise LedgerError(f"unsupported ledger version {version!r} (this bgpd reads {LEDGER_VERSION})")
        nodes = document.get("nodes")
        if not isinstance(nodes, list):
            raise LedgerError(f"field 'nodes' must be a list, found {_json_type(nodes)}")
        return cls.of(_entry_from_json(i, item) for i, item in enumerate(nodes))


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
        nodes = ",\n".join(texts.values())
        listed = f"[\n{nodes}\n ]" if nodes else "[]"
        return (
            f'{{\n "kind": {_string(LEDGER_KIND)},\n "nodes": {listed},\n "version": {LEDGER_VERSION}\n}}\n'
        )


_string = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str (ensure_ascii)


def _entry_text(entry: NodeAllocation) -> str:
    """One entry as ``json.dumps(..., indent=1, sort_keys=True)`` writes it inside the list."""
    ipv4 = "null" if entry.ipv4 is None else _string(entry.ipv4)
    ipv6 = "null" if entry.ipv6 is None else _string(entry.ipv6)
    return (
        f'  {{\n   "config": {_string(entry.config)},\n   "ipv4": {ipv4},\n'
        f'   "ipv6": {ipv6},\n   "node": {_string(entry.node)}\n  }}'
    )


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _entry_from_json(index: int, item: Any) -> NodeAllocation:
    where = f"nodes[{index}]"
    if not isinstance(item, dict):
        raise LedgerError(f"{where}: expected an object, found {_json_type(item)}")
    missing = sorted(_ENTRY_KEYS - set(item))
    if missing:
        raise LedgerError(f"{where}: missing field(s) {', '.join(map(repr, missing))}")
    unknown = sorted(set(item) - _ENTRY_KEYS)
    if unknown:
        raise LedgerError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
    for key in ("node", "config"):
        if not isinstance(item[key], str):
            raise LedgerError(f"{where}.{key}: expected a string, found {_json_type(item[key])}")
    for key in ("ipv4", "ipv6"):
        if item[key] is not None and not isinstance(item[key], str):
            raise LedgerError(f"{where}.{key}: expected a CIDR string or null, found {_json_type(item[key])}")
    return NodeAllocation(node=item["node"], config=item["config"], ipv4=item["ipv4"], ipv6=item["ipv6"])


def _check_entry(index: int, entry: NodeAllocation) -> tuple[NodeAllocation, list[Block]]:
    """Validate one entry; return it with canonical CIDR text, plus its parsed blocks."""
    where = f"nodes[{index}] (node {entry.node!r})"
    if not entry.node:
        raise LedgerError(f"nodes[{index}]: node name is empty")
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
    """No node twice, no address in two blocks."""
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
