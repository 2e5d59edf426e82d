"""How much a worker claims: quick handlers in full batches, slow ones no more than their slots,
and never more handlers at once than `concurrency`."""

import asyncio
import json
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta

import pytest

from botgateway.queue import Job, NewJob, Outcome, Store, Succeeded, Worker, WorkerConfig
from tests.support.rows import Rows
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def jobs(n: int) -> list[NewJob]:
    return [NewJob("support", "discard", i, json.dumps({"update_id": i})) for i in range(n)]


class CountedHandler:
    """Counts handlers running at once; each takes `seconds` (a backend's answer time)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.now = 0
        self.most = 0

    async def __call__(self, _: Job) -> Outcome:
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(self.seconds)
        self.now -= 1
        return Succeeded()


def record_claims(store: Store, limits: list[int]) -> None:
    """Note the limit of every batch claim the worker makes."""
    claim: Callable[..., Awaitable[list[Job]]] = store.claim

    async def counted(
        owner: str, limit: int, lease: timedelta, *, bots: Collection[str] | None = None
    ) -> list[Job]:
        limits.append(limit)
        return await claim(owner, limit, lease, bots=bots)

    store.claim = counted  # type: ignore[method-assign]


async def drain(store: Store, rows: Rows, handler: CountedHandler, config: WorkerConfig) -> None:
    worker = Worker(store, handler, config)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        total = await rows.count()
        await eventually(lambda: rows.count("done"), lambda n: n == total, timeout=60)
    finally:
        stop.set()
        await task


async def test_quick_handlers_are_claimed_in_full_batches_but_run_within_concurrency(
    store: Store, rows: Rows
) -> None:
    await store.enqueue_many(jobs(400))
    limits: list[int] = []
    record_claims(store, limits)
    handler = CountedHandler(0)

    await drain(store, rows, handler, WorkerConfig(concurrency=4, batch_size=50))

    # One claim per 4 jobs would be 100 round trips; claimed ahead, batches fill up.
    assert len(limits) < 40
    assert max(limits) == 50
    assert handler.most <= 4


async def test_slow_handlers_claim_no_more_than_their_free_slots(store: Store, rows: Rows) -> None:
    await store.enqueue_many(jobs(12))
    limits: list[int] = []
    record_claims(store, limits)
    handler = CountedHandler(0.05)

    await drain(store, rows, handler, WorkerConfig(concurrency=2, batch_size=50))

    # Nothing waits in this worker that another could run at once.
    assert max(limits) <= 2
    assert handler.most == 2


async def test_jobs_claimed_ahead_that_never_started_go_back_untouched_at_shutdown(
    store: Store, rows: Rows
) -> None:
    await store.enqueue_many(jobs(30))
    blocking = asyncio.Event()

    async def handle(job: Job) -> Outcome:
        if job.update_id == 10:  # holds the one handler slot until the shutdown cuts it off
            blocking.set()
            await asyncio.Event().wait()
        return Succeeded()

    config = WorkerConfig(concurrency=1, batch_size=20, shutdown_grace=timedelta(seconds=0.2))
    worker = Worker(store, handle, config)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await blocking.wait()
    await eventually(lambda: rows.count("running"), lambda n: n > 1, timeout=10)
    stop.set()
    await task

    back = await rows.fetch(
        "SELECT update_id, attempts, isolated FROM gateway_jobs WHERE status = 'pending'"
        " ORDER BY update_id"
    )
    assert back[0]["update_id"] == 10
    assert back[0]["isolated"]  # cut off while running: it runs alone next time
    waited = back[1:]
    assert waited, "some jobs were claimed ahead of the slot"
    assert all(r["attempts"] == 0 and not r["isolated"] for r in waited)
    assert await rows.count("running") == 0
