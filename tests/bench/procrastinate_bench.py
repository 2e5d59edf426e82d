"""Procrastinate (from PyPI) on the same server, in its own database and schema: the
reference Python PostgreSQL task queue, run the way its docs say."""

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import procrastinate

from .databases import Databases, count, settle
from .purge_bench import clone
from .service_bench import process_cpu, server_tree_cpu
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


@dataclass(frozen=True)
class ProcrastinatePoint:
    """One Procrastinate configuration: `workers` workers (each its own app and pool, like
    pods), each running `concurrency` jobs at once over `pool_size` connections."""

    workers: int
    concurrency: int
    pool_size: int

    def label(self) -> str:
        return f"{self.workers}x(c={self.concurrency}, pool={self.pool_size})"


SWEEP = (
    ProcrastinatePoint(1, 1, 2),
    ProcrastinatePoint(1, 4, 4),
    ProcrastinatePoint(1, 16, 8),
    ProcrastinatePoint(1, 64, 16),
    ProcrastinatePoint(2, 16, 8),
    ProcrastinatePoint(2, 256, 4),
)
"""Concurrency 1 to 64 in one worker, two workers, and 2 x 256 (what the bench ran before)."""
SWEEP_BUDGET_S = 15.0
"""Seconds each point of the sweep drains: its rate is steady long before the backlog ends."""


@dataclass(frozen=True)
class Swept:
    drains: dict[ProcrastinatePoint, Drained]
    enqueue_s: float

    @property
    def best(self) -> ProcrastinatePoint:
        return max(self.drains, key=lambda p: self.drains[p].per_second)


async def sweep(
    dbs: Databases,
    jobs: int,
    points: Sequence[ProcrastinatePoint],
    enqueue_batch: int,
    budget_s: float | None,
    say: Callable[[str], None],
) -> Swept:
    """Enqueue the backlog once (timed), then drain a copy of it at each point."""
    async with dbs.fresh(migrated=False) as url, dbs.fresh() as admin_url:
        await install_schema(url)
        enqueue_s = await enqueue(url, jobs, enqueue_batch)
        say(f"enqueue, procrastinate: {jobs / enqueue_s:,.0f} jobs/s")
        await settle(url)
        drains: dict[ProcrastinatePoint, Drained] = {}
        postmaster = dbs.postmaster_pid() or 0
        for point in points:
            async with clone(url, admin_url) as copy:
                at = (time.perf_counter(), process_cpu(os.getpid()), server_tree_cpu(postmaster))
                drains[point] = await drain(
                    copy,
                    jobs,
                    workers=point.workers,
                    concurrency=point.concurrency,
                    pool_size=point.pool_size,
                    budget_s=budget_s,
                )
                now = (time.perf_counter(), process_cpu(os.getpid()), server_tree_cpu(postmaster))
            wall, bench, pg = (b - a for a, b in zip(at, now, strict=True))
            say(
                f"drain, procrastinate {point.label()}: {drains[point].per_second:,.0f} jobs/s "
                f"(bench process {bench / wall:.2f}, postgres {pg / wall:.2f} cores)"
            )
    return Swept(drains, enqueue_s)


def sweep_table(swept: Swept) -> str:
    best = swept.best
    lines = [f"{'procrastinate workers x (concurrency, pool)':>44}  {'jobs/s':>8}"]
    for point, drained in swept.drains.items():
        mark = "  <- best" if point == best else ""
        lines.append(f"{point.label():>44}  {drained.per_second:>8,.0f}{mark}")
    return "\n".join(lines)
