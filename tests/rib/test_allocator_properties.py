"""Property: random histories of nodes joining, leaving and being relabelled, and of configs being
reselected, never move a live node's block and never hand one address to two nodes.

Ranges are tiny so that exhaustion and fall-through happen often; every invariant is checked
against a brute-force view (explicit block sets), not against the allocator's own bookkeeping.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bgpd.rib.allocator import AllocationResult, CidrConfig, CidrRange, Ledger, NodeSpec, allocate

NAMES = [f"node-{i:02}" for i in range(12)]
POOLS = ["a", "b", "c"]


@dataclass(frozen=True)
class Add:
    name: str
    pool: str


@dataclass(frozen=True)
class Remove:
    name: str


@dataclass(frozen=True)
class Relabel:
    name: str
    pool: str


@dataclass(frozen=True)
class Reselect:
    config: int
    pool: str | None  # None: the config selects every node


Op = Add | Remove | Relabel | Reselect

ops = st.one_of(
    st.builds(Add, st.sampled_from(NAMES), st.sampled_from(POOLS)),
    st.builds(Remove, st.sampled_from(NAMES)),
    st.builds(Relabel, st.sampled_from(NAMES), st.sampled_from(POOLS)),
    st.builds(Reselect, st.integers(0, 3), st.none() | st.sampled_from(POOLS)),
)


@st.composite
def config_sets(draw: st.DrawFn) -> list[CidrConfig]:
    """Two to four configs with disjoint ranges of 1–8 blocks; some dual stack, some single."""
    configs = []
    for i in range(draw(st.integers(2, 4))):
        families = draw(st.sampled_from(["v4", "v6", "dual"]))
        v4_blocks_log2, v6_blocks_log2 = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        v4_mask, v6_mask = draw(st.integers(26, 30)), draw(st.integers(64, 126))
        pool = draw(st.none() | st.sampled_from(POOLS))
        configs.append(
            CidrConfig(
                name=f"cfg-{i}",
                selector=() if pool is None else (("pool", pool),),
                ipv4=CidrRange(f"10.{i}.0.0/{v4_mask - v4_blocks_log2}", v4_mask)
                if families != "v6"
                else None,
                ipv6=CidrRange(f"fd0{i}::/{v6_mask - v6_blocks_log2}", v6_mask) if families != "v4" else None,
            )
        )
    return configs


def _networks(result: AllocationResult) -> list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    return [
        (allocation.node, ipaddress.ip_network(text))
        for allocation in result.allocations
        for text in (allocation.ipv4, allocation.ipv6)
        if text is not None
    ]


def _check_invariants(
    result: AllocationResult,
    nodes: dict[str, str],
    configs: list[CidrConfig],
    before: dict[str, tuple[str | None, str | None]],
) -> None:
    allocated = {a.node: a for a in result.allocations}
    # every live node is allocated or reported; nobody else appears
    assert set(allocated) | {p.node for p in result.problems} == set(nodes)
    assert result.ledger.entries == result.allocations
    # never move a live node's block (configs' ranges never change in these histories)
    for name, blocks in before.items():
        if name in nodes:
            assert (allocated[name].ipv4, allocated[name].ipv6) == blocks, name
    # never hand an address to two nodes
    networks = _networks(result)
    for i, (owner, net) in enumerate(networks):
        for other, other_net in networks[i + 1 :]:
            assert not net.overlaps(other_net), (owner, net, other, other_net)
    # every block is a per-node block of its config, and a new node's config selects it
    by_name = {c.name: c for c in configs}
    for allocation in result.allocations:
        cfg = by_name[allocation.config]
        for text, cidr_range in ((allocation.ipv4, cfg.ipv4), (allocation.ipv6, cfg.ipv6)):
            if text is None:
                continue
            assert cidr_range is not None
            block, pool_range = ipaddress.ip_network(text), ipaddress.ip_network(cidr_range.cidr)
            assert block.version == pool_range.version and block.prefixlen == cidr_range.per_node_mask
            assert (
                int(pool_range.network_address)
                <= int(block.network_address)
                <= int(pool_range.broadcast_address)
            )
        if allocation.node not in before:
            assert set(cfg.selector) <= {("pool", nodes[allocation.node])}
    # a node left without blocks really had none: each config selecting it is full in some family
    for problem in result.problems:
        if problem.node in allocated:
            continue
        for cfg in configs:
            if not set(cfg.selector) <= {("pool", nodes[problem.node])}:
                continue
            assert any(_full(cidr_range, networks) for cidr_range in (cfg.ipv4, cfg.ipv6) if cidr_range), (
                cfg.name
            )


def _full(
    cidr_range: CidrRange, networks: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]]
) -> bool:
    pool_range = ipaddress.ip_network(cidr_range.cidr)
    return all(
        any(candidate.overlaps(net) for _, net in networks)
        for candidate in pool_range.subnets(new_prefix=cidr_range.per_node_mask)
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs=config_sets(), history=st.lists(ops, min_size=1, max_size=25))
def test_histories_never_move_live_blocks_nor_share_them(
    configs: list[CidrConfig], history: list[Op]
) -> None:
    nodes: dict[str, str] = {}  # name -> pool label
    ledger = Ledger.empty()
    for op in history:
        if isinstance(op, Add | Relabel):
            if isinstance(op, Relabel) and op.name not in nodes:
                continue
            nodes[op.name] = op.pool
        elif isinstance(op, Remove):
            nodes.pop(op.name, None)
        elif op.config < len(configs):
            selector = () if op.pool is None else (("pool", op.pool),)
            configs = [
                *configs[: op.config],
                replace(configs[op.config], selector=selector),
                *configs[op.config + 1 :],
            ]
        before = {e.node: (e.ipv4, e.ipv6) for e in ledger.entries}
        specs = [NodeSpec(name, (("pool", pool),)) for name, pool in nodes.items()]
        result = allocate(specs, configs, ledger)
        _check_invariants(result, nodes, configs, before)
        if any(p.node not in {a.node for a in result.allocations} for p in result.problems):
            event("a node was left without blocks")  # shown by --hypothesis-show-statistics
        if any(a.node in before for a in result.allocations) and len(nodes) > len(before):
            event("new nodes joined around kept ones")
        # determinism: same ledger + same input (in any order) => same result
        assert allocate(specs[::-1], configs[::-1], ledger) == result
        # what is saved is what is read back
        assert Ledger.from_json(result.ledger.to_json()) == result.ledger
        ledger = result.ledger
