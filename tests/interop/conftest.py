"""Interop fixtures: a ``NetLab`` per test, torn down even when the test fails.

Tests marked ``interop`` need root and the real peers. Without them they are skipped, unless
``BGPD_REQUIRE_INTEROP=1`` (set by CI), which makes a missing prerequisite a failure: CI must never
pass with the interop tests silently skipped (issue 4 §3).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.interop.netlab import NetLab, lab_namespaces, missing_prerequisites
from tests.interop.speaker_host import Topology, build_topology

REQUIRED_BINARIES = ("ip", "gobgpd", "gobgp", "bird", "birdc")
REQUIRE_ENV = "BGPD_REQUIRE_INTEROP"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``pytest.mark.interop(binaries=(...))`` adds what a module needs beyond the peers."""
    marker = item.get_closest_marker("interop")
    if marker is None:
        return
    reasons = missing_prerequisites((*REQUIRED_BINARIES, *marker.kwargs.get("binaries", ())))
    if not reasons:
        return
    message = "interop prerequisites missing: " + "; ".join(reasons)
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_ENV}=1 makes this a failure)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def netlab() -> Iterator[NetLab]:
    """A fresh lab; its finalizer kills what the test started and deletes its namespaces."""
    lab = NetLab()
    try:
        yield lab
    finally:
        lab.close()
        leaked = [name for name in lab_namespaces() if name.startswith(f"bgpd-{lab.lab_id}-")]
        assert not leaked, f"namespaces left behind: {leaked}"


@pytest.fixture
def topo(netlab: NetLab) -> Iterator[Topology]:
    """The speaker interop topology (``speaker_host.build_topology``), its speaker host closed after."""
    topology = build_topology(netlab)
    try:
        yield topology
    finally:
        topology.host.close()
