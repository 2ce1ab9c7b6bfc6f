"""The reload guard: a new cluster file that removes too much at once is refused unless forced.

A half-written or truncated file usually parses: YAML documents end where the writer paused, and
what is left can still be a valid cluster, only with fewer NodePools or BGPPeers. Applied, it would
withdraw those nodes' routes and de-configure those peers (Cease 6/3) on every ToR at once. So a
reload that removes more than ``removals.maxShare`` of the running nodes, or of the running BGP
peers, is refused (the running configuration stays) until an operator confirms it with
``bgpctl reload --force`` (docs/allocation.md). Pure: old manifests and new manifests in, refusals
out; the daemon decides what to do with them.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from bgpd.manifests import Manifests

__all__ = ["Refusal", "removal_refusals"]

_NAMES_SHOWN: Final = 8
_NAME: Final = operator.attrgetter("name")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Too many of one kind of thing would go at once."""

    what: str  # "nodes" or "BGP peers"
    removed: tuple[str, ...]
    running: int  # how many there are now
    max_share: float

    @property
    def reason(self) -> str:
        share = len(self.removed) / self.running
        shown = ", ".join(self.removed[:_NAMES_SHOWN])
        if len(self.removed) > _NAMES_SHOWN:
            shown += f" and {len(self.removed) - _NAMES_SHOWN} more"
        return (
            f"the new cluster file removes {len(self.removed)} of {self.running} {self.what} at once "
            f"({share:.0%}, more than removals.maxShare {self.max_share:.0%}): {shown}; refused, the "
            "running configuration stays (a half-written file looks like this); if the removal is "
            "intended, run `bgpctl reload --force`"
        )


def removal_refusals(old: Manifests, new: Manifests, max_share: float) -> tuple[Refusal, ...]:
    """A refusal for the nodes and one for the BGP peers, each when more than ``max_share`` of them go.

    Nodes are compared by name, peers by peer IP (a renamed peer on the same address is not gone)."""
    old_names = set(map(_NAME, old.nodes))  # map and attrgetter: C speed, a reload of 10k nodes does this
    new_peers = {p.peer_ip for p in new.peers}
    refusals = [
        _refusal("nodes", len(old.nodes), sorted(old_names.difference(map(_NAME, new.nodes))), max_share),
        _refusal(
            "BGP peers",
            len(old.peers),
            [f"{p.name} ({p.peer_ip})" for p in old.peers if p.peer_ip not in new_peers],
            max_share,
        ),
    ]
    return tuple(r for r in refusals if r is not None)


def _refusal(what: str, running: int, removed: Sequence[str], max_share: float) -> Refusal | None:
    if not running or len(removed) <= max_share * running:
        return None
    return Refusal(what, tuple(removed), running, max_share)
