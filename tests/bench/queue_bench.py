"""botgateway's queue (Store + Worker) and the seed's own Go SQL, driven from Python."""

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from botgateway.queue import Job, Outcome, Store, Succeeded, Worker, WorkerConfig
from botgateway.queue.queries import parse_named_queries

from .databases import count
from .workload import Drained, chunks, new_jobs

FILL_CHUNK = 5_000
POLL_S = 0.005
STOP_GRACE_S = 15.0

SEED_SQL = parse_named_queries((Path(__file__).parent / "seed_queue.sql").read_text("utf-8"))
"""The seed's popSQL and markDoneSQL, verbatim: the baseline's definition."""
SEED_POP_SQL = SEED_SQL["pop"]
SEED_MARK_DONE_SQL = SEED_SQL["mark_done"]
DONE_COUNT_SQL = "SELECT count(*) FROM gateway_jobs WHERE status = 'done'"


@dataclass(frozen=True)
class DrainSetup:
    """How our side drains: `workers` Worker instances in one process (like pods), each
    with its own pool, `concurrency` jobs in flight and claims of up to `batch_size`."""

    workers: int
    concurrency: int
    batch_size: int
    pool_size: int = 4

    @property
    def in_flight(self) -> int:
        return self.workers * self.concurrency

    def label(self) -> str:
        return f"{self.workers}x(c={self.concurrency}, b={self.batch_size})"


async def _noop(_job: Job) -> Outcome:
    return Succeeded()


async def enqueue(url: str, jobs: int, batch_size: int) -> float:
    """Seconds to store `jobs` through `Store.enqueue_many`, one batch after another."""
    store = await Store.connect(url, min_size=1, max_size=1)
    try:
        batches = [new_jobs(start, n) for start, n in chunks(jobs, batch_size)]
        started = time.perf_counter()
        for batch in batches:
            await store.enqueue_many(batch)
        return time.perf_counter() - started
    finally:
        await store.close()


async def fill(url: str, jobs: int) -> None:
    """Pre-enqueue the drain's jobs (not timed)."""
    store = await Store.connect(url, min_size=1, max_size=1)
    try:
        for start, n in chunks(jobs, FILL_CHUNK):
            await store.enqueue_many(new_jobs(start, n))
    finally:
        await store.close()


async def drain(url: str, jobs: int, setup: DrainSetup, budget_s: float | None) -> Drained:
    """From starting the workers until every job is committed as done (the workers count a
    job once its completion has committed), or until the budget is spent."""
    stores = [
        await Store.connect(url, min_size=setup.pool_size, max_size=setup.pool_size)
        for _ in range(setup.workers)
    ]
    config = WorkerConfig(concurrency=setup.concurrency, batch_size=setup.batch_size)
    workers = [Worker(store, _noop, config, owner=f"bench-{i}") for i, store in enumerate(stores)]

    def processed() -> int:
        return sum(w.processed for w in workers)

    stop = asyncio.Event()
    try:
        started = time.perf_counter()
        deadline = started + (budget_s or math.inf)
        runs = [
            asyncio.create_task(w.run(stop), name=f"bench-worker-{i}")
            for i, w in enumerate(workers)
        ]
        await _until(lambda: processed() >= jobs or time.perf_counter() >= deadline, runs)
        elapsed = time.perf_counter() - started
        done = processed()
        await _stop(stop, runs)
    finally:
        stop.set()
        for store in stores:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(store.close(), STOP_GRACE_S)
    if done >= jobs:
        await _check_done(url, jobs)
    return Drained(done, elapsed, finished=done >= jobs)


async def drain_seed(
    url: str, jobs: int, loops: int, pool_size: int, budget_s: float | None
) -> Drained:
    """`loops` concurrent loops of the seed's popSQL + markDoneSQL over the backlog. Each loop
    stops when popSQL finds nothing or the budget is spent; the clock stops at the last
    markDoneSQL, so a budgeted run measures the same rate on the same backlog."""
    pool = await asyncpg.create_pool(url, min_size=pool_size, max_size=pool_size)
    done = 0
    last = 0.0

    async def loop(deadline: float) -> None:
        nonlocal done, last
        while time.perf_counter() < deadline:
            row = await pool.fetchrow(SEED_POP_SQL)
            if row is None:
                return
            await pool.execute(SEED_MARK_DONE_SQL, row["id"])
            done += 1
            last = time.perf_counter()

    try:
        started = time.perf_counter()
        deadline = started + (budget_s or math.inf)
        await asyncio.gather(*(loop(deadline) for _ in range(loops)))
    finally:
        await pool.close()
    await _check_done(url, done)
    return Drained(done, last - started, finished=done == jobs)


async def _stop(stop: asyncio.Event, runs: list["asyncio.Task[None]"]) -> None:
    """Stop the workers; one still flushing a backlog after the grace period is cancelled
    (the measurement is already taken, and the database is dropped next)."""
    stop.set()
    _, late = await asyncio.wait(runs, timeout=STOP_GRACE_S)
    for run in late:
        run.cancel()
    results = await asyncio.gather(*runs, return_exceptions=True)
    errors = [r for r in results if isinstance(r, Exception)]
    if errors:
        raise errors[0]


async def _until(done: Callable[[], bool], watched: list["asyncio.Task[None]"]) -> None:
    """Wait for `done()`; fail fast if a watched task ends first."""
    while not done():
        for task in watched:
            if task.done():
                task.result()
                raise RuntimeError(f"{task.get_name()} stopped before the drain finished")
        await asyncio.sleep(POLL_S)


async def _check_done(url: str, jobs: int) -> None:
    done = await count(url, DONE_COUNT_SQL)
    if done != jobs:
        raise RuntimeError(f"expected {jobs} done jobs, found {done}")
