"""Fixtures more than one integration module uses."""

from collections.abc import AsyncIterator

import pytest

from tests.support.fake_telegram import FakeTelegram


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """The local fake Bot API, started for one test."""
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()
