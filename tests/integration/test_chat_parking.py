"""Per-chat ordering parks a chat's later updates (migrations 0008 and 0009) and unparks them in
turn.

A parked job is due at 'infinity', out of every claim's reach, so a busy chat's backlog costs
the claims of other chats nothing; what matters to users is that it still runs, in update order,
whatever writes the table and however the writes interleave."""

import asyncio
import json
import random
from collections import defaultdict
from datetime import timedelta

import asyncpg
import pytest

from botgateway.janitor import run_once
from botgateway.queue import NewJob, QueueSettings, Store
from tests.support.rows import Rows
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=30)


def update(update_id: int, chat: str | None = "a") -> NewJob:
    body = json.dumps({"update_id": update_id, "message": {"text": "hi"}})
    return NewJob("support", "discard", update_id, body, chat_key=chat)


async def parked(rows: Rows) -> list[int]:
    found = await rows.fetch(
        "SELECT update_id FROM gateway_jobs WHERE next_retry_at = 'infinity' ORDER BY update_id"
    )
    return [r["update_id"] for r in found]


async def claimed_ids(store: Store, limit: int = 10) -> list[int]:
    return [j.update_id for j in await store.claim("w", limit, LEASE)]


async def test_a_busy_chats_later_updates_wait_parked_and_come_due_in_turn(
    store: Store, rows: Rows
) -> None:
    await store.enqueue_many([update(1), update(2), update(3), update(4), update(5, "b")])
    # The next in line (2) stays due: it waits one handler run at most.
    assert await parked(rows) == [3, 4]
    [head, other] = await store.claim("w", 10, LEASE)
    assert (head.update_id, other.update_id) == (1, 5)

    await store.enqueue(update(6))
    assert await parked(rows) == [3, 4, 6]
    await store.complete_many("w", [head.held])
    [second] = await store.claim("w", 10, LEASE)
    assert second.update_id == 2
    await store.complete_many("w", [second.held])
    assert await parked(rows) == [4, 6]
    # Due from when it arrived, so it goes ahead of what arrived after it.
    [promoted] = await rows.fetch(
        "SELECT next_retry_at = created_at AS on_time FROM gateway_jobs WHERE update_id = 3"
    )
    assert promoted["on_time"]
    assert await claimed_ids(store) == [3]
    waiting = {j.update_id: j.waits_for_chat for j in await store.list_jobs(status="pending")}
    assert waiting == {4: True, 6: True}


async def test_an_earlier_update_arriving_late_runs_first_and_is_not_parked(
    store: Store, rows: Rows
) -> None:
    await store.enqueue(update(5))
    await store.enqueue(update(3))
    assert await parked(rows) == []
    [first] = await store.claim("w", 10, LEASE)
    assert first.update_id == 3
    await store.complete_many("w", [first.held])
    assert await claimed_ids(store) == [5]


async def test_a_head_that_fails_or_dies_hands_on_in_turn(store: Store, rows: Rows) -> None:
    await store.enqueue_many([update(1), update(2), update(3), update(4)])
    [head] = await store.claim("w", 10, LEASE)
    assert await store.retry("w", head, timedelta(0), "try again")
    [again] = await store.claim("w", 10, LEASE)
    assert again.update_id == 1
    assert await store.dead_letter("w", again, "gave up")
    [second] = await store.claim("w", 10, LEASE)
    assert second.update_id == 2
    assert await store.dead_letter("w", second, "gave up")
    assert await parked(rows) == [4]
    assert await claimed_ids(store) == [3]


async def test_a_requeued_dead_job_waits_parked_behind_its_chats_earlier_updates(
    store: Store, rows: Rows
) -> None:
    await store.enqueue(update(3))
    [late] = await store.claim("w", 10, LEASE)
    assert await store.dead_letter("w", late, "gave up")
    await store.enqueue_many([update(1), update(2)])
    [first] = await store.claim("w", 10, LEASE)

    await store.requeue_dead(ids=[late.id])
    assert await parked(rows) == [3]
    await store.complete_many("w", [first.held])
    [second] = await store.claim("w", 10, LEASE)
    assert second.update_id == 2
    await store.complete_many("w", [second.held])
    assert await claimed_ids(store) == [3]


async def test_a_chat_requeued_at_once_parks_all_but_its_first_two(
    store: Store, rows: Rows
) -> None:
    await store.enqueue_many([update(1), update(2), update(3), update(4)])
    for _ in range(4):
        [job] = await store.claim("w", 10, LEASE)
        assert await store.dead_letter("w", job, "gave up")
    assert await parked(rows) == []

    await store.requeue_dead()
    assert await parked(rows) == [3, 4]
    assert await claimed_ids(store) == [1]


async def test_redeliveries_of_finished_updates_in_a_batch_hold_nothing_back(
    store: Store, rows: Rows
) -> None:
    """Telegram redelivers updates 1 and 2, already done, in one batch with update 3: the
    redeliveries are dropped, so nothing is ahead of 3 and it must not wait for them."""
    await store.enqueue_many([update(1), update(2)])
    for _ in range(2):
        [job] = await store.claim("w", 10, LEASE)
        await store.complete_many("w", [job.held])

    assert await store.enqueue_many([update(1), update(2), update(3)]) == {("support", 3)}
    assert await parked(rows) == []
    assert await claimed_ids(store) == [3]


async def test_deleting_a_chats_unfinished_jobs_by_hand_unparks_the_next(
    store: Store, rows: Rows
) -> None:
    await store.enqueue_many([update(1), update(2), update(3)])
    await store.claim("w", 10, LEASE)
    await rows.execute("DELETE FROM gateway_jobs WHERE update_id IN (1, 2)")
    assert await claimed_ids(store) == [3]


async def test_the_janitor_unparks_a_chat_that_nothing_else_would(
    store: Store, rows: Rows, queue_settings: QueueSettings
) -> None:
    """A writer that finishes jobs without handing on (the seed's Go worker, an UPDATE by hand)
    leaves the next job of the chat parked with nothing ahead; the janitor's round makes it
    due."""
    await store.enqueue_many([update(1), update(2), update(3), update(4, "b")])
    await rows.execute("UPDATE gateway_jobs SET status = 'done' WHERE update_id IN (1, 2)")
    assert await parked(rows) == [3]
    assert await claimed_ids(store) == [4]

    result = await run_once(store, queue_settings)

    assert result.unparked == 1
    assert "unparked 1" in result.summary()
    assert await parked(rows) == []
    assert await claimed_ids(store) == [3]
    assert (await run_once(store, queue_settings)).unparked == 0


async def test_the_janitor_unparks_only_each_stalled_chats_first_parked_job(
    store: Store, rows: Rows, queue_settings: QueueSettings
) -> None:
    """Chats a and b are stalled (their heads finished by hand); chat c is not (its next job
    is due); jobs parked by hand without a chat key wait for nothing. The janitor makes due the
    first parked job of a and of b, and the keyless ones, and nothing else."""
    await store.enqueue_many(
        [update(n, "a") for n in (1, 2, 3, 4)]
        + [update(n, "b") for n in (11, 12, 13, 14)]
        + [update(n, "c") for n in (21, 22, 23)]
        + [update(31, None), update(32, None)]
    )
    await rows.execute(
        "UPDATE gateway_jobs SET status = 'done' WHERE update_id IN (1, 2, 11, 12, 21)"
    )
    await rows.execute("UPDATE gateway_jobs SET next_retry_at = 'infinity' WHERE update_id > 30")
    assert await parked(rows) == [3, 4, 13, 14, 23, 31, 32]

    assert (await run_once(store, queue_settings)).unparked == 4

    assert await parked(rows) == [4, 14, 23]


INSERT_UPDATE_3 = (
    "INSERT INTO gateway_jobs (bot_slug, handler_type, update_id, payload, chat_key)"
    " VALUES ('support', 'discard', 3, '{}', 'a')"
)
# Dead-lettering by hand, handing on as the package's own statements do (gateway_unpark_heads).
KILL_UPDATES_1_AND_2 = """
WITH dead AS (
    UPDATE gateway_jobs SET status = 'dead' WHERE update_id IN (1, 2)
    RETURNING bot_slug, chat_key)
SELECT gateway_unpark_heads(array_agg(bot_slug), array_agg(chat_key)) FROM dead
"""


@pytest.mark.parametrize("first", ["insert", "kill"])
async def test_an_update_arriving_while_the_jobs_ahead_of_it_leave_is_not_stranded(
    store: Store, rows: Rows, database_url: str, first: str
) -> None:
    """Update 3 arrives while the two jobs ahead of it (1 running, 2 next in line) are being
    dead-lettered by hand, both transactions open at once, so neither sees the other's rows:
    whichever statement comes first, update 3 is due once both committed (the insert's locks
    on updates 1 and 2 decide who sees whom)."""
    await store.enqueue_many([update(1), update(2)])
    await store.claim("w", 10, LEASE)
    inserting, killing = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        await inserting.execute("BEGIN")
        await killing.execute("BEGIN")
        if first == "insert":
            await inserting.execute(INSERT_UPDATE_3)
            killed = asyncio.create_task(killing.execute(KILL_UPDATES_1_AND_2))
            await eventually(
                lambda: rows.value(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1",
                    killing.get_server_pid(),
                ),
                lambda waiting_on: waiting_on == "Lock",
                what="the dead-lettering to wait for the insert's locks",
            )
            await inserting.execute("COMMIT")
            await killed
        else:
            await killing.execute(KILL_UPDATES_1_AND_2)
            await inserting.execute(INSERT_UPDATE_3)
            await inserting.execute("COMMIT")
        await killing.execute("COMMIT")
    finally:
        await inserting.close()
        await killing.close()
    assert await parked(rows) == []
    assert await claimed_ids(store) == [3]


CHATS = 8
PRODUCERS = 3
WORKERS = 3
UPDATES_PER_PRODUCER = 400


async def test_concurrent_enqueues_and_completions_never_strand_a_chat_or_reorder_it(
    database_url: str, rows: Rows
) -> None:
    """Inserts race completions of the same chats (the case the row locks of migration 0008
    are for): every job still runs, each chat in the order its updates arrived, without the
    janitor's help."""
    stores = [await Store.connect(database_url, max_size=2) for _ in range(PRODUCERS + WORKERS)]
    ran: dict[tuple[str, int], list[int]] = defaultdict(list)
    total = PRODUCERS * UPDATES_PER_PRODUCER

    async def produce(store: Store, producer: int) -> None:
        rng = random.Random(producer)
        first = producer * UPDATES_PER_PRODUCER
        ids = list(range(first, first + UPDATES_PER_PRODUCER))
        while ids:
            size = rng.randint(1, 20)
            batch, ids = ids[:size], ids[size:]
            await store.enqueue_many([update(i, f"chat-{i % CHATS}") for i in batch])

    def finished() -> int:
        return sum(len(ids) for ids in ran.values())

    async def work(store: Store, name: str) -> None:
        while finished() < total:
            jobs = await store.claim(name, 5, LEASE)
            for job in jobs:
                ran[(job.chat_key or "", job.update_id // UPDATES_PER_PRODUCER)].append(
                    job.update_id
                )
            if jobs:
                await store.complete_many(name, [j.held for j in jobs])
            else:
                await asyncio.sleep(0.001)

    try:
        workers = [asyncio.create_task(work(s, f"w{n}")) for n, s in enumerate(stores[:WORKERS])]
        await asyncio.gather(*(produce(s, n) for n, s in enumerate(stores[WORKERS:])))
        try:
            await asyncio.wait_for(asyncio.gather(*workers), timeout=60)
        except TimeoutError:
            pytest.fail(f"stranded: {finished()} of {total} ran; parked {await parked(rows)}")
    finally:
        for s in stores:
            await s.close()

    assert finished() == total
    # Within one producer update ids grow with arrival, so each chat's share of them must have
    # run in that order (across producers a lower id may arrive after a higher one ran).
    for (chat, producer), ids in ran.items():
        assert ids == sorted(ids), f"{chat}, producer {producer}: ran out of order"
    assert await parked(rows) == []
