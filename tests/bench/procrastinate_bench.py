"""Procrastinate (from PyPI) on the same server, in its own database and schema: the
reference Python PostgreSQL task queue, run the way its docs say."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import procrastinate

from .databases import count
from .workload import Drained, chunks, update

TASK_NAME = "bench_noop"
SUCCEEDED_COUNT_SQL = "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"


def _app(url: str, pool_size: int) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(conninfo=url, min_size=pool_size, max_size=pool_size)
    app = procrastinate.App(connector=connector)

    async def noop(**_: Any) -> None:
        return None

    app.task(name=TASK_NAME)(noop)
    return app


@asynccontextmanager
async def _opened(url: str, pool_size: int) -> AsyncIterator[procrastinate.App]:
    app = _app(url, pool_size)
    async with app.open_async():
        yield app


async def install_schema(url: str) -> None:
    async with _opened(url, 1) as app:
        await app.schema_manager.apply_schema_async()


async def enqueue(url: str, jobs: int, batch_size: int) -> float:
    """Seconds to defer `jobs` with `batch_defer_async`, one batch after another."""
    batches: list[list[dict[str, Any]]] = [
        [{"update": update(i)} for i in range(start, start + n)]
        for start, n in chunks(jobs, batch_size)
    ]
    async with _opened(url, 1) as app:
        task = app.tasks[TASK_NAME]
        started = time.perf_counter()
        for batch in batches:
            await task.batch_defer_async(*batch)
        return time.perf_counter() - started


async def drain(
    url: str, jobs: int, *, workers: int, concurrency: int, pool_size: int, budget_s: float | None
) -> Drained:
    """`workers` Procrastinate workers (each its own app and pool, like pods) over the
    backlog. With `wait=False` a worker returns once the queue is empty and its jobs are
    finished, so the last return ends the drain; past the budget we count what is done
    and stop them."""
    async with _apps(url, workers, pool_size) as apps:
        started = time.perf_counter()
        runs = [
            asyncio.create_task(
                app.run_worker_async(
                    concurrency=concurrency,
                    wait=False,
                    install_signal_handlers=False,
                    name=f"bench-{i}",
                )
            )
            for i, app in enumerate(apps)
        ]
        _, still_running = await asyncio.wait(runs, timeout=budget_s)
        elapsed = time.perf_counter() - started
        if still_running:
            done = await count(url, SUCCEEDED_COUNT_SQL)
            for run in still_running:
                run.cancel()
            await asyncio.gather(*still_running, return_exceptions=True)
            return Drained(done, elapsed, finished=False)
        for run in runs:
            run.result()
    done = await count(url, SUCCEEDED_COUNT_SQL)
    if done != jobs:
        raise RuntimeError(f"expected {jobs} succeeded Procrastinate jobs, found {done}")
    return Drained(done, elapsed, finished=True)


@asynccontextmanager
async def _apps(url: str, n: int, pool_size: int) -> AsyncIterator[list[procrastinate.App]]:
    apps = [_app(url, pool_size) for _ in range(n)]
    for app in apps:
        await app.open_async()
    try:
        yield apps
    finally:
        for app in apps:
            await app.close_async()
