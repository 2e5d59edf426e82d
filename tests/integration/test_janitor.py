"""The janitor against a real PostgreSQL: recovery, dead-lettering, bounded purge, one at a time."""

import asyncio
import itertools
import os
import socket
import sys
from datetime import timedelta

import pytest

from botgateway.contract.janitor import RUNNER_LOOP, RUNNER_ONCE
from botgateway.janitor import run_once
from botgateway.queue import (
    JANITOR_LEASE,
    Job,
    LeaseLost,
    Outcome,
    QueueSettings,
    Store,
    Succeeded,
    Worker,
)
from botgateway.queue.migrations import load_migrations
from tests.support.janitors import PausingStore, enqueue
from tests.support.rows import Rows
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SHORT_LEASE = timedelta(milliseconds=300)


def settings_for(store: Store, **kw: object) -> QueueSettings:
    return QueueSettings(database_url=store.dsn, stuck_timeout=SHORT_LEASE, **kw)  # type: ignore[arg-type]


async def lease_expired(rows: Rows) -> bool:
    return bool(
        await rows.value(
            "SELECT bool_and(lease_expires_at < now()) FROM gateway_jobs WHERE status = 'running'"
        )
    )


async def test_job_of_a_vanished_worker_is_recovered_then_completed(
    store: Store, rows: Rows
) -> None:
    settings = settings_for(store)
    await enqueue(store, 1)
    [orphan] = await store.claim("crashed-pod", 1, SHORT_LEASE)  # and then it dies
    await eventually(lambda: lease_expired(rows), what="the lease to expire")

    result = await run_once(store, settings)
    assert (result.ran, result.recovered, result.dead_lettered) == (True, 1, 0)
    row = await rows.job(orphan.id)
    assert (row["status"], row["lease_owner"]) == ("pending", None)
    assert "crashed-pod" in row["last_error"]

    async def ok(job: Job) -> Outcome:
        return Succeeded()

    stop = asyncio.Event()
    task = asyncio.create_task(Worker(store, ok).run(stop))
    await eventually(lambda: rows.status_of(orphan.id), lambda s: s == "done")
    stop.set()
    await task
    assert (await rows.job(orphan.id))["attempts"] == 2


async def test_job_that_crashes_every_worker_ends_dead_not_looping(
    store: Store, rows: Rows
) -> None:
    settings = settings_for(store, max_attempts=3)
    await enqueue(store, 1)
    for attempt in (1, 2, 3):
        # Once recovered, the job is isolated: it is only handed out alone.
        if attempt == 1:
            [job] = await store.claim(f"pod-{attempt}", 1, SHORT_LEASE)
        else:
            assert await store.claim(f"pod-{attempt}", 1, SHORT_LEASE) == []
            isolated = await store.claim_isolated(f"pod-{attempt}", SHORT_LEASE)
            assert isolated is not None
            job = isolated
        assert job.attempts == attempt
        await eventually(lambda: lease_expired(rows), what="the lease to expire")
        result = await run_once(store, settings)
        assert result.dead_lettered == (1 if attempt == 3 else 0)
    assert await rows.status_of(job.id) == "dead"
    assert "no attempts left" in (await rows.job(job.id))["last_error"]
    assert await store.claim("pod-4", 1, SHORT_LEASE) == []
    assert await store.claim_isolated("pod-4", SHORT_LEASE) is None


async def test_leaseless_seed_style_running_job_is_recovered_after_the_timeout(
    store: Store, rows: Rows
) -> None:
    settings = QueueSettings(database_url=store.dsn, stuck_timeout=timedelta(minutes=30))
    await enqueue(store, 1, 2)
    # As the seed's popSQL leaves them: running, no lease; one idle 31 minutes, one 5.
    await rows.execute(
        "UPDATE gateway_jobs SET status = 'running', attempts = 1, "
        "updated_at = now() - CASE WHEN update_id = 1 THEN interval '31 minutes' "
        "ELSE interval '5 minutes' END"
    )
    result = await run_once(store, settings)
    assert result.recovered == 1
    states = await rows.fetch("SELECT update_id, status FROM gateway_jobs ORDER BY 1")
    assert [tuple(r) for r in states] == [(1, "pending"), (2, "running")]


async def test_purge_deletes_only_old_done_rows_in_bounded_batches(
    store: Store, rows: Rows
) -> None:
    await enqueue(store, *range(1, 16))
    await rows.execute(
        "UPDATE gateway_jobs SET status = CASE "
        "  WHEN update_id <= 12 THEN 'done' WHEN update_id = 13 THEN 'dead' "
        "  WHEN update_id = 14 THEN 'done' ELSE 'pending' END, "
        "updated_at = now() - CASE WHEN update_id = 14 THEN interval '1 hour' "
        "ELSE interval '8 days' END"
    )
    result = await run_once(store, settings_for(store), purge_batch=5)
    assert (result.purged, result.purge_batches) == (12, 3)
    left = await rows.fetch("SELECT update_id, status FROM gateway_jobs ORDER BY 1")
    assert [tuple(r) for r in left] == [(13, "dead"), (14, "done"), (15, "pending")]


async def test_dead_rows_are_never_purged_however_old(store: Store, rows: Rows) -> None:
    await enqueue(store, 1)
    await rows.execute(
        "UPDATE gateway_jobs SET status = 'dead', updated_at = now() - interval '10 years'"
    )
    assert (await run_once(store, settings_for(store))).purged == 0
    assert await rows.count("dead") == 1


async def test_two_janitors_together_one_works_the_other_exits_0_lock_held(
    database_url: str, store: Store
) -> None:
    holder = await PausingStore.connect(database_url)
    assert isinstance(holder, PausingStore)
    holder.entered, holder.proceed = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(run_once(holder, settings_for(holder)))
    await holder.entered.wait()

    second = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "botgateway.cli",
        "janitor",
        "--once",
        env=os.environ | {"DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await second.communicate()
    assert second.returncode == 0, err.decode()
    assert "another janitor holds the lock" in out.decode()
    assert not (await run_once(store, settings_for(store))).ran

    holder.proceed.set()
    assert (await first).ran
    await holder.close()
    assert (await run_once(store, settings_for(store))).ran


async def test_loop_runs_at_start_then_every_interval_until_stopped(store: Store) -> None:
    from botgateway.janitor import JanitorResult, run_loop

    settings = QueueSettings(database_url=store.dsn, janitor_interval=timedelta(milliseconds=200))
    results: list[tuple[float, JanitorResult]] = []
    stop = asyncio.Event()
    began = asyncio.get_running_loop().time()
    task = asyncio.create_task(
        run_loop(
            store,
            settings,
            stop,
            on_result=lambda r: results.append((asyncio.get_running_loop().time(), r)),
        )
    )
    await eventually(lambda: asyncio.sleep(0, len(results)), lambda n: n >= 3, timeout=5)
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    first_at = results[0][0] - began
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(results)]
    assert first_at < 0.15, "the first round runs at start, not after one interval"
    assert all(g >= 0.19 for g in gaps)
    assert all(r.ran for _, r in results)


async def test_each_round_that_ran_is_recorded_with_its_runner_and_counts(
    store: Store, rows: Rows
) -> None:
    """A CronJob's pod cannot be scraped: its rounds are read back from the database."""
    assert await store.last_janitor_rounds() == []
    await enqueue(store, 1)
    await store.claim("crashed-pod", 1, SHORT_LEASE)
    await eventually(lambda: lease_expired(rows), what="the lease to expire")

    once = await run_once(store, settings_for(store))
    await run_once(store, settings_for(store), runner=RUNNER_LOOP)
    rounds = {r.runner: r for r in await store.last_janitor_rounds()}
    assert set(rounds) == {RUNNER_ONCE, RUNNER_LOOP}
    first = rounds[RUNNER_ONCE]
    assert (first.recovered, first.dead_lettered, first.purged) == (1, 0, 0)
    assert first.host == socket.gethostname()
    assert first.duration_seconds == pytest.approx(once.seconds)
    assert rounds[RUNNER_LOOP].recovered == 0

    await run_once(store, settings_for(store))
    latest = {r.runner: r for r in await store.last_janitor_rounds()}[RUNNER_ONCE]
    assert latest.finished_at > first.finished_at
    assert latest.recovered == 0
    assert await rows.value("SELECT count(*) FROM gateway_janitor_rounds") == 3


async def test_old_rounds_are_trimmed_as_new_ones_are_recorded(store: Store, rows: Rows) -> None:
    await run_once(store, settings_for(store))
    await rows.execute("UPDATE gateway_janitor_rounds SET finished_at = now() - interval '31 days'")
    await run_once(store, settings_for(store))
    assert await rows.value("SELECT count(*) FROM gateway_janitor_rounds") == 1


async def test_a_skipped_round_records_nothing(store: Store, rows: Rows) -> None:
    async with store.lease(JANITOR_LEASE, "another janitor", timedelta(minutes=1)) as held:
        assert held is not None
        assert not (await run_once(store, settings_for(store))).ran
    assert await rows.value("SELECT count(*) FROM gateway_janitor_rounds") == 0


async def test_a_hung_janitors_lease_lapses_and_it_learns_so_when_it_wakes(store: Store) -> None:
    """The lease is a row, not a session: a janitor that died or hung without dropping it
    blocks the others only until it expires."""
    async with store.lease(JANITOR_LEASE, "hung janitor", timedelta(milliseconds=300)) as hung:
        assert hung is not None
        assert not (await run_once(store, settings_for(store))).ran
        await eventually(
            lambda: run_once(store, settings_for(store)),
            lambda result: result.ran,
            what="another janitor to take the lapsed lease",
        )
        with pytest.raises(LeaseLost, match="taken over"):
            await hung.keep()


async def test_a_database_without_the_rounds_table_loses_only_the_record(
    store: Store, rows: Rows
) -> None:
    """Migrated by an older release: the round still does its work, readers see no rounds."""
    await rows.execute("DROP TABLE gateway_janitor_rounds")
    await enqueue(store, 1)
    await store.claim("crashed-pod", 1, SHORT_LEASE)
    await eventually(lambda: lease_expired(rows), what="the lease to expire")
    assert (await run_once(store, settings_for(store))).recovered == 1
    assert await store.last_janitor_rounds() == []


async def test_the_rounds_migration_can_run_again(store: Store, rows: Rows) -> None:
    [migration] = [m for m in load_migrations() if m.name == "janitor_rounds"]
    await run_once(store, settings_for(store))
    await rows.execute(migration.sql)
    assert await rows.value("SELECT count(*) FROM gateway_janitor_rounds") == 1
