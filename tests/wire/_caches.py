"""The codec's intern caches are process-wide: tests that depend on what was decoded before start
from empty caches."""

from __future__ import annotations

from bgpd.wire import attributes


def forget_decoded_sets() -> None:
    for caches in (attributes._CACHES, attributes._VALUE_CACHES, attributes._FLAT_CACHES):
        for cache in caches.values():
            cache.clear()
