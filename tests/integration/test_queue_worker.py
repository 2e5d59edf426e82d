"""The queue's worker loop against a real PostgreSQL."""

import asyncio
import collections
import json
import logging
import time
from collections.abc import Sequence
from datetime import timedelta

import pytest

from botgateway.queue import (
    Deferred,
    Failed,
    Job,
    NewJob,
    Outcome,
    Store,
    Succeeded,
    Worker,
    WorkerConfig,
)
from tests.support.rows import Rows
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def jobs(n: int, slug: str = "support") -> list[NewJob]:
    return [NewJob(slug, "discard", i, json.dumps({"update_id": i})) for i in range(1, n + 1)]


async def test_eight_workers_complete_5000_jobs_each_exactly_once(
    database_url: str, store: Store, rows: Rows
) -> None:
    await store.enqueue_many(jobs(5000))
    handled: collections.Counter[int] = collections.Counter()

    async def handle(job: Job) -> Outcome:
        handled[job.id] += 1
        await asyncio.sleep(0)
        return Succeeded()

    stores = [await Store.connect(database_url, max_size=4) for _ in range(8)]
    workers = [
        Worker(s, handle, WorkerConfig(concurrency=16, batch_size=50), owner=f"w{i}")
        for i, s in enumerate(stores)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        await eventually(lambda: rows.count("done"), lambda n: n == 5000, timeout=120)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for s in stores:
            await s.close()
    assert len(handled) == 5000
    assert set(handled.values()) == {1}
    assert await rows.value("SELECT max(attempts) FROM gateway_jobs") == 1
    assert sum(w.processed for w in workers) == 5000
    assert sum(1 for w in workers if w.processed) > 1


async def test_live_heartbeating_job_outlives_three_stuck_timeouts(
    store: Store, rows: Rows
) -> None:
    from botgateway.janitor import run_once
    from botgateway.queue import QueueSettings

    stuck = timedelta(seconds=1)
    settings = QueueSettings(database_url=store.dsn, stuck_timeout=stuck)
    await store.enqueue_many(jobs(1))
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(job: Job) -> Outcome:
        started.set()
        await release.wait()
        return Succeeded()

    worker = Worker(store, slow, WorkerConfig.from_settings(settings), owner="live")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await started.wait()
    began = time.monotonic()
    recovered = 0
    while time.monotonic() - began < 3 * stuck.total_seconds():
        result = await run_once(store, settings)
        recovered += result.recovered + result.dead_lettered
        await asyncio.sleep(0.1)
    assert recovered == 0
    row = (await rows.fetch("SELECT status, lease_owner, attempts FROM gateway_jobs"))[0]
    assert tuple(row) == ("running", "live", 1)
    release.set()
    await eventually(lambda: rows.count("done"), lambda n: n == 1)
    stop.set()
    await task


async def test_notify_wakes_an_idle_worker_long_before_its_poll(store: Store, rows: Rows) -> None:
    picked = asyncio.Event()

    async def handle(job: Job) -> Outcome:
        picked.set()
        return Succeeded()

    worker = Worker(store, handle, WorkerConfig(poll_interval=timedelta(seconds=30)))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(worker.listening.wait(), timeout=5)
    await asyncio.wait_for(worker.idle.wait(), timeout=5)
    sent = time.monotonic()
    await store.enqueue_many(jobs(1))
    await asyncio.wait_for(picked.wait(), timeout=5)
    assert time.monotonic() - sent < 2
    stop.set()
    await task


async def test_failed_job_is_retried_then_dead_after_max_attempts(store: Store, rows: Rows) -> None:
    await store.enqueue_many(jobs(1))
    seen: list[int] = []

    async def always_fails(job: Job) -> Outcome:
        seen.append(job.attempts)
        return Failed(f"backend 500 on attempt {job.attempts}")

    config = WorkerConfig(
        max_attempts=3,
        backoff=(timedelta(milliseconds=50),),
        poll_interval=timedelta(milliseconds=20),
    )
    worker = Worker(store, always_fails, config)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await eventually(lambda: rows.count("dead"), lambda n: n == 1)
    stop.set()
    await task
    assert seen == [1, 2, 3]
    assert await rows.value("SELECT last_error FROM gateway_jobs") == "backend 500 on attempt 3"


async def test_handler_exception_fails_the_job_not_the_worker(store: Store, rows: Rows) -> None:
    await store.enqueue_many(jobs(2))

    async def flaky(job: Job) -> Outcome:
        if job.update_id == 1:
            raise RuntimeError("handler bug")
        return Succeeded()

    worker = Worker(store, flaky, WorkerConfig(backoff=(timedelta(hours=1),)))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await eventually(lambda: rows.count("done"), lambda n: n == 1)
    await eventually(lambda: rows.count("pending"), lambda n: n == 1)
    stop.set()
    await task
    assert await rows.value("SELECT last_error FROM gateway_jobs WHERE update_id = 1") == (
        "RuntimeError: handler bug"
    )


async def test_permanent_failure_is_dead_at_once(store: Store, rows: Rows) -> None:
    await store.enqueue_many(jobs(1))

    async def not_found(job: Job) -> Outcome:
        return Failed("backend 404", permanent=True)

    worker = Worker(store, not_found)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await eventually(lambda: rows.count("dead"), lambda n: n == 1)
    stop.set()
    await task
    assert await rows.value("SELECT attempts FROM gateway_jobs") == 1


async def test_stop_hands_back_jobs_that_outlive_the_grace_with_their_attempt(
    store: Store, rows: Rows, caplog: pytest.LogCaptureFixture
) -> None:
    """A rolling deploy cuts off a healthy job: it is due again at once, its attempt given
    back, and the log says so (issue 12: before, nothing was logged and the attempt counted)."""
    caplog.set_level(logging.WARNING, logger="botgateway.queue")
    await store.enqueue_many(jobs(3))
    started = asyncio.Event()
    never = asyncio.Event()

    async def slow(job: Job) -> Outcome:
        if job.update_id == 1:
            return Succeeded()
        started.set()
        await never.wait()
        return Succeeded()

    worker = Worker(store, slow, WorkerConfig(shutdown_grace=timedelta(milliseconds=200)))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await started.wait()
    await eventually(lambda: rows.count("done"), lambda n: n == 1)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    left = await rows.fetch(
        "SELECT id, status, lease_owner, attempts, next_retry_at <= now() AS due"
        " FROM gateway_jobs WHERE update_id > 1 ORDER BY id"
    )
    assert [tuple(r)[1:] for r in left] == [("pending", None, 0, True)] * 2
    assert await rows.count("running") == 0
    said = [r for r in caplog.records if r.getMessage().startswith("job interrupted by")]
    assert sorted(r.job_id for r in said) == [r["id"] for r in left]  # type: ignore[attr-defined]
    assert all(r.ran_s >= 0.2 and not r.attempt_charged for r in said)  # type: ignore[attr-defined]


async def _cut_off_while_running_alone(store: Store, rows: Rows, max_attempts: int) -> int:
    """One job, isolated (as if cut off before), blocks past the grace of a worker that
    claimed it alone; returns its id once that worker stopped."""
    await store.enqueue_many(jobs(1))
    await rows.execute("UPDATE gateway_jobs SET isolated = true")
    started = asyncio.Event()

    async def hangs(job: Job) -> Outcome:
        started.set()
        await asyncio.Event().wait()
        return Succeeded()

    config = WorkerConfig(
        shutdown_grace=timedelta(milliseconds=100),
        poll_interval=timedelta(milliseconds=50),
        max_attempts=max_attempts,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(store, hangs, config).run(stop))
    await asyncio.wait_for(started.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    return int(await rows.value("SELECT id FROM gateway_jobs"))


async def test_a_job_cut_off_again_while_running_alone_spends_its_attempt(
    store: Store, rows: Rows
) -> None:
    job_id = await _cut_off_while_running_alone(store, rows, max_attempts=5)
    row = await rows.job(job_id)
    assert (row["status"], row["attempts"], row["isolated"]) == ("pending", 1, True)


async def test_a_job_that_keeps_stopping_its_worker_ends_dead(store: Store, rows: Rows) -> None:
    job_id = await _cut_off_while_running_alone(store, rows, max_attempts=1)
    row = await rows.job(job_id)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert "interrupted by a shutdown while running alone" in row["last_error"]


async def test_deferred_job_waits_without_spending_an_attempt(store: Store, rows: Rows) -> None:
    await store.enqueue_many(jobs(1))
    seen: list[int] = []

    async def rate_limited_twice(job: Job) -> Outcome:
        seen.append(job.attempts)
        if len(seen) <= 2:
            return Deferred(timedelta(milliseconds=50), "held back by a rate limit")
        return Succeeded()

    worker = Worker(store, rate_limited_twice, WorkerConfig(max_attempts=1))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await eventually(lambda: rows.count("done"), lambda n: n == 1)
    stop.set()
    await task
    assert seen == [1, 1, 1]


async def test_worker_listens_again_after_its_connection_is_killed(
    store: Store, rows: Rows
) -> None:
    picked = asyncio.Event()

    async def handle(job: Job) -> Outcome:
        picked.set()
        return Succeeded()

    worker = Worker(store, handle, WorkerConfig(poll_interval=timedelta(seconds=30)))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(worker.listening.wait(), timeout=5)
    listener = "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
    first = await rows.value(listener)
    await rows.execute(f"SELECT pg_terminate_backend(pid) FROM ({listener}) AS l")
    await eventually(lambda: rows.value(listener), lambda pid: pid not in (None, first))
    await asyncio.wait_for(worker.listening.wait(), timeout=5)
    await asyncio.wait_for(worker.idle.wait(), timeout=5)
    await store.enqueue_many(jobs(1))
    await asyncio.wait_for(picked.wait(), timeout=5)
    stop.set()
    await task


class StallingStore(Store):
    """The first completion statement hangs until cancelled, as one cut off by shutdown."""

    stalled: asyncio.Event

    async def complete_many(self, owner: str, held: Sequence[tuple[int, int]]) -> set[int]:
        if not self.stalled.is_set():
            self.stalled.set()
            await asyncio.Event().wait()
        return await super().complete_many(owner, held)


async def test_stop_during_a_completion_still_completes_the_batch(
    database_url: str, rows: Rows
) -> None:
    stalling = await StallingStore.connect(database_url)
    assert isinstance(stalling, StallingStore)
    stalling.stalled = asyncio.Event()
    await stalling.enqueue_many(jobs(3))

    async def ok(job: Job) -> Outcome:
        return Succeeded()

    worker = Worker(stalling, ok)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(stalling.stalled.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    await stalling.close()
    assert await rows.count("done") == 3
    assert await rows.count("running") == 0
