"""A session's received routes as a listing that runs in slices: a million routes, in order,
without holding the loop and without a million-element list of results.

A listing yields routes one at a time, and ``None`` after every slice of its own work: the control
server (``bgpd.control.server.Streamed``) sends what it has and gives the loop a turn there. The
table keeps changing meanwhile, so the listing works from a copy of its keys (one reference per
route) and looks each up when it gets there: a route withdrawn meanwhile is left out, one that
arrives meanwhile is not listed, one that changed is listed as it is then.

Order (by family, then network, then length): sorting a million keys at once would hold the loop
for seconds, so the keys are cut into ranges at quantiles of a sample (``sorted_in_slices``), each
range filled in slices and sorted when its turn comes; every range is about ``RUN`` keys, sorted in
a few milliseconds.
"""

from __future__ import annotations

import functools
import ipaddress
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from typing import Final, TypeVar

from bgpd.rib.adj_rib_in import AdjRibIn, ReceivedPath
from bgpd.speaker.status import ReceivedRoute
from bgpd.wire.constants import Family
from bgpd.wire.nlri import Prefix, address_width, prefix_to_text

__all__ = ["RUN", "Within", "received_routes", "sorted_in_slices"]

RUN: Final = 16_384  # keys sorted at once, and keys handled between two pauses
_PATHS_KEPT: Final = 4096  # paths whose text a listing remembers (many routes share one)
_Shown = tuple[str, int | None, tuple[int, ...]]  # next hop, MED, AS numbers
Within = ipaddress.IPv4Network | ipaddress.IPv6Network
K = TypeVar("K")


def sorted_in_slices(
    keys: Sequence[K], order: Callable[[K], int], run: int = RUN
) -> Iterator[list[K] | None]:
    """``keys`` sorted by ``order``, as consecutive sorted lists, with ``None`` after each slice of
    about ``run`` keys' work (see the module docstring)."""
    if len(keys) <= run:
        yield sorted(keys, key=order)
        return
    stride = max(1, run // 64)  # 64 samples per range: ranges stay within a small factor of ``run``
    sample = sorted(order(key) for key in keys[::stride])
    bounds = sample[64::64]
    yield None
    ranges: list[list[K]] = [[] for _ in range(len(bounds) + 1)]
    for start in range(0, len(keys), run):
        for key in keys[start : start + run]:
            ranges[bisect_right(bounds, order(key))].append(key)
        yield None
    for index, part in enumerate(ranges):
        part.sort(key=order)
        ranges[index] = []  # what was listed can go
        yield part
        yield None


def _inside(within: Within | None, family: Family) -> Callable[[Prefix], bool] | None:
    """A test "is this prefix inside ``within``" on integers, or None when every prefix is."""
    if within is None:
        return None
    width = address_width(family.afi)
    if within.max_prefixlen != width:
        return lambda prefix: False
    length = within.prefixlen
    shift = width - length
    top = int(within.network_address) >> shift
    return lambda prefix: prefix[1] >= length and prefix[0] >> shift == top


def received_routes(
    session: str, rib: AdjRibIn, within: Within | None = None, run: int = RUN
) -> Iterator[ReceivedRoute | None]:
    """The routes of ``rib`` (``session``'s Adj-RIB-In) inside ``within`` (all when None), by
    family then prefix, with ``None`` pauses (see the module docstring)."""
    for family in sorted(rib.families):
        inside = _inside(within, family)
        keys = rib.keys(family)
        if inside is not None:
            kept = []
            for start in range(0, len(keys), run):
                kept += [key for key in keys[start : start + run] if inside(rib.prefix(family, key))]
                yield None
            keys = kept
        family_text = str(family)
        afi = family.afi
        shown_paths: dict[int, tuple[ReceivedPath, _Shown]] = {}  # by id; the entry keeps it alive
        for part in sorted_in_slices(keys, functools.partial(rib.order, family), run):
            if part is None:
                yield None
                continue
            for key in part:
                path = rib.at(family, key)
                if path is None:
                    continue  # withdrawn since the listing began
                cached = shown_paths.get(id(path))
                if cached is None:
                    if len(shown_paths) >= _PATHS_KEPT:
                        shown_paths.clear()  # flat mode: a path per route, nothing to share
                    cached = shown_paths[id(path)] = (path, _path_text(path))
                next_hop, metric, as_path = cached[1]
                yield ReceivedRoute(
                    session,
                    family_text,
                    prefix_to_text(rib.prefix(family, key), afi),
                    next_hop,
                    metric,
                    as_path,
                    rib.key_is_stale(family, key),
                )


def _path_text(path: ReceivedPath) -> _Shown:
    """What a listing shows of a path (once per path object: many routes share one)."""
    as_path = path.attributes.effective_as_path() or ()
    return (
        str(path.next_hop_address),
        path.attributes.med,
        tuple(asn for segment in as_path for asn in segment.asns),
    )
