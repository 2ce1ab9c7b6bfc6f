"""How full each ClusterCIDRConfig is: blocks handed out and blocks still free, per family.

For the metrics (``bgpd_cluster_cidr_allocations``, ``bgpd_cluster_cidr_free_blocks``): exhaustion
is a reported condition (design: "not a crash"), and an operator wants to see it coming. Counted
from the ledger the plan commits, so a block still reserved for a node missing from one read of the
file counts as taken, as it is. A block is *taken* from a config's range when any ledger entry
holds a per-node block of that range (whichever config recorded it); *allocations* count the nodes
the ledger gives that config. Pure (``PoolUsageCounter`` only remembers parsed blocks), and computed
once per plan change, never per scrape.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgpd.manifests import Manifests
from bgpd.rib.cidr import Block, parse_block
from bgpd.rib.ledger import Ledger

__all__ = ["PoolUsage", "PoolUsageCounter"]


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """One family of one ClusterCIDRConfig."""

    config: str
    family: str  # "ipv4" or "ipv6"
    capacity: int  # per-node blocks in the range
    allocations: int  # nodes the ledger gives this config a block of this family
    taken: int  # per-node blocks of the range held by anyone

    @property
    def free(self) -> int:
        return self.capacity - self.taken


def _inside(block: Block, cidr_range: Block, mask: int) -> bool:
    return (
        block.version == cidr_range.version
        and block.prefixlen == mask
        and cidr_range.first <= block.first < cidr_range.end
    )


class PoolUsageCounter:
    """``usage`` with a memory of parsed blocks: a reload re-reads a ledger of 10k nodes, and
    parsing every block again each time would cost the loop more than its budget; a block's text
    is parsed once, the first time it is seen (the cache holds the current ledger's blocks only)."""

    def __init__(self) -> None:
        self._blocks: dict[str, Block] = {}

    def usage(self, manifests: Manifests, ledger: Ledger) -> tuple[PoolUsage, ...]:
        """Usage of every ClusterCIDRConfig family, in file order (IPv4 before IPv6)."""
        blocks: dict[str, Block] = {}
        held: list[tuple[str, Block]] = []
        for entry in ledger.entries:
            for text in (entry.ipv4, entry.ipv6):
                if text is not None:
                    block = self._blocks.get(text) or parse_block(text)  # checked when the ledger was read
                    blocks[text] = block
                    held.append((entry.config, block))
        self._blocks = blocks
        ranges = [
            (config.name, family, parse_block(pod_range.cidr, strict=False), pod_range.per_node_mask)
            for config in manifests.cidr_configs
            for family, pod_range in (("ipv4", config.ipv4), ("ipv6", config.ipv6))
            if pod_range is not None
        ]
        taken = [0] * len(ranges)
        allocations = [0] * len(ranges)
        for recorded, block in held:
            for index, (name, _, cidr_range, mask) in enumerate(ranges):
                if _inside(block, cidr_range, mask):
                    taken[index] += 1
                    allocations[index] += recorded == name
                    break  # ranges do not overlap (the manifests' rules)
        return tuple(
            PoolUsage(name, family, 1 << (mask - cidr_range.prefixlen), allocations[i], taken[i])
            for i, (name, family, cidr_range, mask) in enumerate(ranges)
        )
