"""Shared fixtures. The integration tier uses a real PostgreSQL (see tests/support/postgres.py)."""

from collections.abc import AsyncIterator, Iterator

import pytest

from botgateway.queue import QueueSettings, Store
from tests.support.postgres import TestPostgres, test_postgres
from tests.support.rows import Rows
from tests.support.tempdirs import server_folder


@pytest.fixture(scope="session")
def postgres() -> Iterator[TestPostgres]:
    with server_folder("botgateway-test-postgres-") as folder, test_postgres(folder) as pg:
        yield pg


@pytest.fixture
async def database_url(postgres: TestPostgres) -> AsyncIterator[str]:
    """A fresh, migrated database for one test."""
    url = await postgres.create_database()
    yield url
    await postgres.drop_database(url)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = await Store.connect(database_url, max_size=20)
    yield s
    await s.close()


@pytest.fixture
def queue_settings(database_url: str) -> QueueSettings:
    return QueueSettings(database_url=database_url)


@pytest.fixture
def rows(database_url: str) -> Rows:
    return Rows(database_url)
