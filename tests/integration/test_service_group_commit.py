"""The webhook's group commit on a real PostgreSQL: concurrent updates share inserts, each caller
learns whether its update was new, and an accepted update is stored even if its caller goes away."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest

from botgateway.queue import Inserter, NewJob, Store
from botgateway.service.errors import ServiceStopping
from botgateway.service.ingest import GroupCommitter
from tests.support.rows import Rows
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def job(update_id: int) -> NewJob:
    return NewJob("support", "discard", update_id, json.dumps({"update_id": update_id}))


async def test_concurrent_submits_share_inserts_and_learn_if_new(store: Store, rows: Rows) -> None:
    batches: list[int] = []
    committer = GroupCommitter(store, on_batch=batches.append)
    # 50 redeliveries among 250 requests, some right behind the first copy, some far from it
    ids = [*range(1, 101), *range(1, 51), *range(101, 201)]
    results = await asyncio.gather(*(committer.submit(job(i)) for i in ids))
    assert results.count(True) == 200
    assert await rows.count() == 200
    assert sum(batches) < len(ids), "a redelivery in its first copy's insert is sent once"
    assert len(batches) < 20, f"250 concurrent requests took {len(batches)} inserts"


async def test_an_update_queued_as_a_flush_ends_is_still_stored(
    store: Store, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request queued after the flush looked at its queue for the last time, before the flush
    task is gone, must start the next flush instead of waiting for a later request."""
    committer = GroupCommitter(store)
    late: list[asyncio.Task[bool]] = []
    queued = asyncio.Event()
    real_inserter = store.inserter

    @asynccontextmanager
    async def inserter() -> AsyncIterator[Inserter]:
        async with real_inserter() as real:
            yield real
        if not late:  # its first step runs after the flush's next, and last, look at the queue
            late.append(asyncio.create_task(committer.submit(job(2))))
            queued.set()

    monkeypatch.setattr(store, "inserter", inserter)
    assert await committer.submit(job(1))
    await asyncio.wait_for(queued.wait(), timeout=10)
    assert await asyncio.wait_for(late[0], timeout=10), "the late request was not stored"
    assert await rows.count() == 2


@asynccontextmanager
async def table_locked(
    database_url: str, rows: Rows
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Hold a lock that makes every insert wait; yields a wait for an insert to be blocked."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE gateway_jobs IN EXCLUSIVE MODE")

            async def insert_blocked() -> None:
                await eventually(
                    lambda: rows.value(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO gateway_jobs%'"
                    ),
                    what="an insert waiting on the lock",
                )

            yield insert_blocked
    finally:
        await conn.close()


async def test_an_accepted_update_is_stored_even_when_its_caller_is_cancelled(
    store: Store, rows: Rows, database_url: str
) -> None:
    committer = GroupCommitter(store)
    async with table_locked(database_url, rows) as insert_blocked:
        callers = [asyncio.create_task(committer.submit(job(i))) for i in range(1, 11)]
        await insert_blocked()
        for caller in callers[::2]:
            caller.cancel()
        cancelled = await asyncio.gather(*callers[::2], return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in cancelled)
    assert await asyncio.gather(*callers[1::2]) == [True] * 5
    await committer.close()
    assert await rows.count() == 10


async def test_close_waits_for_accepted_updates_then_refuses(
    store: Store, rows: Rows, database_url: str
) -> None:
    committer = GroupCommitter(store)
    async with table_locked(database_url, rows) as insert_blocked:
        accepted = [asyncio.create_task(committer.submit(job(i))) for i in range(1, 101)]
        await insert_blocked()
        closing = asyncio.create_task(committer.close())

        async def intake_closed() -> bool:
            return committer.closed

        await eventually(intake_closed, what="close to begin")
        with pytest.raises(ServiceStopping):
            await committer.submit(job(101))
        await asyncio.wait({closing}, timeout=0.2)
        assert not closing.done(), "close returned while accepted updates were not stored"
    await closing
    assert [t.result() for t in accepted] == [True] * 100
    assert await rows.count() == 100
