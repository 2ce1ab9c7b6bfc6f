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

Stability (ours, refining the KEP for a ledger whose configs may be edited): a node listed in both
``nodes`` and the ledger keeps each recorded block as long as that block is still a per-node block
of *some* config (same family, inside the range, same per-node mask) — whether or not the node's
labels still select that config. Renaming a config or changing selectors therefore moves nothing. A
recorded block that fits no config any more (its range was removed or changed) is released and the
node is told so in a problem; if the node kept no block at all it is then allocated like a new node
(and the problem names the old and new blocks), otherwise it keeps what still fits and any family
its config now defines that it lacks is filled from that config. Nodes missing from ``nodes`` lose
their blocks.

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
from bgpd.rib.ledger import Ledger, LedgerError, NodeAllocation, sorted_disjoint

__all__ = [
    "AllocationProblem",
    "AllocationResult",
    "CidrConfig",
    "CidrRange",
    "Ledger",
    "LedgerError",
    "NodeAllocation",
    "NodeSpec",
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
    ledger: Ledger  # the new ledger: released nodes removed, new ones added


class _Used:
    """Blocks held in one address family: sorted, disjoint half-open ``[start, end)`` intervals.

    All configs of a family share one, so even overlapping ranges (which manifest validation
    refuses) could never hand out overlapping blocks.
    """

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def load(self, held: Iterable[tuple[Block, str]], taken: Sequence[Block] = ()) -> None:
        """Start from the blocks live nodes keep, and ``taken`` (sorted, disjoint: held by nodes
        outside this allocation); two of them overlapping means a broken ledger."""
        ordered = sorted_disjoint(held)
        self._starts = [block.first for block in taken]
        self._ends = [block.end for block in taken]
        for block, node in ordered:
            if self.blocked_until(block.first, block.end) is not None:
                raise LedgerError(f"block {block} of node {node!r} overlaps a block another node holds")
            self.add(block)

    def blocked_until(self, start: int, end: int) -> int | None:
        """End of a held interval overlapping ``[start, end)``, or None when it is free."""
        i = bisect_right(self._starts, start)
        if i and self._ends[i - 1] > start:
            return self._ends[i - 1]
        if i < len(self._starts) and self._starts[i] < end:
            return self._ends[i]
        return None

    def add(self, block: Block) -> None:
        i = bisect_right(self._starts, block.first)
        self._starts.insert(i, block.first)
        self._ends.insert(i, block.end)


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


@dataclass(slots=True)
class _Holding:
    """What a live node brings from the ledger: blocks that still fit a config, and those that do not."""

    recorded_config: str
    kept: dict[int, tuple[_Config, Block, str]]  # by IP version: home config, block, ledger text
    released: list[Block]


_Served = tuple[_Config, dict[int, str]]  # the config and the node's block text by IP version


def allocate(
    nodes: Sequence[NodeSpec],
    configs: Sequence[CidrConfig],
    ledger: Ledger,
    taken: Mapping[int, Sequence[Block]] | None = None,
) -> AllocationResult:
    """Give every node its blocks, keeping what the ledger records for live nodes (see module doc).

    ``taken`` (by IP version, each sorted by address and disjoint) are blocks held by nodes this
    call does not serve: none of them is handed out. A planner that re-plans a few nodes passes the
    blocks of all the others, and gets for those few what allocating everyone would give them
    (``bgpd.plan.build``); the result then covers only ``nodes``.

    Raises ``ValueError`` for input the manifest validation must already have refused (duplicate
    node or config names, unparsable ranges, a per-node mask outside its range) and ``LedgerError``
    for a ledger whose blocks are unparsable, duplicated or overlapping (only possible for a ledger
    built by hand: ``Ledger.from_json`` refuses those).
    """
    labels = _index_nodes(nodes)
    used = {4: _Used(), 6: _Used()}
    ordered = _order_configs(configs, used)
    holdings = _attribute_ledger(ledger, labels, ordered)
    held: dict[int, list[tuple[Block, str]]] = {4: [], 6: []}
    for node, holding in holdings.items():
        for version, (_, block, _) in holding.kept.items():
            held[version].append((block, node))
    for version, family_used in used.items():
        family_used.load(held[version], taken.get(version, ()) if taken is not None else ())
    allocations: list[NodeAllocation] = []
    problems: list[AllocationProblem] = []
    for name in sorted(labels):
        served, notes = _serve(labels[name], holdings.get(name), ordered)
        if served is not None:
            config, blocks = served
            allocations.append(NodeAllocation(name, config.name, blocks.get(4), blocks.get(6)))
        if notes:
            problems.append(AllocationProblem(name, "; ".join(notes)))
    return AllocationResult(tuple(allocations), tuple(problems), Ledger(tuple(allocations)))


def _serve(
    labels: frozenset[tuple[str, str]], holding: _Holding | None, ordered: Sequence[_Config]
) -> tuple[_Served | None, list[str]]:
    """One node's blocks and the notes for its problem (an empty list: nothing to report)."""
    notes: list[str] = []
    if holding is not None and holding.released:
        verb = "is" if len(holding.released) == 1 else "are"
        released = " and ".join(_describe(block) for block in holding.released)
        notes.append(
            f"{released} (recorded under {holding.recorded_config!r}) {verb} no longer a per-node block "
            "of any ClusterCIDRConfig: released"
        )
    if holding is not None and holding.kept:
        return _keep(holding, notes), notes
    served = _serve_new(labels, ordered, notes)
    if served is not None and holding is not None:
        notes.append("re-allocated " + " and ".join(f"{_FAMILY[v]} {text}" for v, text in served[1].items()))
    return served, notes


def _keep(holding: _Holding, notes: list[str]) -> _Served:
    """Keep the blocks that still fit; fill any family the node's config defines and it lacks."""
    configs = [config for config, _, _ in holding.kept.values()]
    home = next((c for c in configs if c.name == holding.recorded_config), configs[0])
    blocks = {version: text for version, (_, _, text) in holding.kept.items()}
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
    return home, blocks


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
            return config, {version: str(block) for version, block in chosen.items()}
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


def _attribute_ledger(
    ledger: Ledger, live: Mapping[str, object], ordered: Sequence[_Config]
) -> dict[str, _Holding]:
    """For each live node in the ledger: which recorded blocks still fit a config, and which do not."""
    by_name = {config.name: config for config in ordered}
    holdings: dict[str, _Holding] = {}
    seen: set[str] = set()
    for entry in ledger.entries:
        if entry.node in seen:
            raise LedgerError(f"node {entry.node!r} appears more than once in the ledger")
        seen.add(entry.node)
        if entry.node not in live:
            continue  # a removed node: its blocks are released by not being carried over
        holding = _Holding(entry.config, {}, [])
        recorded = by_name.get(entry.config)
        for block, text in _entry_blocks(entry):
            home = _config_holding(block, recorded, ordered)
            if home is None:
                holding.released.append(block)
            else:
                holding.kept[block.version] = (home, block, text)
        holdings[entry.node] = holding
    return holdings


def _entry_blocks(entry: NodeAllocation) -> list[tuple[Block, str]]:
    """The entry's blocks with their text (kept as recorded: a ledger holds canonical text)."""
    blocks = []
    for version, text in ((4, entry.ipv4), (6, entry.ipv6)):
        if text is None:
            continue
        try:
            block = parse_block(text)
        except ValueError as err:
            raise LedgerError(f"ledger entry for node {entry.node!r}: {err}") from None
        if block.version != version:
            raise LedgerError(f"ledger entry for node {entry.node!r}: {text!r} is not an IPv{version} CIDR")
        blocks.append((block, text))
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
