"""The bench scenarios build network namespaces: they share the interop prerequisite check (skip
without root/gobgpd/bird, or fail when BGPD_REQUIRE_INTEROP=1)."""

from __future__ import annotations

from tests.interop.conftest import pytest_runtest_setup

__all__ = ["pytest_runtest_setup"]
