"""Store semantics on a real PostgreSQL: idempotent enqueue, claims, leases, ordering, requeue."""

import asyncio
import json
from datetime import timedelta

import pytest

from botgateway.queue import NewJob, SchemaMissing, Store
from tests.support.postgres import TestPostgres
from tests.support.rows import Rows

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=30)


def update(update_id: int, chat: str | None = None, slug: str = "support") -> NewJob:
    body = json.dumps({"update_id": update_id, "message": {"text": "hi"}})
    return NewJob(slug, "discard", update_id, body, chat_key=chat)


async def test_concurrent_duplicate_enqueues_leave_exactly_one_row(
    store: Store, rows: Rows
) -> None:
    results = await asyncio.gather(*(store.enqueue(update(42)) for _ in range(50)))
    assert results.count(True) == 1
    assert await rows.count() == 1


async def test_concurrent_overlapping_batches_neither_deadlock_nor_duplicate(
    store: Store, rows: Rows
) -> None:
    batches = [[update(i) for i in range(100)][::step] for step in (1, -1, 2, -3)]
    inserted = await asyncio.gather(*(store.enqueue_many(b) for b in batches))
    assert sum(len(keys) for keys in inserted) == 100
    assert await rows.count() == 100


async def test_redelivery_changes_nothing_about_the_stored_job(store: Store, rows: Rows) -> None:
    await store.enqueue(update(7))
    [job] = await store.claim("w", 1, LEASE)
    assert not await store.enqueue(NewJob("support", "forward", 7, '{"update_id": 7}'))
    stored = await rows.job(job.id)
    assert (stored["status"], stored["handler_type"], stored["attempts"]) == (
        "running",
        "discard",
        1,
    )


async def test_claim_takes_oldest_due_jobs_and_leases_them(store: Store, rows: Rows) -> None:
    await store.enqueue_many([update(i) for i in range(1, 6)])
    await rows.execute(
        "UPDATE gateway_jobs SET next_retry_at = now() + interval '1h' WHERE update_id = 1"
    )
    jobs = await store.claim("worker-a", 3, LEASE)
    assert [j.update_id for j in jobs] == [2, 3, 4]
    leased = await rows.fetch(
        "SELECT lease_owner, lease_expires_at > now() + interval '25 seconds' AS ok, attempts "
        "FROM gateway_jobs WHERE status = 'running'"
    )
    assert [(r["lease_owner"], r["ok"], r["attempts"]) for r in leased] == [
        ("worker-a", True, 1)
    ] * 3


async def test_claim_takes_only_the_bots_the_worker_serves(store: Store, rows: Rows) -> None:
    """Gateways with different bots may share one database: none takes the other's jobs."""
    await store.enqueue_many([update(i, slug=slug) for i in (1, 2) for slug in ("a", "b", "c")])
    mine = await store.claim("worker-ab", 10, LEASE, bots={"a", "b"})
    assert sorted((j.bot_slug, j.update_id) for j in mine) == [
        ("a", 1),
        ("a", 2),
        ("b", 1),
        ("b", 2),
    ]
    assert await store.claim("worker-b", 10, LEASE, bots={"b"}) == []
    assert await store.claim("worker-none", 10, LEASE, bots=set()) == []
    assert [(j.bot_slug, j.update_id) for j in await store.claim("any", 10, LEASE)] == [
        ("c", 1),
        ("c", 2),
    ]
    await rows.execute("UPDATE gateway_jobs SET status = 'pending', isolated = true")
    assert not await store.isolated_due(bots={"d"})
    assert await store.isolated_due(bots={"c"})
    isolated = await store.claim_isolated("worker-c", LEASE, bots={"c"})
    assert isolated is not None
    assert isolated.bot_slug == "c"


async def test_claim_hands_the_payload_back_as_stored(store: Store) -> None:
    body = {"update_id": 9, "message": {"text": "שלום 👋", "chat": {"id": -1001234567890}}}
    await store.enqueue(NewJob("support", "forward", 9, json.dumps(body, ensure_ascii=False)))
    [job] = await store.claim("w", 1, LEASE)
    assert json.loads(job.payload) == body


async def test_chat_ordering_releases_one_job_per_chat_at_a_time(store: Store) -> None:
    await store.enqueue_many(
        [update(1, "a"), update(2, "a"), update(3, "b"), update(4, "a"), update(5, None)]
    )
    first = await store.claim("w", 10, LEASE)
    assert [j.update_id for j in first] == [1, 3, 5]
    assert await store.claim("w", 10, LEASE) == []
    await store.complete_many("w", [j.held for j in first if j.update_id == 1])
    assert [j.update_id for j in await store.claim("w", 10, LEASE)] == [2]


async def test_chat_ordering_keeps_a_failed_head_in_front(store: Store) -> None:
    await store.enqueue_many([update(1, "a"), update(2, "a")])
    [head] = await store.claim("w", 10, LEASE)
    assert await store.retry("w", head, timedelta(0), "try again")
    [again] = await store.claim("w", 10, LEASE)
    assert (again.update_id, again.attempts) == (1, 2)


async def test_lost_lease_makes_complete_and_fail_change_nothing(store: Store, rows: Rows) -> None:
    await store.enqueue(update(1))
    [stale] = await store.claim("worker-a", 1, LEASE)
    # The janitor took it back and another worker holds it now.
    await rows.execute(
        "UPDATE gateway_jobs SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL"
    )
    [fresh] = await store.claim("worker-b", 1, LEASE)
    assert fresh.attempts == 2

    assert await store.complete_many("worker-a", [stale.held]) == set()
    assert not await store.retry("worker-a", stale, timedelta(0), "late failure")
    assert not await store.dead_letter("worker-a", stale, "late failure")
    assert await store.heartbeat("worker-a", [stale.id], LEASE) == set()
    assert await store.release("worker-a", [stale.held], charge=True) == set()
    row = await rows.job(fresh.id)
    assert (row["status"], row["lease_owner"], row["last_error"]) == ("running", "worker-b", None)

    assert await store.complete_many("worker-b", [fresh.held]) == {fresh.id}
    assert await rows.status_of(fresh.id) == "done"


async def test_same_owner_with_an_older_attempt_is_refused(store: Store, rows: Rows) -> None:
    await store.enqueue(update(1))
    [first] = await store.claim("w", 1, LEASE)
    await rows.execute("UPDATE gateway_jobs SET status = 'pending'")
    [second] = await store.claim("w", 1, LEASE)
    assert await store.complete_many("w", [first.held]) == set()
    assert await store.complete_many("w", [second.held]) == {second.id}


async def test_retry_schedules_the_job_after_the_delay(store: Store, rows: Rows) -> None:
    await store.enqueue(update(1))
    [job] = await store.claim("w", 1, LEASE)
    assert await store.retry("w", job, timedelta(minutes=2), "backend said 500")
    row = await rows.fetch(
        "SELECT status, last_error, extract(epoch FROM next_retry_at - now()) AS wait, "
        "lease_owner FROM gateway_jobs"
    )
    assert row[0]["status"] == "pending"
    assert row[0]["last_error"] == "backend said 500"
    assert 110 < row[0]["wait"] <= 120
    assert row[0]["lease_owner"] is None
    assert await store.claim("w", 1, LEASE) == []


async def test_release_gives_the_attempt_back_unless_charged(store: Store, rows: Rows) -> None:
    await store.enqueue_many([update(1), update(2), update(3)])
    jobs = await store.claim("w", 3, LEASE)
    assert await store.release("w", [jobs[0].held], charge=False) == {jobs[0].id}
    await store.release("w", [jobs[1].held], charge=True)
    await store.release("w", [jobs[2].held], charge=False, isolate=True)
    found = await rows.fetch(
        "SELECT update_id, status, attempts, isolated FROM gateway_jobs ORDER BY 1"
    )
    assert [tuple(r) for r in found] == [
        (1, "pending", 0, False),
        (2, "pending", 1, False),
        (3, "pending", 0, True),
    ]


async def test_requeue_dead_gives_fresh_attempts(store: Store, rows: Rows) -> None:
    await store.enqueue_many([update(1), update(2, slug="sales")])
    for job in await store.claim("w", 2, LEASE):
        await store.dead_letter("w", job, "gave up")
    assert await store.requeue_dead(bot_slug="sales") != []
    assert await rows.count("dead") == 1
    ids = await store.requeue_dead()
    assert len(ids) == 1
    assert await rows.count("pending") == 2
    assert await rows.value("SELECT max(attempts) FROM gateway_jobs") == 0


async def test_stats_count_each_status_and_the_oldest_due_age(store: Store, rows: Rows) -> None:
    await store.enqueue_many([update(i) for i in range(1, 5)])
    await rows.execute(
        "UPDATE gateway_jobs SET next_retry_at = now() - interval '90 seconds' WHERE update_id = 4"
    )
    jobs = await store.claim("w", 1, LEASE)
    assert jobs[0].update_id == 4
    await store.complete_many("w", [jobs[0].held])
    [job] = await store.claim("w", 1, LEASE)
    await store.dead_letter("w", job, "x")
    stats = await store.stats()
    assert stats.totals() == {"pending": 2, "running": 0, "done": 1, "dead": 1}
    assert stats.oldest_pending_seconds() < 60
    await rows.execute(
        "UPDATE gateway_jobs SET next_retry_at = now() - interval '1 hour' WHERE status = 'pending'"
    )
    assert 3500 < (await store.stats()).oldest_pending_seconds("support") < 3700


async def test_stats_count_due_jobs_apart_from_those_waiting_out_a_backoff(
    store: Store, rows: Rows
) -> None:
    await store.enqueue_many([update(i) for i in range(1, 6)])
    await rows.execute(
        "UPDATE gateway_jobs SET next_retry_at = now() + interval '10 minutes' WHERE update_id > 2"
    )
    stats = await store.stats()
    assert stats.count("pending", "support") == 5
    assert stats.due("support") == 2
    assert stats.due("other") == 0


async def test_an_unmigrated_database_is_schema_missing(postgres: TestPostgres) -> None:
    """A fresh install before `botgateway migrate`: told apart from other query failures."""
    url = await postgres.create_database(migrated=False)
    try:
        store = await Store.connect(url, max_size=1)
        try:
            with pytest.raises(SchemaMissing, match="gateway_jobs"):
                await store.stats()
        finally:
            await store.close()
    finally:
        await postgres.drop_database(url)
