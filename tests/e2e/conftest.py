"""End-to-end tests run ``bgpd run`` as a subprocess; the routers are bgpd speakers on uvloop."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
import uvloop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], object]]:
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="bgpd-e2e-", dir="/tmp"))  # unix socket paths stay short
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# The network-namespace tests reuse the interop lab: its fixture and its prerequisite check
# (skip without root/gobgpd/bird, or fail when BGPD_REQUIRE_INTEROP=1).
from tests.interop.conftest import netlab, pytest_runtest_setup  # noqa: E402

__all__ = ["netlab", "pytest_asyncio_loop_factories", "pytest_runtest_setup", "short_dir"]
