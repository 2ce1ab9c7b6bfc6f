"""Per-node pod-CIDR allocation from ClusterCIDRConfigs, following upstream ClusterCIDR semantics.

The rules are those of Kubernetes KEP-2593 (the multi-CIDR node-ipam-controller); where a rule is
ours, the comment says so.

Which config serves a new node (the order of upstream's ClusterCIDR priority queue), among the
configs whose ``nodeSelector.matchLabels`` all appear on the node:

1. the most selector labels (so an empty selector, matching every node, is the fallback);
2. the fewest allocatable blocks — the config's *capacity* (blocks per range, the smaller family if
   dual stack), as upstream's ``maxAllocatable``; capacity is fixed, so the order of configs for a
   node never depends on what other nodes hold;
3. the smaller per-node block (fewer host bits; the IPv4 block if the config has one, else IPv6);
4. the lexically smaller selector text (``k=v,k2=v2``, keys sorted);
5. the smaller range (IPv4 range if any, else IPv6; compared as numbers, not text) — ours from here;
6. the config name (unique, so the order is total).

A node gets every family its config defines from that one config, the lowest free block of each.
If any family of the config has no free block, the node falls through to the next config in that
order; if none can serve it, the node gets an ``AllocationProblem`` naming what was tried, and the
other nodes are still served.

Stability (ours, refining the KEP for a ledger whose configs may be edited and a file that may be
read badly; docs/allocation.md): a node never moves while it is in ``nodes``.

- A node listed in both ``nodes`` and the ledger keeps every recorded block, whether or not its
  labels still select that block's config, and even when the block is no longer a per-node block of
  any config (its range was removed or its mask changed): such a block is kept and the node is told
  so in a problem. Renaming a config or changing selectors therefore moves nothing. Any family its
  config defines that it lacks is filled from that config.
- A node missing from ``nodes`` keeps its blocks *reserved* from ``now`` for ``reservation_time``
  seconds: nobody else gets them, and a node that comes back gets them back. A reservation ends when
  it runs out (``now`` is given: this module reads no clock) or by ``Ledger.release``. With a
  ``reservation_time`` of 0 a missing node's blocks are free at once.
- ``pinned`` blocks (a node's ``spec.podCIDRs`` from its Node document, the cluster's truth) are that
  node's, whatever the ledger says: a ledger entry that disagrees is replaced and the difference is
  a problem naming both CIDRs; a block the ledger gave to anyone else is taken from them. A pinned
  node gets no other block (its Node document is the whole answer).

Determinism: nodes are served in sorted name order, configs in the total order above, and blocks
lowest-first, so the same ledger and the same input give the same result on every gateway.

Speed: used blocks are kept per family as sorted integer intervals; each (config, family) keeps a
cursor that only moves forward within one call, so finding the lowest free block skips over held
blocks by bisection instead of enumerating the range's subnets.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bgpd.rib.cidr import ADDRESS_BITS, Block, parse_block
from bgpd.rib.ledger import Ledger, LedgerError, NodeAllocation, Reservation, format_time, sorted_disjoint

__all__ = [
    "AllocationProblem",
    "AllocationResult",
    "CidrConfig",
    "CidrRange",
    "Intervals",
    "Ledger",
    "LedgerError",
    "NodeAllocation",
    "NodeSpec",
    "PodCidrs",
    "Reservation",
    "allocate",
]

_FAMILY = {4: "ipv4", 6: "ipv6"}


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str
    labels: tuple[tuple[str, str], ...]  # sorted (key, value) pairs


@dataclass(frozen=True, slots=True)
class CidrRange:
    cidr: str  # e.g. "192.168.0.0/16"; host bits are masked off, as Kubernetes reads a range
    per_node_mask: int  # e.g. 24


@dataclass(frozen=True, slots=True)
class CidrConfig:
    """One ClusterCIDRConfig, reduced to what allocation reads."""

    name: str
    selector: tuple[tuple[str, str], ...]  # nodeSelector.matchLabels, sorted; () matches every node
    ipv4: CidrRange | None
    ipv6: CidrRange | None


@dataclass(frozen=True, slots=True)
class AllocationProblem:
    """Something the operator must hear about one node: no block, or a block that had to go."""

    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class AllocationResult:
    allocations: tuple[NodeAllocation, ...]  # sorted by node name
    problems: tuple[AllocationProblem, ...]  # sorted by node name; a node may also be in allocations
    ledger: Ledger  # the new ledger: present nodes' blocks, and the reservations still running


class Intervals:
    """Addresses held in one address family: sorted, disjoint half-open ``[start, end)`` intervals,
    adjacent ones merged, so a run of consecutive blocks (a pool allocated in order) is one interval
    and finding the lowest free block past it is one step, not one per block.

    The allocator keeps one per family for a call (all configs of a family share it, so even
    overlapping ranges, which manifest validation refuses, could never hand out overlapping blocks);
    a planner that re-plans a few nodes keeps one of the blocks everyone else holds and passes it as
    ``taken``.
    """

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    @classmethod
    def of(cls, blocks: Iterable[Block]) -> Intervals:
        """The intervals of ``blocks`` (sorted by address, disjoint)."""
        made = cls()
        starts, ends = made._starts, made._ends
        for block in blocks:
            end = block.first + (1 << (ADDRESS_BITS[block.version] - block.prefixlen))
            if ends and ends[-1] == block.first:
                ends[-1] = end
            else:
                starts.append(block.first)
                ends.append(end)
        return made

    def copy(self) -> Intervals:
        made = Intervals()
        made._starts, made._ends = self._starts.copy(), self._ends.copy()
        return made

    def spans(self) -> list[tuple[int, int]]:
        """The intervals as ``(start, end)`` pairs, in order."""
        return list(zip(self._starts, self._ends, strict=True))

    def blocked_until(self, start: int, end: int) -> int | None:
        """End of a held interval overlapping ``[start, end)``, or None when it is free."""
        i = bisect_right(self._starts, start)
        if i and self._ends[i - 1] > start:
            return self._ends[i - 1]
        if i < len(self._starts) and self._starts[i] < end:
            return self._ends[i]
        return None

    def add(self, block: Block) -> None:
        """Hold ``block`` (free until now: the caller checked)."""
        starts, ends = self._starts, self._ends
        first, end = block.first, block.end
        i = bisect_right(starts, first)
        joins_left = i > 0 and ends[i - 1] == first
        joins_right = i < len(starts) and starts[i] == end
        if joins_left and joins_right:
            ends[i - 1] = ends[i]
            del starts[i], ends[i]
        elif joins_left:
            ends[i - 1] = end
        elif joins_right:
            starts[i] = first
        else:
            starts.insert(i, first)
            ends.insert(i, end)

    def remove(self, block: Block) -> None:
        """Free ``block`` (held until now, inside one interval)."""
        starts, ends = self._starts, self._ends
        first, end = block.first, block.end
        i = bisect_right(starts, first) - 1
        if i < 0 or ends[i] < end:
            raise ValueError(f"block {block} is not held")
        start, stop = starts[i], ends[i]
        if start == first and stop == end:
            del starts[i], ends[i]
        elif start == first:
            starts[i] = end
        elif stop == end:
            ends[i] = first
        else:
            ends[i] = first
            starts.insert(i + 1, end)
            ends.insert(i + 1, stop)


class _Used(Intervals):
    """The blocks held during one ``allocate`` call, in one address family."""

    __slots__ = ()

    def load(self, held: Iterable[tuple[Block, str]], taken: Intervals | None = None) -> None:
        """Start from the blocks live nodes keep, and ``taken`` (held by nodes outside this
        allocation); two of them overlapping means a broken ledger."""
        ordered = sorted_disjoint(held)
        if taken is None:
            loaded = Intervals.of(block for block, _ in ordered)
            self._starts, self._ends = loaded._starts, loaded._ends
            return
        self._starts, self._ends = taken._starts.copy(), taken._ends.copy()
        for block, node in ordered:
            if self.blocked_until(block.first, block.end) is not None:
                raise LedgerError(f"block {block} of node {node!r} overlaps a block another node holds")
            self.add(block)


class _Pool:
    """One family of one config during one ``allocate`` call: slot arithmetic plus a cursor."""

    __slots__ = ("count", "cursor", "mask", "range", "size", "used")

    def __init__(self, cidr_range: Block, mask: int, used: _Used) -> None:
        self.range = cidr_range
        self.mask = mask
        self.size = 1 << (ADDRESS_BITS[cidr_range.version] - mask)  # addresses per block
        self.count = 1 << (mask - cidr_range.prefixlen)  # blocks in the range
        self.cursor = 0  # every slot below it is known to be taken; only grows within a call
        self.used = used

    def holds(self, block: Block) -> bool:
        """Is ``block`` one of this pool's per-node blocks? (Alignment follows from a strict parse.)"""
        return (
            block.version == self.range.version
            and block.prefixlen == self.mask
            and self.range.first <= block.first < self.range.end
        )

    def lowest_free(self) -> Block | None:
        base, size = self.range.first, self.size
        while self.cursor < self.count:
            start = base + self.cursor * size
            blocked_until = self.used.blocked_until(start, start + size)
            if blocked_until is None:
                return Block(self.range.version, start, self.mask)
            self.cursor = max(self.cursor + 1, -(-(blocked_until - base) // size))
        return None

    def take(self, block: Block) -> None:
        self.used.add(block)
        self.cursor = (block.first - self.range.first) // self.size + 1

    def describe_full(self) -> str:
        return f"{_FAMILY[self.range.version]} {self.range} has no free /{self.mask} block"


class _Config:
    """A config ready to allocate from: label set, pools by IP version, and its precedence key."""

    __slots__ = ("key", "name", "pools", "selector")

    def __init__(self, config: CidrConfig, used: Mapping[int, _Used]) -> None:
        self.name = config.name
        self.selector = frozenset(config.selector)
        self.pools: dict[int, _Pool] = {}
        for version, cidr_range in ((4, config.ipv4), (6, config.ipv6)):
            if cidr_range is not None:
                self.pools[version] = _pool(config.name, version, cidr_range, used[version])
        if not self.pools:
            raise ValueError(f"ClusterCIDRConfig {config.name!r} defines neither an ipv4 nor an ipv6 range")
        first = self.pools[min(self.pools)]
        self.key = (
            -len(self.selector),  # 1. most matching labels (every selector label must match)
            min(pool.count for pool in self.pools.values()),  # 2. fewest allocatable blocks
            ADDRESS_BITS[first.range.version] - first.mask,  # 3. smaller per-node block
            ",".join(f"{k}={v}" for k, v in sorted(config.selector)),  # 4. selector text
            first.range,  # 5. range, numerically (ours)
            config.name,  # 6. name (ours): makes the order total
        )


def _pool(config: str, version: int, cidr_range: CidrRange, used: _Used) -> _Pool:
    where = f"ClusterCIDRConfig {config!r} {_FAMILY[version]}"
    try:
        block = parse_block(cidr_range.cidr, strict=False)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    if block.version != version:
        raise ValueError(f"{where}: {cidr_range.cidr!r} is an IPv{block.version} range")
    if not block.prefixlen <= cidr_range.per_node_mask <= ADDRESS_BITS[version]:
        raise ValueError(f"{where}: per-node mask /{cidr_range.per_node_mask} does not fit range {block}")
    return _Pool(block, cidr_range.per_node_mask, used)


PodCidrs = tuple[str | None, str | None]  # (ipv4 block, ipv6 block) as a Node document lists them


@dataclass(slots=True)
class _Holding:
    """What a present node brings from the ledger: its recorded blocks, each with the config it fits."""

    recorded_config: str
    kept: dict[int, tuple[_Config | None, Block, str]]  # by IP version: fitting config (or None), block, text
    pinned: bool  # the blocks come from the node's Node document: nothing is added to them


_Served = tuple[str, dict[int, str]]  # the config's name and the node's block text by IP version


def allocate(
    nodes: Sequence[NodeSpec],
    configs: Sequence[CidrConfig],
    ledger: Ledger,
    *,
    now: int = 0,
    reservation_time: int = 0,
    pinned: Mapping[str, PodCidrs] | None = None,
    taken: Mapping[int, Intervals] | None = None,
) -> AllocationResult:
    """Give every node its blocks, keeping recorded and reserved ones (see module doc).

    ``now`` (POSIX seconds) stamps new reservations and ends old ones after ``reservation_time``
    seconds; ``pinned`` maps a node to the blocks its Node document gives it.

    ``taken`` (by IP version) are the blocks held by present nodes
    this call does not serve: none of them is handed out. A planner that re-plans a few nodes passes
    the blocks of all the others (and the ledger entries of the few, and of the nodes gone, with
    every reservation), and gets for those few what allocating everyone would give them
    (``bgpd.plan.build``); the result then covers only ``nodes``.

    Raises ``ValueError`` for input the manifest validation must already have refused (duplicate
    node or config names, unparsable ranges, a per-node mask outside its range, pinned blocks of an
    unknown node or overlapping each other) and ``LedgerError`` for a ledger whose blocks are
    unparsable, duplicated or overlapping (only possible for a ledger built by hand:
    ``Ledger.from_json`` refuses those).
    """
    labels = _index_nodes(nodes)
    used = {4: _Used(), 6: _Used()}
    ordered = _order_configs(configs, used)
    notes: dict[str, list[str]] = {}
    entries, reserved = list(ledger.entries), list(ledger.reserved)
    _check_unique(entries, reserved)
    blocks_of = _Blocks()
    if pinned:
        entries, reserved = _pin(entries, reserved, pinned, labels, notes=notes, blocks_of=blocks_of)
    recorded, reservations = _sort_out(entries, reserved, labels, now, reservation_time)
    by_name = {config.name: config for config in ordered}
    holdings = {
        name: _holding(entry, by_name, ordered, pinned or {}, blocks_of) for name, entry in recorded.items()
    }
    _load_used(used, holdings, reservations, blocks_of, taken or {})
    allocations: list[NodeAllocation] = []
    for name in sorted(labels):
        node_notes = notes.setdefault(name, [])
        present = holdings.get(name)
        if present is not None:
            served: _Served | None = _keep(present, labels[name], ordered, node_notes)
        else:
            served = _serve_new(labels[name], ordered, node_notes)
        if served is not None:
            config, blocks = served
            allocations.append(NodeAllocation(name, config, blocks.get(4), blocks.get(6)))
    problems = tuple(AllocationProblem(name, "; ".join(notes[name])) for name in sorted(notes) if notes[name])
    running = tuple(sorted(reservations, key=lambda r: r.node))  # a ledger is sorted: equal means equal
    return AllocationResult(tuple(allocations), problems, Ledger(tuple(allocations), running))


def _sort_out(
    entries: Sequence[NodeAllocation],
    reserved: Sequence[Reservation],
    labels: Mapping[str, object],
    now: int,
    reservation_time: int,
) -> tuple[dict[str, NodeAllocation], list[Reservation]]:
    """(present nodes' recorded blocks, reservations still running): a node missing from ``labels``
    is reserved from ``now``; a reserved node that is present again gets its blocks back."""
    recorded: dict[str, NodeAllocation] = {}
    running: list[Reservation] = []
    for reservation in [*(Reservation(e, now) for e in entries), *reserved]:
        if reservation.node in labels:
            recorded[reservation.node] = reservation.allocation
        elif now - reservation.missing_since < reservation_time:
            running.append(reservation)
    return recorded, running


def _load_used(
    used: Mapping[int, _Used],
    holdings: Mapping[str, _Holding],
    reservations: Sequence[Reservation],
    blocks_of: _Blocks,
    taken: Mapping[int, Intervals],
) -> None:
    """Mark every present node's recorded blocks, every reserved block and ``taken`` as taken."""
    held: dict[int, list[tuple[Block, str]]] = {4: [], 6: []}
    for name, holding in holdings.items():
        for version, (_, block, _) in holding.kept.items():
            held[version].append((block, name))
    for reservation in reservations:
        for block, _ in blocks_of(reservation.allocation):
            held[block.version].append((block, reservation.node))
    for version, family_used in used.items():
        family_used.load(held[version], taken.get(version))


def _check_unique(entries: Sequence[NodeAllocation], reserved: Sequence[Reservation]) -> None:
    seen: set[str] = set()
    for name in [*(e.node for e in entries), *(r.node for r in reserved)]:
        if name in seen:
            raise LedgerError(f"node {name!r} appears more than once in the ledger")
        seen.add(name)


def _pin(
    entries: list[NodeAllocation],
    reserved: list[Reservation],
    pinned: Mapping[str, PodCidrs],
    labels: Mapping[str, object],
    *,
    notes: dict[str, list[str]],
    blocks_of: _Blocks,
) -> tuple[list[NodeAllocation], list[Reservation]]:
    """The ledger with every pinned node holding exactly its pinned blocks, and no one else holding them.

    Each difference from what the ledger said becomes a note on the pinned node naming both CIDRs.
    """
    unknown = sorted(set(pinned) - set(labels))
    if unknown:
        raise ValueError(f"pinned node(s) {', '.join(map(repr, unknown))} are not in the node list")
    empty = sorted(name for name, (v4, v6) in pinned.items() if v4 is None and v6 is None)
    if empty:
        raise ValueError(f"pinned node(s) {', '.join(map(repr, empty))} are pinned to no block")
    pins = {name: NodeAllocation(name, "-", v4, v6) for name, (v4, v6) in pinned.items()}
    taken = {4: _Used(), 6: _Used()}
    owners: dict[tuple[int, int], str] = {}
    try:
        pinned_blocks = [(block, name) for name, pin in pins.items() for block, _ in blocks_of(pin)]
        for version, family in taken.items():
            family.load((b, n) for b, n in pinned_blocks if b.version == version)
    except LedgerError as err:
        raise ValueError(f"pinned blocks: {err}") from None
    for block, name in pinned_blocks:
        owners[block.version, block.first] = name
    previous: dict[str, NodeAllocation] = {e.node: e for e in entries}
    previous.update((r.node, r.allocation) for r in reserved)
    for name, pin in pins.items():
        old = previous.get(name)
        if old is None:
            continue
        pins[name] = NodeAllocation(name, old.config, pin.ipv4, pin.ipv6)
        differences = [
            f"{_FAMILY[version]} ledger {was}, Node document {now or 'none'}"
            for version, was, now in ((4, old.ipv4, pin.ipv4), (6, old.ipv6, pin.ipv6))
            if was is not None and was != now
        ]
        if differences:
            notes.setdefault(name, []).append(
                "this gateway's ledger contradicts the file: "
                + "; ".join(differences)
                + ": the file wins (announced and recorded as in the file)"
            )

    def without_pinned(entry: NodeAllocation, whose: str) -> NodeAllocation | None:
        kept: dict[int, str | None] = {4: entry.ipv4, 6: entry.ipv6}
        for block, text in blocks_of(entry):
            if taken[block.version].blocked_until(block.first, block.end) is None:
                continue
            kept[block.version] = None
            owner = _owner_of(block, owners, pinned_blocks)
            notes.setdefault(owner, []).append(
                f"its Node document's block overlaps {_FAMILY[block.version]} {text}, which this gateway's "
                f"ledger gave to node {entry.node!r} ({whose}): the file wins, taken from {entry.node!r}"
            )
        if kept[4] is None and kept[6] is None:
            return None
        return NodeAllocation(entry.node, entry.config, kept[4], kept[6])

    others = [
        without_pinned(e, "present" if e.node in labels else "missing") for e in entries if e.node not in pins
    ]
    reservations = [
        (r, without_pinned(r.allocation, "reserved since " + format_time(r.missing_since)))
        for r in reserved
        if r.node not in pins
    ]
    return (
        [*pins.values(), *(e for e in others if e is not None)],
        [Reservation(a, r.missing_since) for r, a in reservations if a is not None],
    )


def _owner_of(
    block: Block, owners: Mapping[tuple[int, int], str], pinned: Sequence[tuple[Block, str]]
) -> str:
    """The pinned node whose block overlaps ``block`` (overlap is known to exist)."""
    exact = owners.get((block.version, block.first))
    if exact is not None:
        return exact
    return next(name for pin, name in pinned if pin.overlaps(block))


def _holding(
    entry: NodeAllocation,
    by_name: Mapping[str, _Config],
    ordered: Sequence[_Config],
    pinned: Mapping[str, PodCidrs],
    blocks_of: _Blocks,
) -> _Holding:
    """A present node's recorded blocks, each with the config whose per-node blocks include it."""
    recorded = by_name.get(entry.config)
    holding = _Holding(entry.config, {}, entry.node in pinned)
    for block, text in blocks_of(entry):
        holding.kept[block.version] = (_config_holding(block, recorded, ordered), block, text)
    return holding


def _keep(
    holding: _Holding, labels: frozenset[tuple[str, str]], ordered: Sequence[_Config], notes: list[str]
) -> _Served:
    """Keep every recorded block; fill any family the node's config defines and it lacks (unless pinned)."""
    blocks = {version: text for version, (_, _, text) in holding.kept.items()}
    outside = [block for config, block, _ in holding.kept.values() if config is None]
    if outside:
        verb = "is" if len(outside) == 1 else "are"
        notes.append(
            f"{' and '.join(_describe(block) for block in outside)} (recorded under "
            f"{holding.recorded_config!r}) {verb} no longer a per-node block of any ClusterCIDRConfig: "
            "kept, because a node is never renumbered while it is in the file (docs/allocation.md)"
        )
    homes = [config for config, _, _ in holding.kept.values() if config is not None]
    home = next((c for c in homes if c.name == holding.recorded_config), homes[0] if homes else None)
    if home is None and not holding.pinned:
        home = next((c for c in ordered if c.name == holding.recorded_config), None)
        home = home or next((c for c in ordered if c.selector <= labels), None)
    if home is None or holding.pinned:
        return (home.name if home is not None else holding.recorded_config), blocks
    filled = bool(homes)
    for version, pool in home.pools.items():
        if version in blocks:
            continue
        block = pool.lowest_free()
        if block is None:
            notes.append(
                f"no {_FAMILY[version]} block: in ClusterCIDRConfig {home.name!r}, {pool.describe_full()}"
            )
        else:
            pool.take(block)
            blocks[version] = str(block)
            filled = True
    return (home.name if filled else holding.recorded_config), blocks


def _serve_new(
    labels: frozenset[tuple[str, str]], ordered: Sequence[_Config], notes: list[str]
) -> _Served | None:
    """The first config in precedence order that selects the node and has a block in every family."""
    tried: list[str] = []
    for config in ordered:
        if not config.selector <= labels:
            continue
        chosen: dict[int, Block] = {}
        for version, pool in config.pools.items():
            block = pool.lowest_free()
            if block is None:
                tried.append(f"{config.name!r} ({pool.describe_full()})")
                break
            chosen[version] = block
        else:
            for version, block in chosen.items():
                config.pools[version].take(block)
            return config.name, {version: str(block) for version, block in chosen.items()}
    if tried:
        notes.append("no free pod CIDR block in any matching ClusterCIDRConfig: " + ", ".join(tried))
    else:
        notes.append("no ClusterCIDRConfig nodeSelector matches this node's labels")
    return None


def _describe(block: Block) -> str:
    return f"{_FAMILY[block.version]} {block}"


def _index_nodes(nodes: Sequence[NodeSpec]) -> dict[str, frozenset[tuple[str, str]]]:
    labels: dict[str, frozenset[tuple[str, str]]] = {}
    for node in nodes:
        if node.name in labels:
            raise ValueError(f"node {node.name!r} is listed more than once")
        labels[node.name] = frozenset(node.labels)
    return labels


def _order_configs(configs: Sequence[CidrConfig], used: Mapping[int, _Used]) -> list[_Config]:
    prepared: dict[str, _Config] = {}
    for config in configs:
        if config.name in prepared:
            raise ValueError(f"ClusterCIDRConfig {config.name!r} is listed more than once")
        prepared[config.name] = _Config(config, used)
    return sorted(prepared.values(), key=lambda c: c.key)


class _Blocks:
    """An entry's blocks with their text, each text parsed once per ``allocate`` call: the ledger,
    the pinned blocks and the reservations are read more than once, and parsing dominates."""

    __slots__ = ("_parsed",)

    def __init__(self) -> None:
        self._parsed: dict[str, Block] = {}

    def __call__(self, entry: NodeAllocation) -> list[tuple[Block, str]]:
        blocks = []
        for version, text in ((4, entry.ipv4), (6, entry.ipv6)):
            if text is None:
                continue
            block = self._parsed.get(text)
            if block is None:
                try:
                    block = parse_block(text)
                except ValueError as err:
                    raise LedgerError(f"ledger entry for node {entry.node!r}: {err}") from None
                self._parsed[text] = block
            if block.version != version:
                raise LedgerError(
                    f"ledger entry for node {entry.node!r}: {text!r} is not an IPv{version} CIDR"
                )
            blocks.append((block, text))  # kept as recorded: a ledger holds canonical text
        return blocks


def _config_holding(block: Block, recorded: _Config | None, ordered: Sequence[_Config]) -> _Config | None:
    """The config whose per-node blocks include ``block``: the recorded one first, then in order."""
    if recorded is not None and (pool := recorded.pools.get(block.version)) is not None and pool.holds(block):
        return recorded
    for config in ordered:
        pool = config.pools.get(block.version)
        if pool is not None and pool.holds(block):
            return config
    return None
