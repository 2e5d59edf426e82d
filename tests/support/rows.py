"""Direct reads and edits of `gateway_jobs` for tests (the store does not expose these)."""

from typing import Any

import asyncpg


class Rows:
    def __init__(self, url: str) -> None:
        self.url = url

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def value(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0][0] if rows else None

    async def execute(self, sql: str, *args: Any) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(sql, *args)
        finally:
            await conn.close()

    async def status_of(self, job_id: int) -> str:
        return str(await self.value("SELECT status FROM gateway_jobs WHERE id = $1", job_id))

    async def job(self, job_id: int) -> asyncpg.Record:
        rows = await self.fetch("SELECT * FROM gateway_jobs WHERE id = $1", job_id)
        return rows[0]

    async def count(self, status: str | None = None) -> int:
        if status is None:
            return int(await self.value("SELECT count(*) FROM gateway_jobs"))
        return int(await self.value("SELECT count(*) FROM gateway_jobs WHERE status = $1", status))
