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


_Range = tuple[str, str, Block, int]  # config name, family, its range, the per-node mask


def _range_of(block: Block, ranges: tuple[_Range, ...]) -> int | None:
    """The index of the range ``block`` is a per-node block of, if any (ranges do not overlap: the
    manifests' rules)."""
    for index, (_, _, cidr_range, mask) in enumerate(ranges):
        if (
            block.version == cidr_range.version
            and block.prefixlen == mask
            and cidr_range.first <= block.first < cidr_range.end
        ):
            return index
    return None


class PoolUsageCounter:
    """``usage`` with a memory of where each block of the ledger belongs: a reload reads a ledger of
    10k nodes again, and parsing and placing every block each time would cost more than the whole
    rest of a reload; a block's text is placed once, the first time it is seen with these ranges
    (the memory holds the current ledger's blocks only)."""

    def __init__(self) -> None:
        self._ranges: tuple[_Range, ...] = ()
        self._places: dict[str, int | None] = {}

    def usage(self, manifests: Manifests, ledger: Ledger) -> tuple[PoolUsage, ...]:
        """Usage of every ClusterCIDRConfig family, in file order (IPv4 before IPv6)."""
        ranges = tuple(
            (config.name, family, parse_block(pod_range.cidr, strict=False), pod_range.per_node_mask)
            for config in manifests.cidr_configs
            for family, pod_range in (("ipv4", config.ipv4), ("ipv6", config.ipv6))
            if pod_range is not None
        )
        known = self._places if ranges == self._ranges else {}
        places: dict[str, int | None] = {}
        names = [name for name, _, _, _ in ranges]
        taken = [0] * len(ranges)
        allocations = [0] * len(ranges)
        for entry in ledger.entries:
            for text in (entry.ipv4, entry.ipv6):
                if text is None:
                    continue
                index = known[text] if text in known else _range_of(parse_block(text), ranges)
                places[text] = index  # the text was checked when the ledger was read
                if index is not None:
                    taken[index] += 1
                    allocations[index] += entry.config == names[index]
        self._ranges, self._places = ranges, places
        return tuple(
            PoolUsage(name, family, 1 << (mask - cidr_range.prefixlen), allocations[i], taken[i])
            for i, (name, family, cidr_range, mask) in enumerate(ranges)
        )
