"""A fresh database's first burst against the same burst once `ANALYZE` ran.

A new or restored database has no planner statistics until autovacuum's first ANALYZE, a
minute or more after the first rows: a burst of updates in that minute is drained by a claim
planned without them. Each round drains the same backlog twice, interleaved: on a database
that was never analyzed, and on one analyzed right after the fill. Autovacuum is off for the
table in both, so the fresh one stays without statistics for the whole drain and nothing else
differs; a checkpoint levels the ground before each drain."""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from botgateway.queue import WorkerConfig

from . import queue_bench
from .databases import Databases
from .queue_bench import DrainSetup
from .workload import Drained

Say = Callable[[str], None]


_UNTUNED = WorkerConfig()
UNTUNED = DrainSetup(1, _UNTUNED.concurrency, _UNTUNED.batch_size, pool_size=10)
"""One worker with the defaults a gateway process runs with: a first deploy is untuned."""


@dataclass(frozen=True)
class FreshSetup:
    jobs: int = 50_000
    rounds: int = 3
    budget_s: float | None = 30.0
    drain: DrainSetup = UNTUNED


@dataclass(frozen=True)
class FreshResults:
    fresh: list[Drained]
    analyzed: list[Drained]

    @property
    def best_fresh(self) -> Drained:
        return max(self.fresh, key=lambda d: d.per_second)

    @property
    def best_analyzed(self) -> Drained:
        return max(self.analyzed, key=lambda d: d.per_second)


async def prepare(url: str, jobs: int, *, analyze: bool) -> None:
    """The backlog, with or without planner statistics, and nothing else to tell them apart."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ALTER TABLE gateway_jobs SET (autovacuum_enabled = off)")
        await queue_bench.fill(url, jobs)
        if analyze:
            await conn.execute("ANALYZE gateway_jobs")
        has_statistics = await conn.fetchval(
            "SELECT count(*) > 0 FROM pg_stats WHERE tablename = 'gateway_jobs'"
        )
        if has_statistics != analyze:
            raise RuntimeError(f"expected statistics {analyze}, found {has_statistics}")
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def measure(dbs: Databases, setup: FreshSetup, say: Say) -> FreshResults:
    results: dict[bool, list[Drained]] = {False: [], True: []}
    for round_ in range(1, setup.rounds + 1):
        for analyze in (False, True):
            async with dbs.fresh() as url:
                await prepare(url, setup.jobs, analyze=analyze)
                drained = await queue_bench.drain(url, setup.jobs, setup.drain, setup.budget_s)
            results[analyze].append(drained)
            name = "analyzed" if analyze else "fresh"
            say(
                f"first burst, round {round_}, {name}: {drained.per_second:,.0f} jobs/s "
                f"({drained.jobs:,} jobs in {drained.seconds:.1f}s)"
            )
    return FreshResults(fresh=results[False], analyzed=results[True])
