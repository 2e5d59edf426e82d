"""Failover: a primary with a streaming standby, the gateway given both hosts in one URL
(`target_session_attrs=read-write`), the primary killed and the standby promoted.

With a synchronous standby nothing answered 200 is lost: a commit is acknowledged only once the
standby has its WAL. With an asynchronous one, what the primary acknowledged but had not yet
sent is gone after the promotion; the second pair of tests shows both halves of that on the
queue's own insert."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from botgateway.queue import NewJob, Store
from botgateway.queue.errors import DatabaseUnavailable
from tests.reliability.run import Scenario, run_scenario
from tests.support.postgres import TestPostgres
from tests.support.replication import ReplicatedPostgres
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

UPDATES = 20


@pytest.fixture
def synchronous_pair() -> Iterator[ReplicatedPostgres]:
    yield from _pair(synchronous=True)


@pytest.fixture
def asynchronous_pair() -> Iterator[ReplicatedPostgres]:
    yield from _pair(synchronous=False)


def _pair(*, synchronous: bool) -> Iterator[ReplicatedPostgres]:
    replicas = ReplicatedPostgres(synchronous=synchronous)
    try:
        replicas.start()
        yield replicas
    finally:
        replicas.cleanup()


async def test_failover_to_a_synchronous_standby_loses_no_accepted_update(
    synchronous_pair: ReplicatedPostgres, tmp_path: Path
) -> None:
    scenario = Scenario(
        duration_s=20.0,
        rate=80.0,
        workers=2,
        kill_every_s=(4.0, 8.0),
        kill_webhook=False,
        database_outage="failover",
        drain_timeout_s=90.0,
    )
    pg = TestPostgres(base_url=synchronous_pair.url())
    database_url = await pg.create_database(migrated=False)
    outcome = await run_scenario(
        scenario, pg, database_url, tmp_path, log_dir=tmp_path / "logs", replicas=synchronous_pair
    )
    figures = outcome.figures
    context = f"\n{figures.table()}\nseed {scenario.seed}, logs in {tmp_path / 'logs'}"
    assert figures.database_outages_mid_load == 1, context
    assert synchronous_pair.standby is None, "the standby was never promoted"
    # No primary for a moment: the webhook said so with 503s, then found the new one itself.
    assert figures.answers_503 >= 1, context
    assert figures.lost == 0, context
    assert figures.accepted == figures.sent, context
    assert (figures.pending, figures.running, figures.dead) == (0, 0, 0), context


@pytest.fixture
async def pair_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    replicas: ReplicatedPostgres = request.getfixturevalue(request.param)
    store = await Store.connect(replicas.url())
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


def _job(update_id: int) -> NewJob:
    return NewJob("relia", "discard", update_id, f'{{"update_id": {update_id}}}')


async def _stored(replicas: ReplicatedPostgres) -> int:
    conn = await asyncpg.connect(replicas.url(), timeout=10)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM gateway_jobs"))
    finally:
        await conn.close()


@pytest.mark.parametrize("pair_store", ["asynchronous_pair"], indirect=True)
async def test_an_asynchronous_standby_loses_what_it_had_not_received(
    asynchronous_pair: ReplicatedPostgres, pair_store: Store
) -> None:
    asynchronous_pair.hold_back_standby()
    stored = [await pair_store.enqueue(_job(i)) for i in range(UPDATES)]
    assert all(stored), "the primary acknowledged every insert"

    await asyncio.to_thread(asynchronous_pair.fail_over)

    assert await _stored(asynchronous_pair) == 0, "acknowledged updates survived the failover"


@pytest.mark.parametrize("pair_store", ["synchronous_pair"], indirect=True)
async def test_a_synchronous_standby_never_acknowledges_what_it_lacks(
    synchronous_pair: ReplicatedPostgres, pair_store: Store
) -> None:
    synchronous_pair.hold_back_standby()
    insert = asyncio.create_task(pair_store.enqueue(_job(1)))
    # The commit waits for the standby (wait event SyncRep) instead of answering.
    await eventually(
        lambda: _waiting_for_standby(synchronous_pair),
        timeout=10,
        what="an insert waiting for the synchronous standby",
    )
    assert not insert.done()

    await asyncio.to_thread(synchronous_pair.fail_over)

    # The caller (the webhook) gets an error, so it answers 503 and Telegram sends it again.
    with pytest.raises(DatabaseUnavailable):
        await insert
    assert await _stored(synchronous_pair) == 0


async def _waiting_for_standby(replicas: ReplicatedPostgres) -> bool:
    conn = await asyncpg.connect(replicas.url(), timeout=10)
    try:
        return bool(
            await conn.fetchval(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
            )
        )
    finally:
        await conn.close()
