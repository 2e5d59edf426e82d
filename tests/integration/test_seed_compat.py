"""The seed gateway's own Go queue and ours share one `gateway_jobs` table (DESIGN.md §2).

The seed's `queue.go` is extracted from the seed document and compiled at test time (see
tests/support/seed.py); every test gets a fresh, empty database migrated by the real
`botgateway migrate` command, then drives the Go side and our Store / Worker / janitor against it.
"""

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from botgateway.janitor import run_once
from botgateway.queue import (
    Job,
    JobHandler,
    NewJob,
    QueueSettings,
    Store,
    Succeeded,
    Worker,
    WorkerConfig,
)
from tests.support.postgres import TestPostgres
from tests.support.rows import Rows
from tests.support.seed import HarnessBuildError, SeedQueue, build_harness, seed_file
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
BOT = "seedbot"
SEED_BACKOFF_1 = timedelta(seconds=30)  # the seed's Backoff(1)


@pytest.fixture(scope="session")
def seed_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed's queue.go plus our harness, built once per session."""
    if shutil.which("go") is None:
        pytest.skip("seed compatibility: `go` is not on PATH")
    seed = seed_file(REPO_ROOT)
    if not seed.is_file():
        pytest.skip(f"seed compatibility: no seed document at {seed}")
    try:
        return build_harness(seed, tmp_path_factory.mktemp("seed_harness"))
    except HarnessBuildError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
async def database_url(seed_binary: Path, postgres: TestPostgres) -> AsyncIterator[str]:
    """Overrides conftest's: an empty database migrated by the `botgateway migrate` CLI."""
    url = await postgres.create_database(migrated=False)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "botgateway.cli",
            "migrate",
            env={**os.environ, "DATABASE_URL": url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output = (await asyncio.wait_for(process.communicate(), timeout=60))[0].decode()
        assert process.returncode == 0, f"botgateway migrate failed:\n{output}"
        assert "applied 0001_" in output, output
        yield url
    finally:
        await postgres.drop_database(url)


@pytest.fixture
def go(seed_binary: Path, database_url: str) -> SeedQueue:
    return SeedQueue(seed_binary, database_url)


def payload(update_id: int) -> dict[str, object]:
    """A Telegram-like update with text that JSON and jsonb must carry unchanged."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": 7,
            "chat": {"id": -100123, "type": "supergroup"},
            "text": 'héllo ✓ "quoted" \\ back\nslash',
            "entities": [{"type": "bold", "offset": 0, "length": 5}],
        },
    }


async def job_row(rows: Rows, update_id: int) -> dict[str, Any]:
    found = await rows.fetch(
        "SELECT * FROM gateway_jobs WHERE bot_slug = $1 AND update_id = $2", BOT, update_id
    )
    assert len(found) == 1, found
    return dict(found[0])


async def run_worker_until(
    worker: Worker, condition: Callable[[], Awaitable[bool]], *, what: str
) -> None:
    """Run `worker` until `condition()` holds, then stop it and let it drain."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await eventually(condition, what=what)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def fast_worker(store: Store, handler: JobHandler, **config: Any) -> Worker:
    """A worker that polls often, so tests never wait on its one-second default."""
    return Worker(store, handler, WorkerConfig(poll_interval=timedelta(milliseconds=50), **config))


async def test_seed_enqueued_jobs_are_processed_by_our_worker(
    go: SeedQueue, store: Store, rows: Rows
) -> None:
    for update_id in (1, 2, 3):
        await go.enqueue(BOT, update_id, json.dumps(payload(update_id)), "forward")

    seen: dict[int, tuple[object, int, str]] = {}

    async def handler(job: Job) -> Succeeded:
        seen[job.update_id] = (json.loads(job.payload), job.attempts, job.handler_type)
        return Succeeded()

    async def all_done() -> bool:
        return await rows.count("done") == 3

    await run_worker_until(fast_worker(store, handler), all_done, what="3 done jobs")

    assert seen == {uid: (payload(uid), 1, "forward") for uid in (1, 2, 3)}
    for update_id in (1, 2, 3):
        row = await job_row(rows, update_id)
        assert (row["status"], row["attempts"], row["last_error"]) == ("done", 1, None)
        assert row["lease_owner"] is None


async def test_seed_pops_and_completes_jobs_we_enqueued(
    go: SeedQueue, store: Store, rows: Rows
) -> None:
    stored = await store.enqueue_many(
        [
            NewJob(BOT, "forward", 10, json.dumps(payload(10))),
            NewJob(BOT, "telegram-echo", 11, json.dumps(payload(11)), chat_key="-100123"),
        ]
    )
    assert stored == {(BOT, 10), (BOT, 11)}

    popped = [await go.pop(), await go.pop()]
    assert await go.pop() is None
    by_update = {job.update_id: job for job in popped if job is not None}
    assert set(by_update) == {10, 11}
    for update_id, handler_type in ((10, "forward"), (11, "telegram-echo")):
        job = by_update[update_id]
        assert (job.bot_slug, job.handler_type, job.status) == (BOT, handler_type, "running")
        assert (job.attempts, job.last_error) == (1, "")
        assert job.payload == payload(update_id)
    assert await store.claim("ours", 10, timedelta(seconds=30)) == []  # the Go side holds both

    for job in by_update.values():
        await go.mark_done(job.id)

    stats = await store.stats()
    assert (stats.count("done", BOT), stats.count("running", BOT)) == (2, 0)
    assert await rows.count("done") == 2


async def test_seed_drain_works_our_backlog_from_goroutines(
    go: SeedQueue, store: Store, rows: Rows
) -> None:
    """The bench's `seedq drain`: the seed's own Pop + MarkDone until the queue is empty."""
    await store.enqueue_many(
        [NewJob(BOT, "forward", uid, json.dumps(payload(uid))) for uid in range(40)]
    )
    result = json.loads(await go.drain(4, 30))
    assert (result["jobs"], result["finished"]) == (40, True)
    assert result["seconds"] > 0
    assert await rows.count("done") == 40


async def test_seed_mark_failed_retries_with_seed_backoff_then_dead_letters(
    go: SeedQueue, store: Store, rows: Rows
) -> None:
    await store.enqueue_many([NewJob(BOT, "forward", u, json.dumps(payload(u))) for u in (20, 21)])
    first, second = await go.pop(), await go.pop()
    assert first is not None
    assert second is not None

    await go.mark_failed(first.id, first.attempts, "backend said 502", 5)
    retry_in = await rows.value(
        "SELECT next_retry_at - now() FROM gateway_jobs WHERE id = $1", first.id
    )
    assert abs(retry_in - SEED_BACKOFF_1) < timedelta(seconds=5), retry_in
    row = await rows.job(first.id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "backend said 502")

    await go.mark_failed(second.id, second.attempts, "backend said 404", second.attempts)
    row = await rows.job(second.id)
    assert (row["status"], row["last_error"]) == ("dead", "backend said 404")

    stats = await store.stats()
    assert (stats.count("pending", BOT), stats.count("dead", BOT)) == (1, 1)
    assert stats.oldest_pending_seconds(BOT) == 0.0  # waiting out its backoff is no backlog
    assert await store.claim("ours", 10, timedelta(seconds=30)) == []  # not due for 30s


async def test_seed_enqueue_of_a_job_we_stored_changes_nothing(
    go: SeedQueue, store: Store, rows: Rows
) -> None:
    await store.enqueue(NewJob(BOT, "forward", 30, json.dumps(payload(30)), chat_key="42"))
    before = await job_row(rows, 30)

    await go.enqueue(BOT, 30, '{"update_id": 30, "redelivered": true}', "discard")

    assert await job_row(rows, 30) == before
    assert await rows.count() == 1


async def test_seed_stored_job_is_not_overwritten_by_our_enqueue(
    go: SeedQueue, store: Store, rows: Rows
) -> None:
    await go.enqueue(BOT, 40, json.dumps(payload(40)), "forward")
    before = await job_row(rows, 40)

    stored = await store.enqueue_many(
        [
            NewJob(BOT, "discard", 40, '{"update_id": 40, "redelivered": true}', chat_key="9"),
            NewJob(BOT, "forward", 41, json.dumps(payload(41))),
        ]
    )

    assert stored == {(BOT, 41)}
    assert await job_row(rows, 40) == before
    assert await rows.count() == 2


async def test_seed_recover_stuck_spares_a_job_our_worker_heartbeats(
    go: SeedQueue, store: Store, rows: Rows
) -> None:
    await go.enqueue(BOT, 50, json.dumps(payload(50)))
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow_handler(job: Job) -> Succeeded:
        started.set()
        await finish.wait()
        return Succeeded()

    worker = fast_worker(
        store, slow_handler, concurrency=1, heartbeat_interval=timedelta(milliseconds=100)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(started.wait(), timeout=10)
        ours = await job_row(rows, 50)
        # A control: a job the Go side popped and then abandoned (its pod died).
        await go.enqueue(BOT, 51, json.dumps(payload(51)))
        abandoned = await go.pop()
        assert abandoned is not None
        assert abandoned.update_id == 51

        # Both look claimed an hour ago; only our worker is alive to heartbeat.
        await rows.execute("UPDATE gateway_jobs SET updated_at = now() - interval '1 hour'")
        await eventually(
            lambda: rows.value(
                "SELECT updated_at > now() - interval '1 minute' FROM gateway_jobs WHERE id = $1",
                ours["id"],
            ),
            what="our worker's heartbeat to move updated_at",
        )

        assert await go.recover_stuck(60) == 1
        held = await rows.job(ours["id"])
        assert (held["status"], held["lease_owner"]) == ("running", worker.owner)
        assert await rows.status_of(abandoned.id) == "pending"

        finish.set()  # our job completes; the recovered one is claimed and completed next
        await eventually(lambda: rows.count("done"), lambda n: n == 2, what="both jobs done")
    finally:
        finish.set()
        stop.set()
        await asyncio.wait_for(task, timeout=30)

    assert (await job_row(rows, 50))["attempts"] == 1
    assert (await job_row(rows, 51))["attempts"] == 2


async def test_seed_popped_job_left_stale_is_recovered_by_our_janitor(
    go: SeedQueue, store: Store, rows: Rows
) -> None:
    for update_id in (60, 61):
        await go.enqueue(BOT, update_id, json.dumps(payload(update_id)))
    popped = [await go.pop(), await go.pop()]
    stale, fresh = sorted((j for j in popped if j is not None), key=lambda j: j.update_id)
    await rows.execute(
        "UPDATE gateway_jobs SET updated_at = now() - interval '10 minutes' WHERE id = $1",
        stale.id,
    )

    result = await run_once(store, QueueSettings(stuck_timeout=timedelta(minutes=1)))

    assert (result.ran, result.recovered, result.dead_lettered) == (True, 1, 0)
    row = await rows.job(stale.id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "worker lost" in row["last_error"]
    assert await rows.status_of(fresh.id) == "running"
    # Taken back from a lost worker, it is handed out alone (claim_isolated), not in a batch.
    assert await store.claim("ours", 10, timedelta(seconds=30)) == []
    again = await store.claim_isolated("ours", timedelta(seconds=30))
    assert again is not None
    assert (again.id, again.attempts) == (stale.id, 2)


async def test_seed_popped_job_out_of_attempts_is_dead_lettered_by_our_janitor(
    go: SeedQueue, store: Store, rows: Rows
) -> None:
    await go.enqueue(BOT, 70, json.dumps(payload(70)))
    popped = await go.pop()
    assert popped is not None
    await rows.execute(
        "UPDATE gateway_jobs SET attempts = 5, updated_at = now() - interval '10 minutes' "
        "WHERE id = $1",
        popped.id,
    )

    result = await run_once(
        store, QueueSettings(stuck_timeout=timedelta(minutes=1), max_attempts=5)
    )

    assert (result.recovered, result.dead_lettered) == (0, 1)
    row = await rows.job(popped.id)
    assert row["status"] == "dead"
    assert "no attempts left" in row["last_error"]


async def test_seed_purge_done_deletes_only_old_done_rows(
    go: SeedQueue, store: Store, rows: Rows
) -> None:
    await store.enqueue_many([NewJob(BOT, "forward", u, json.dumps(payload(u))) for u in (80, 81)])
    done, dead = await go.pop(), await go.pop()
    assert done is not None
    assert dead is not None
    await go.mark_done(done.id)
    await go.mark_failed(dead.id, dead.attempts, "gave up", dead.attempts)
    await go.enqueue(BOT, 82, json.dumps(payload(82)))
    recent = await go.pop()
    assert recent is not None
    await go.mark_done(recent.id)
    await store.enqueue(NewJob(BOT, "forward", 83, json.dumps(payload(83))))  # stays pending
    await rows.execute(
        "UPDATE gateway_jobs SET updated_at = now() - interval '2 hours' WHERE update_id <> 82"
    )

    assert await go.purge_done(3600) == 1

    left = await rows.fetch("SELECT update_id, status FROM gateway_jobs ORDER BY update_id")
    assert [(r["update_id"], r["status"]) for r in left] == [
        (dead.update_id, "dead"),
        (82, "done"),
        (83, "pending"),
    ]
