"""The speaker runs on uvloop in production, so its tests do too; ``speaker``: one fresh Speaker,
``speakers``: two of them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping

import pytest
import pytest_asyncio
import uvloop

from bgpd.speaker import Speaker


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], object]]:
    return {"uvloop": uvloop.new_event_loop}


@pytest_asyncio.fixture
async def speaker() -> AsyncIterator[Speaker]:
    one = Speaker()
    try:
        yield one
    finally:
        await one.close()


@pytest_asyncio.fixture
async def speakers() -> AsyncIterator[tuple[Speaker, Speaker]]:
    one, two = Speaker(), Speaker()
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()
