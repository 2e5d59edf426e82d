"""The janitor's purge on a large table while updates keep arriving: everything eligible goes,
nothing else is touched, every batch stays bounded, and enqueues never fail or wait on it."""

import asyncio
import functools
import json
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest

from botgateway.janitor import run_once
from botgateway.janitor.maintenance import next_purge_batch
from botgateway.queue import NewJob, QueueSettings, Store
from tests.support.rows import Rows

pytestmark = pytest.mark.integration

ELIGIBLE = 100_000
OTHERS = 2_000
"""Rows of each kind the purge must leave alone."""
BATCH = 5_000
GENEROUS_BATCH_S = 5.0
"""A bound no healthy batch of 5,000 rows comes near (they take tens of milliseconds), so a
busy test machine does not fail the test, but a batch that grows with the table would."""
LOAD_FIRST_ID = 10_000_000

FILL = """
INSERT INTO gateway_jobs (bot_slug, handler_type, update_id, payload, status, attempts,
                          lease_owner, lease_expires_at, updated_at)
SELECT 'support', 'discard', g, jsonb_build_object('update_id', g, 'text', 'hello ' || g),
       k.status, 1, k.owner, k.lease, k.at
FROM generate_series(1, $1::int + $2::int * 4) AS g,
LATERAL (SELECT CASE WHEN g <= $1 THEN 'old-done' ELSE (ARRAY['dead', 'pending', 'running',
                'recent-done'])[(g - $1) % 4 + 1] END AS kind) AS pick,
LATERAL (SELECT CASE WHEN pick.kind LIKE '%done' THEN 'done' ELSE pick.kind END AS status,
                CASE WHEN pick.kind = 'running' THEN 'live-worker' END AS owner,
                CASE WHEN pick.kind = 'running' THEN now() + interval '1 hour' END AS lease,
                CASE WHEN pick.kind = 'recent-done' THEN now() - interval '1 hour'
                     ELSE now() - interval '8 days' - g * interval '1 second' END AS at) AS k
"""
"""`$1` done rows past the 7-day retention, then `$2` rows each of: dead (as old), pending and
running (as old; the running ones leased to a live worker), and done an hour ago, interleaved."""

KINDS = """
SELECT CASE WHEN status = 'done' AND updated_at < now() - interval '7 days' THEN 'eligible'
            ELSE status END AS kind,
       count(*) AS n, sum(update_id) AS ids, max(updated_at) AS last_touched
FROM gateway_jobs WHERE update_id < $1 GROUP BY 1 ORDER BY 1
"""
"""The filled rows by kind, with a checksum of which rows and of their last change."""


@dataclass(frozen=True)
class Batch:
    limit: int
    deleted: int
    seconds: float


class RecordingStore(Store):
    """A store that notes each purge batch: the row limit asked, rows deleted, time taken."""

    batches: list[Batch]

    async def purge_done_batch(self, older_than: timedelta, limit: int) -> int:
        began = time.perf_counter()
        deleted = await super().purge_done_batch(older_than, limit)
        self.batches.append(Batch(limit, deleted, time.perf_counter() - began))
        return deleted


@pytest.fixture
async def recording(database_url: str) -> RecordingStore:
    store = await RecordingStore.connect(database_url, max_size=4)
    assert isinstance(store, RecordingStore)
    store.batches = []
    return store


async def kinds(rows: Rows) -> list[tuple[object, ...]]:
    return [tuple(r) for r in await rows.fetch(KINDS, LOAD_FIRST_ID)]


async def test_purge_under_enqueue_load_takes_only_old_done_rows_in_bounded_batches(
    database_url: str, recording: RecordingStore, rows: Rows
) -> None:
    await rows.execute(FILL, ELIGIBLE, OTHERS)
    await rows.execute("VACUUM ANALYZE gateway_jobs")
    before = await kinds(rows)
    assert [k[:2] for k in before] == [
        ("dead", OTHERS),
        ("done", OTHERS),
        ("eligible", ELIGIBLE),
        ("pending", OTHERS),
        ("running", OTHERS),
    ]
    settings = QueueSettings(database_url=database_url)
    producer = await Store.connect(database_url, max_size=4)
    stored: set[tuple[str, int]] = set()
    during_purge = 0
    try:
        purge = asyncio.create_task(run_once(recording, settings, purge_batch=BATCH))

        async def enqueue_until_purged(producer_no: int) -> None:
            nonlocal during_purge
            next_id = LOAD_FIRST_ID + producer_no * 1_000_000
            while not purge.done():
                batch = [
                    NewJob("support", "discard", i, json.dumps({"update_id": i}))
                    for i in range(next_id, next_id + 20)
                ]
                next_id += len(batch)
                stored.update(await producer.enqueue_many(batch))
                if recording.batches and not purge.done():
                    during_purge += len(batch)

        await asyncio.gather(*(enqueue_until_purged(n) for n in range(3)))
        result = await purge
    finally:
        await recording.close()
        await producer.close()

    assert result.ran
    assert result.purged == ELIGIBLE
    assert await kinds(rows) == [k for k in before if k[0] != "eligible"], (
        "every done row past retention is gone; dead, pending, running and recent done rows "
        "are all there, untouched"
    )

    deleting = [b for b in recording.batches if b.deleted]
    assert all(b.deleted <= b.limit <= BATCH for b in recording.batches)
    assert len(deleting) >= ELIGIBLE // BATCH
    assert result.purge_batches == len(deleting)
    longest = max(b.seconds for b in recording.batches)
    assert longest < GENEROUS_BATCH_S
    assert result.purge_longest_batch_s >= longest * 0.9

    assert during_purge > 0, "the enqueues overlapped the purge"
    load = await rows.value(
        "SELECT count(*) FROM gateway_jobs WHERE update_id >= $1 AND status = 'pending'",
        LOAD_FIRST_ID,
    )
    assert load == len(stored) > 0, "every enqueue during the purge was stored"


async def test_a_batch_that_overruns_its_time_target_makes_the_next_one_smaller(
    recording: RecordingStore, rows: Rows, database_url: str
) -> None:
    await rows.execute(FILL, 3_000, 10)
    settings = QueueSettings(database_url=database_url)
    try:
        result = await run_once(recording, settings, purge_batch=1_000, purge_batch_target_s=1e-6)
    finally:
        await recording.close()
    limits = [b.limit for b in recording.batches]
    assert limits[0] == 1_000
    assert limits[1:] == [100] * 21, "shrunk to the floor, then batches of 100 to the end"
    assert result.purged == 3_000
    assert (
        await rows.value(
            "SELECT count(*) FROM gateway_jobs WHERE status = 'done' "
            "AND updated_at < now() - interval '7 days'"
        )
        == 0
    )


def test_next_batch_shrinks_in_proportion_and_grows_back_to_the_ceiling() -> None:
    step = functools.partial(next_purge_batch, ceiling=5_000, target_s=0.25)
    assert step(5_000, 1.0) == 1_250
    assert step(5_000, 100.0) == 100
    assert step(1_250, 0.05) == 2_500
    assert step(4_000, 0.05) == 5_000
    assert step(2_000, 0.2) == 2_000
    assert next_purge_batch(50, 1.0, ceiling=50, target_s=0.25) == 50
