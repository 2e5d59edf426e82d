"""The heartbeat's "leases lost" warning: only for jobs the worker still holds, not for jobs that
settled while the heartbeat was on its way (the reliability run found that false alarm)."""

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from botgateway.queue import Job, Outcome, Store, Succeeded, Worker, WorkerConfig

pytestmark = pytest.mark.unit

JOB = Job(7, "support", "discard", 1, "{}", 1, None, datetime(2026, 1, 1, tzinfo=UTC))


class RacingStore:
    """A heartbeat that the database answers only after `settle` ran: the job is no longer
    running there, so it is not among the ids returned."""

    def __init__(self, settle: Any) -> None:
        self.settle = settle
        self.beats = asyncio.Event()

    async def heartbeat(self, owner: str, ids: Sequence[int], lease: timedelta) -> set[int]:
        self.settle()
        self.beats.set()
        return set()


async def beat_once(worker: Worker, store: RacingStore) -> None:
    task = asyncio.create_task(worker._heartbeat_loop())
    await asyncio.wait_for(store.beats.wait(), 5)
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def worker_with(store: RacingStore) -> Worker:
    async def handle(job: Job) -> Outcome:
        return Succeeded()

    config = WorkerConfig(heartbeat_interval=timedelta(milliseconds=1))
    worker = Worker(cast(Store, store), handle, config)
    never = asyncio.get_running_loop().create_future()
    worker._running[JOB.id] = (JOB, cast(asyncio.Task[None], never))
    return worker


async def test_a_job_that_settled_meanwhile_is_not_reported_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker: Worker

    def settle() -> None:
        worker._running.pop(JOB.id)

    store = RacingStore(settle)
    worker = worker_with(store)
    with caplog.at_level(logging.WARNING):
        await beat_once(worker, store)
    assert "leases lost" not in caplog.text


async def test_a_job_still_held_but_not_renewed_is_reported_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RacingStore(lambda: None)
    worker = worker_with(store)
    with caplog.at_level(logging.WARNING):
        await beat_once(worker, store)
    assert "leases lost" in caplog.text
