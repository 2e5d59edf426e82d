"""Fixtures more than one integration module uses."""

import os
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.support.fake_telegram import FakeTelegram
from tests.support.pgbouncer import PgBouncer, pgbouncer
from tests.support.pgbouncer import missing as pgbouncer_missing
from tests.support.postgres import TestPostgres
from tests.support.tempdirs import server_folder


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


@pytest.fixture(scope="session", params=["transaction", "session"])
def pooler(
    request: pytest.FixtureRequest,
    postgres: TestPostgres,
) -> Iterator[PgBouncer]:
    """PgBouncer in front of the test PostgreSQL, in each pool mode. Skipped where the binary
    is missing, except in CI, which must run these."""
    mode: str = request.param
    reason = pgbouncer_missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI runs the pooler tests (.ci/run installs it)")
        pytest.skip(reason)
    run_as = getattr(postgres.server, "system_user", None)
    with (
        server_folder(f"botgateway-test-pgbouncer-{mode}-") as folder,
        pgbouncer(postgres.base_url, mode, folder, run_as=run_as) as pb,
    ):
        yield pb
