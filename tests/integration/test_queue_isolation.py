"""Jobs taken back from a lost worker run alone: never batched with others, never beside
another job in one worker, and not starved by a steady stream of other jobs."""

import asyncio
import json
from datetime import timedelta

import pytest

from botgateway.janitor import rescue_stuck
from botgateway.queue import Job, NewJob, Outcome, Store, Succeeded, Worker
from botgateway.queue.worker import WorkerConfig
from tests.support.rows import Rows
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SHORT_LEASE = timedelta(milliseconds=300)


async def enqueue(store: Store, *update_ids: int) -> None:
    await store.enqueue_many(
        [NewJob("support", "discard", i, json.dumps({"update_id": i})) for i in update_ids]
    )


async def orphan(store: Store, rows: Rows, count: int) -> list[Job]:
    """Claim `count` jobs for a worker that then vanishes, and let the janitor take them back."""
    jobs = await store.claim("vanished-pod", count, SHORT_LEASE)
    await eventually(
        lambda: rows.value(
            "SELECT bool_and(lease_expires_at < now()) FROM gateway_jobs WHERE status = 'running'"
        ),
        what="the leases to expire",
    )
    requeued, dead = await rescue_stuck(store, stuck_timeout=SHORT_LEASE, max_attempts=5, limit=100)
    assert (requeued, dead) == (count, 0)
    return jobs


async def test_recovered_jobs_are_handed_out_one_at_a_time(store: Store, rows: Rows) -> None:
    await enqueue(store, 1, 2, 3)
    recovered = await orphan(store, rows, 2)
    assert await rows.value("SELECT count(*) FROM gateway_jobs WHERE isolated") == 2
    assert await store.isolated_due()

    [fresh] = await store.claim("pod", 10, SHORT_LEASE)
    assert fresh.update_id == 3
    first = await store.claim_isolated("pod-a", SHORT_LEASE)
    second = await store.claim_isolated("pod-b", SHORT_LEASE)
    assert first is not None
    assert second is not None
    assert {first.id, second.id} == {j.id for j in recovered}
    assert (first.attempts, second.attempts) == (2, 2)
    assert await store.claim_isolated("pod-c", SHORT_LEASE) is None
    assert not await store.isolated_due()


async def test_a_job_that_failed_normally_no_longer_runs_alone(store: Store, rows: Rows) -> None:
    await enqueue(store, 1, 2)
    await orphan(store, rows, 2)
    failing = await store.claim_isolated("pod", SHORT_LEASE)
    deferring = await store.claim_isolated("pod", SHORT_LEASE)
    assert failing is not None
    assert deferring is not None
    assert await store.retry("pod", failing, timedelta(0), "backend answered HTTP 502")
    assert await store.defer("pod", deferring, timedelta(0))
    assert await rows.value("SELECT count(*) FROM gateway_jobs WHERE isolated") == 0
    assert len(await store.claim("pod", 10, SHORT_LEASE)) == 2


async def test_isolated_job_runs_alone_and_is_not_starved_by_a_backlog(
    store: Store, rows: Rows
) -> None:
    await enqueue(store, 1)
    [suspect] = await orphan(store, rows, 1)
    await enqueue(store, *range(2, 2002))  # a backlog that keeps the worker full for seconds
    beside: list[int] = []
    worker: Worker

    async def handle(job: Job) -> Outcome:
        if job.id == suspect.id:
            beside.append(worker.in_flight - 1)
            return Succeeded()
        await asyncio.sleep(0.02)
        return Succeeded()

    worker = Worker(
        store,
        handle,
        WorkerConfig(concurrency=8, batch_size=8, poll_interval=timedelta(milliseconds=100)),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await eventually(lambda: rows.status_of(suspect.id), lambda s: s == "done", timeout=10)
        pending = await rows.count("pending")
    finally:
        stop.set()
        await task
    assert beside == [0], "the isolated job ran beside other jobs"
    assert pending > 500, "the isolated job waited for the backlog"
