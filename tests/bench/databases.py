"""Fresh databases on the one PostgreSQL server of a bench run."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from tests.support.postgres import TestPostgres


class Databases:
    """Hands out a fresh database per measurement and drops it afterwards."""

    def __init__(self, pg: TestPostgres) -> None:
        self._pg = pg

    @contextlib.asynccontextmanager
    async def fresh(self, *, migrated: bool = True) -> AsyncIterator[str]:
        """A new database: migrated for botgateway, empty for Procrastinate's own schema."""
        url = await self._pg.create_database(migrated=migrated)
        try:
            yield url
        finally:
            await self._pg.drop_database(url)

    def postmaster_pid(self) -> int | None:
        """The embedded server's postmaster (for CPU accounting); None for an outside server."""
        if self._pg.server is None:
            return None
        pid_file = Path(self._pg.server.pgdata) / "postmaster.pid"
        try:
            return int(pid_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None


async def settle(url: str) -> None:
    """Level the ground before a timed drain: planner statistics, visibility map, and a
    checkpoint, so no run pays for the previous one's dirty pages."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE")
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def count(url: str, sql: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()
