"""What a pooler costs: one claim statement's round trip, and the time from an insert to the
handler starting on an idle worker (LISTEN, or polling every second behind a transaction pooler
without a direct URL). Direct, through PgBouncer in session mode and in transaction mode.

    .venv/bin/python -m tests.bench.pooler_bench

Needs the `pgbouncer` binary (Debian: apt-get install -y pgbouncer). The figures are in
docs/operations/running-at-scale.md.
"""

import asyncio
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from botgateway.queue import (
    DatabaseSettings,
    Job,
    NewJob,
    Outcome,
    Pooler,
    Store,
    Succeeded,
    Worker,
    WorkerConfig,
)
from tests.support.pgbouncer import PgBouncer, pgbouncer
from tests.support.postgres import TestPostgres, test_postgres

CLAIMS = 2000
PICKUPS = 20


async def claim_round_trip_us(database: DatabaseSettings) -> float:
    store = await Store.open(database, max_size=1)
    try:
        await store.enqueue_many([NewJob("b", "discard", i, "{}") for i in range(1, 51)])
        started = time.perf_counter()
        for _ in range(CLAIMS):
            await store.claim("bench", 1, timedelta(minutes=1))
        return (time.perf_counter() - started) / CLAIMS * 1e6
    finally:
        await store.close()


async def pickup_ms(database: DatabaseSettings) -> list[float]:
    store = await Store.open(database, max_size=4)
    began: dict[int, float] = {}
    arrived = asyncio.Event()

    async def handle(job: Job) -> Outcome:
        began[job.update_id] = time.perf_counter()
        arrived.set()
        return Succeeded()

    worker = Worker(store, handle, WorkerConfig(poll_interval=timedelta(seconds=1)))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(worker.idle.wait(), timeout=10)
    found: list[float] = []
    for update_id in range(1000, 1000 + PICKUPS):
        await asyncio.sleep(0.37)  # land at varying points of the poll cycle
        arrived.clear()
        sent = time.perf_counter()
        await store.enqueue(NewJob("b", "discard", update_id, "{}"))
        await asyncio.wait_for(arrived.wait(), timeout=10)
        found.append((began[update_id] - sent) * 1000)
    stop.set()
    await task
    await store.close()
    return found


async def fresh(pg: TestPostgres, bouncer: PgBouncer | None, pooler: Pooler) -> DatabaseSettings:
    url = await pg.create_database()
    return DatabaseSettings(bouncer.url_for(url) if bouncer else url, pooler)


async def measure(pg: TestPostgres, bouncers: dict[str, PgBouncer]) -> None:
    paths: tuple[Pooler, ...] = ("none", "session", "transaction")
    for pooler in paths:
        bouncer = bouncers.get(pooler)
        claim = await claim_round_trip_us(await fresh(pg, bouncer, pooler))
        pickups = await pickup_ms(await fresh(pg, bouncer, pooler))
        print(
            f"{pooler:12s} claim {claim:6.0f} us   insert to handler p50 "
            f"{statistics.median(pickups):6.1f} ms, max {max(pickups):6.1f} ms"
        )


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="pooler-bench-"))
    for part in ("pg", "transaction", "session"):
        (root / part).mkdir()
    with test_postgres(root / "pg") as pg:
        user = getattr(pg.server, "system_user", None)
        if user:
            shutil.chown(root, user)
        with (
            pgbouncer(pg.base_url, "transaction", root / "transaction", run_as=user) as tx,
            pgbouncer(pg.base_url, "session", root / "session", run_as=user) as session,
        ):
            asyncio.run(measure(pg, {"transaction": tx, "session": session}))


if __name__ == "__main__":
    main()
