"""Fixtures more than one integration module uses."""

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.fake_telegram import FakeTelegram


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """The local fake Bot API, started for one test."""
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for one test, to post to the service or a backend."""
    async with aiohttp.ClientSession() as session:
        yield session
