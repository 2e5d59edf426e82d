"""botgateway behind PgBouncer, in transaction and in session mode: migrate, the CLI, ingest over
HTTP, claim and complete by the worker, LISTEN or polling, and one janitor at a time."""

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from botgateway.janitor import run_once
from botgateway.operator.ports import StoreQueue
from botgateway.queue import (
    DatabaseSettings,
    Job,
    Outcome,
    QueueSettings,
    Store,
    Succeeded,
    Worker,
    WorkerConfig,
)
from tests.support.cli import botgateway
from tests.support.janitors import PausingStore, enqueue
from tests.support.pgbouncer import PgBouncer
from tests.support.postgres import TestPostgres
from tests.support.rows import Rows
from tests.support.service import bot, post, running, settings_for, text_update
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def pooled(pooler: PgBouncer, database_url: str) -> DatabaseSettings:
    """The test's database through the pooler, declared as such."""
    return DatabaseSettings(pooler.url_for(database_url), pooler.mode)  # type: ignore[arg-type]


@pytest.fixture
async def pooled_store(pooled: DatabaseSettings) -> AsyncIterator[Store]:
    store = await Store.open(pooled, max_size=8)
    yield store
    await store.close()


def env_for(database: DatabaseSettings) -> dict[str, str]:
    return {"DATABASE_URL": database.url, "DATABASE_POOLER": database.pooler}


async def test_migrate_then_stats_and_a_janitor_round_from_the_cli(
    pooler: PgBouncer, postgres: TestPostgres
) -> None:
    direct = await postgres.create_database(migrated=False)
    env = env_for(DatabaseSettings(pooler.url_for(direct), pooler.mode))  # type: ignore[arg-type]
    try:
        migrated = await botgateway("migrate", env=env)
        assert migrated.code == 0, migrated.err
        assert "applied 0001_gateway_jobs" in migrated.out
        again = await botgateway("migrate", env=env)
        assert (again.code, again.out.strip()) == (0, "database schema is up to date")

        stats = await botgateway("jobs", "stats", "--json", env=env)
        assert stats.code == 0, stats.err
        assert json.loads(stats.out)["by_bot"] == []
        # twice: a second run meets the statements the first left on the server connections
        for _ in range(2):
            janitor = await botgateway("janitor", "--once", env=env)
            assert janitor.code == 0, janitor.err
            assert janitor.out.startswith("janitor: purged 0 done job(s)")
    finally:
        await postgres.drop_database(direct)


async def test_an_undeclared_pooler_is_named_in_the_error(pooled: DatabaseSettings) -> None:
    ran = await botgateway("jobs", "stats", env={"DATABASE_URL": pooled.url})
    assert ran.code == 1
    assert "unsupported startup parameter" in ran.err
    assert "set DATABASE_POOLER=transaction or session" in ran.err


async def test_updates_posted_to_the_webhook_are_stored_then_completed_by_the_worker(
    pooled: DatabaseSettings, rows: Rows
) -> None:
    settings = settings_for(pooled.url, bot("open"))
    settings = dataclasses.replace(
        settings, queue=dataclasses.replace(settings.queue, pooler=pooled.pooler)
    )
    updates = range(1, 41)
    async with running(settings) as service, aiohttp.ClientSession() as http:
        answers = await asyncio.gather(
            *(post(http, f"{service.url}/webhook/open", text_update(u, u % 7)) for u in updates)
        )
        assert [a.status for a in answers] == [200] * len(updates)

        async def settled() -> list[Any]:
            return await rows.fetch("SELECT status, attempts FROM gateway_jobs")

        done = await eventually(
            settled,
            lambda found: len(found) == len(updates) and all(r[0] == "done" for r in found),
            what="every update stored and done",
        )
        assert {r[1] for r in done} == {1}


def count_handled() -> tuple[list[int], Any]:
    handled: list[int] = []

    async def handle(job: Job) -> Outcome:
        handled.append(job.update_id)
        return Succeeded()

    return handled, handle


@contextlib.asynccontextmanager
async def working(worker: Worker) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def test_worker_listens_where_a_session_is_held_else_polls_and_says_so_once(
    pooler: PgBouncer, pooled: DatabaseSettings, database_url: str, caplog: Any
) -> None:
    """Session mode keeps a session: LISTEN through the pooler. Transaction mode: LISTEN on
    the direct URL when given, else polling (said once)."""
    if pooler.mode == "transaction":
        store = await Store.open(pooled, max_size=4)
        handled, handle = count_handled()
        slow_poll = WorkerConfig(poll_interval=timedelta(milliseconds=100))
        worker = Worker(store, handle, slow_poll)
        with caplog.at_level(logging.INFO, logger="botgateway.queue.worker"):
            async with working(worker):
                await enqueue(store, 1)
                await eventually(lambda: asyncio.sleep(0, handled), what="the job polled")
        await store.close()
        assert not worker.listening.is_set()
        said = [r for r in caplog.records if "polling" in r.getMessage()]
        assert len(said) == 1
        pooled = dataclasses.replace(pooled, direct_url=database_url)

    store = await Store.open(pooled, max_size=4)
    handled, handle = count_handled()
    # a poll this slow never finds the job in time: only a NOTIFY can
    worker = Worker(store, handle, WorkerConfig(poll_interval=timedelta(seconds=60)))
    try:
        async with working(worker):
            await asyncio.wait_for(worker.listening.wait(), timeout=5)
            await asyncio.wait_for(worker.idle.wait(), timeout=5)
            await enqueue(store, 2)
            await eventually(lambda: asyncio.sleep(0, handled), timeout=5, what="a NOTIFY")
    finally:
        await store.close()


async def test_two_janitors_through_the_pooler_never_run_a_round_at_the_same_time(
    pooled: DatabaseSettings, pooled_store: Store, rows: Rows
) -> None:
    """Behind a transaction pooler a session lock is taken on whichever server connection the
    statement ran on, where the other janitor's statements run too: both got it."""
    first = await PausingStore.open(pooled, max_size=2)
    assert isinstance(first, PausingStore)
    first.entered, first.proceed = asyncio.Event(), asyncio.Event()
    settings = QueueSettings(database_url=pooled.url, pooler=pooled.pooler)
    working_round = asyncio.create_task(run_once(first, settings))
    try:
        await first.entered.wait()
        for _ in range(3):
            assert not (await run_once(pooled_store, settings)).ran
    finally:
        first.proceed.set()
        finished = await working_round
        await first.close()
    assert finished.ran
    assert (await run_once(pooled_store, settings)).ran
    assert await rows.value("SELECT count(*) FROM gateway_janitor_rounds") == 2


async def test_the_operator_reads_queue_and_server_limits_through_the_pooler(
    pooled: DatabaseSettings, store: Store
) -> None:
    snapshot = await StoreQueue(connect_timeout=5).read(pooled.url, pooled.pooler)
    assert snapshot.stats.rows == ()
    assert snapshot.limits == await store.connection_limits()
    assert snapshot.limits is not None
    assert snapshot.limits.available > 0
