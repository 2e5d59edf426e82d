"""River and the seed's own Go queue code, each swept to its best point, beside our service's
worker drain at its best, in interleaved rounds of one run.

Every round measures, in order: our `Store.enqueue_many` rate; our service's drain at each
WORKER_CONCURRENCY (defaults_bench's sweep round); River (`river/main.go`, built into
`.cache/bench/river/`) at each MaxWorkers x FetchCooldown x payload; and the seed's Go
`PostgresQueue` (its Pop + MarkDone from N goroutines, tests/support/seed_harness) at each N.
Every drain gets a fresh database and the same backlog; each setting's best round counts, and
each queue's best setting is the one compared.
"""

import asyncio
import dataclasses
import json
import resource
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from tests.support import seed as seed_support

from . import defaults_bench, queue_bench
from .databases import Databases, count, settle
from .gobuild import cached_build, go_build
from .report import Comparison, Row, ratios
from .service_bench import ServiceSetup, server_tree_cpu
from .sweep import Sweep
from .workload import Drained

Say = Callable[[str], None]
RIVER_MODULE = Path(__file__).with_name("river")
ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ("update", "empty")
"""River's job arguments: the bench's Telegram update (what our jobs carry), and none."""
BACKENDS_GONE_TRIES = 100
HARNESS_GRACE_S = 120.0
"""Beyond a drain's budget: River's migrations, insert, start and stop."""


@dataclass(frozen=True)
class RiverPoint:
    """One River setting: its job arguments, the queue's MaxWorkers, Config.FetchCooldown."""

    payload: str
    max_workers: int
    fetch_cooldown_ms: float

    def label(self) -> str:
        return f"{self.payload}, {self.max_workers} workers, cooldown {self.fetch_cooldown_ms:g}ms"


@dataclass(frozen=True)
class RiverSetup:
    jobs: int = 50_000
    rounds: int = 2
    budget_s: float = 30.0
    """A drain still running by then is stopped and counted as done / elapsed (the seed's
    slowest settings would otherwise take minutes each)."""
    ours: tuple[int, ...] = (128, 256, 512, 1024)
    """Our WORKER_CONCURRENCY values."""
    max_workers: tuple[int, ...] = (100, 500, 1000, 2000)
    fetch_cooldowns_ms: tuple[float, ...] = (1, 100)
    """River's FetchCooldown: its minimum, and its default."""
    payloads: tuple[str, ...] = PAYLOADS
    seed_loops: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    insert_batch: int = 1_000
    """Jobs per InsertManyFast call and per `Store.enqueue_many` call."""

    def river_points(self) -> list[RiverPoint]:
        return [
            RiverPoint(payload, workers, cooldown)
            for payload in self.payloads
            for workers in self.max_workers
            for cooldown in self.fetch_cooldowns_ms
        ]


@dataclass(frozen=True)
class RiverResults:
    ours: Sweep[int | None] = field(default_factory=Sweep)
    river: Sweep[RiverPoint] = field(default_factory=Sweep)
    seed: Sweep[int] = field(default_factory=Sweep)
    ours_enqueue: list[float] = field(default_factory=list)
    """jobs/s of `Store.enqueue_many`, one figure per round."""
    river_insert: dict[str, list[float]] = field(default_factory=dict)
    """jobs/s of InsertManyFast per payload, one figure per River drain."""

    def best_river(self, payload: str) -> RiverPoint:
        return self.river.best_key(lambda point: point.payload == payload)


# -- the harnesses' output ------------------------------------------------------------------


def last_json(stdout: str) -> dict[str, Any]:
    """The JSON object a harness printed last (its result line)."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise ValueError(f"no JSON result in the harness output: {stdout[-500:]!r}")


def parse_drained(stdout: str) -> Drained:
    """A drain's `{"jobs", "seconds", "finished"}` line (River's `work`, the seed's `drain`)."""
    result = last_json(stdout)
    jobs, seconds = int(result["jobs"]), float(result["seconds"])
    if jobs < 1 or seconds <= 0:
        raise ValueError(f"the drain completed nothing: {result}")
    return Drained(jobs, seconds, finished=bool(result["finished"]))


def parse_inserted(stdout: str, jobs: int) -> float:
    """jobs/s of River's `insert` line, which must have inserted all `jobs`."""
    result = last_json(stdout)
    if int(result["inserted"]) != jobs:
        raise ValueError(f"River inserted {result['inserted']} of {jobs} jobs")
    return jobs / float(result["seconds"])


# -- builds ---------------------------------------------------------------------------------


def river_binary(out_dir: Path, say: Say) -> Path:
    sources = [(RIVER_MODULE / name).read_bytes() for name in ("go.mod", "go.sum", "main.go")]
    binary = (out_dir / "river" / "riverbench").resolve()
    return cached_build(binary, sources, lambda: go_build(RIVER_MODULE, binary), say)


def seed_binary(out_dir: Path, say: Say) -> Path:
    """The seed's queue.go with our harness (tests/support/seed.py), built once per change."""
    document = seed_support.seed_file(ROOT)
    workdir = (out_dir / "seed-go").resolve()
    sources = [
        document.read_bytes(),
        seed_support.HARNESS_TEMPLATE.read_bytes(),
        seed_support.GO_MOD.encode(),
    ]
    binary = workdir / "seedq"

    def build() -> None:
        seed_support.build_harness(document, workdir)

    return cached_build(binary, sources, build, say)


# -- runs -----------------------------------------------------------------------------------


async def run_harness(binary: Path, args: Sequence[str], timeout_s: float) -> str:
    """Run a harness to its end; its stdout, or an error with its stderr."""
    process = await asyncio.create_subprocess_exec(
        str(binary),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(
            f"{binary.name} {args[0]} exited {process.returncode}: {stderr.decode()[-2000:]}"
        )
    return stdout.decode()


@dataclass(frozen=True)
class Costs:
    """CPU seconds per job: the queue's own process, and PostgreSQL."""

    client_us: float
    pg_us: float | None

    def describe(self) -> str:
        pg = f", postgres {self.pg_us:.0f}" if self.pg_us is not None else ""
        return f"CPU-us per job: client {self.client_us:.0f}{pg}"


async def river_drain(
    dbs: Databases, binary: Path, point: RiverPoint, setup: RiverSetup
) -> tuple[float, Drained, Costs]:
    """River's insert rate, and its drain of that backlog, on a fresh database."""
    jobs = setup.jobs
    common = ["-jobs", str(jobs), "-payload", point.payload]
    timeout = setup.budget_s + HARNESS_GRACE_S
    postmaster = dbs.postmaster_pid()
    async with dbs.fresh(migrated=False) as url:
        insert = ["insert", "-dsn", url, *common, "-batch", str(setup.insert_batch)]
        inserted = parse_inserted(await run_harness(binary, insert, timeout), jobs)
        await settle(url)
        work = [
            "work",
            "-dsn",
            url,
            *common,
            "-max-workers",
            str(point.max_workers),
            "-fetch-cooldown",
            f"{point.fetch_cooldown_ms:g}ms",
            "-budget",
            f"{setup.budget_s:g}s",
        ]
        pg_before = await pg_cpu(url, postmaster)
        stdout = await run_harness(binary, work, timeout)
        pg_after = await pg_cpu(url, postmaster)
    drained = parse_drained(stdout)
    costs = Costs(
        client_us=float(last_json(stdout)["cpu_seconds"]) / drained.jobs * 1e6,
        pg_us=(pg_after - pg_before) / drained.jobs * 1e6 if postmaster else None,
    )
    return inserted, drained, costs


async def seed_drain(
    dbs: Databases, binary: Path, loops: int, setup: RiverSetup
) -> tuple[Drained, Costs]:
    """The seed's Go Pop + MarkDone from `loops` goroutines over our backlog."""
    postmaster = dbs.postmaster_pid()
    async with dbs.fresh() as url:
        await queue_bench.fill(url, setup.jobs)
        await settle(url)
        pg_before = await pg_cpu(url, postmaster)
        cpu_before = _children_cpu()
        stdout = await seed_support.SeedQueue(binary, url).drain(loops, setup.budget_s)
        client_cpu = _children_cpu() - cpu_before
        pg_after = await pg_cpu(url, postmaster)
        drained = parse_drained(stdout)
        done = await count(url, queue_bench.DONE_COUNT_SQL)
        if done != drained.jobs:
            raise RuntimeError(f"seed Go: reported {drained.jobs} jobs done, found {done}")
    costs = Costs(
        client_us=client_cpu / drained.jobs * 1e6,
        pg_us=(pg_after - pg_before) / drained.jobs * 1e6 if postmaster else None,
    )
    return drained, costs


async def pg_cpu(url: str, postmaster: int | None) -> float:
    """PostgreSQL's CPU seconds so far, once every other backend of `url`'s database has
    exited: a backend's CPU is counted only when the postmaster has reaped it."""
    conn = await asyncpg.connect(url)
    try:
        for _ in range(BACKENDS_GONE_TRIES):
            others = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if not others:
                break
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    await asyncio.sleep(0.02)  # our own backend's exit
    return server_tree_cpu(postmaster) if postmaster else 0.0


def _children_cpu() -> float:
    """CPU seconds of this process's reaped children (a harness, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def measure(
    dbs: Databases,
    setup: RiverSetup,
    service: ServiceSetup,
    out_dir: Path,
    say: Say,
) -> RiverResults:
    river = river_binary(out_dir, say)
    seed = seed_binary(out_dir, say)
    log_dir = out_dir / "service-logs"
    results = RiverResults()
    ours_service = dataclasses.replace(service, budget_s=setup.budget_s)
    for round_ in range(1, setup.rounds + 1):
        async with dbs.fresh() as url:
            seconds = await queue_bench.enqueue(url, setup.jobs, setup.insert_batch)
        results.ours_enqueue.append(setup.jobs / seconds)
        say(f"enqueue, round {round_}, ours: {setup.jobs / seconds:,.0f} jobs/s")
        await defaults_bench.sweep_round(
            dbs, ours_service, setup.ours, setup.jobs, log_dir, say, round_, results.ours
        )
        for point in setup.river_points():
            inserted, drained, costs = await river_drain(dbs, river, point, setup)
            results.river_insert.setdefault(point.payload, []).append(inserted)
            results.river.add(point, drained)
            say(
                f"River, round {round_}, {point.label()}: {drained_text(drained)}; "
                f"InsertManyFast {inserted:,.0f} jobs/s; {costs.describe()}"
            )
        for loops in setup.seed_loops:
            drained, costs = await seed_drain(dbs, seed, loops, setup)
            results.seed.add(loops, drained)
            say(
                f"seed Go, round {round_}, {loops} goroutines: {drained_text(drained)}; "
                f"{costs.describe()}"
            )
    return results


def drained_text(drained: Drained) -> str:
    how = "all" if drained.finished else "budget spent after"
    return (
        f"{drained.per_second:,.0f} jobs/s ({how} {drained.jobs:,} jobs in {drained.seconds:.1f}s)"
    )


def tables(results: RiverResults) -> str:
    ours_best = results.ours.best_key()
    river_best = [results.best_river(p) for p in {k.payload for k in results.river.drains}]
    parts = [
        results.ours.table("ours WORKER_CONCURRENCY", str, [ours_best]),
        results.river.table(
            "River (payload, MaxWorkers, FetchCooldown)", RiverPoint.label, river_best
        ),
        results.seed.table("seed Go goroutines", str, [results.seed.best_key()]),
    ]
    return "\n\n".join(parts) + "\n(* a round stopped by the time budget: done / elapsed)"


def figures(results: RiverResults, setup: RiverSetup) -> tuple[dict[str, float], list[Row]]:
    """Ours at its best beside River at its best (per payload) and the seed's Go code at its
    best; our enqueue_many beside River's InsertManyFast with the same payload."""
    ours_key = results.ours.best_key()
    ours = results.ours.best(ours_key)
    seed_key = results.seed.best_key()
    rows: list[Row] = []
    out: dict[str, float] = {
        "river_jobs": setup.jobs,
        "river_rounds": setup.rounds,
        "river_ours_best_jobs_per_s": ours,
        "river_ours_best_worker_concurrency": ours_key or 0,
        "seed_go_best_jobs_per_s": results.seed.best(seed_key),
        "seed_go_best_goroutines": seed_key,
        "river_ours_enqueue_jobs_per_s": max(results.ours_enqueue),
    }
    targets = {"update": ("drain_vs_river_payload", 1.5), "empty": ("drain_vs_river_empty", 1.0)}
    for payload in sorted({p.payload for p in results.river.drains}, reverse=True):
        best = results.best_river(payload)
        metric, target = targets[payload]
        rows.append(
            Comparison(
                metric,
                f"drain: ours (c={ours_key}) vs River best ({best.label()})",
                ours,
                results.river.best(best),
                target=target,
            )
        )
        out |= {
            f"river_{payload}_best_jobs_per_s": results.river.best(best),
            f"river_{payload}_best_max_workers": best.max_workers,
            f"river_{payload}_best_fetch_cooldown_ms": best.fetch_cooldown_ms,
            f"river_{payload}_insert_jobs_per_s": max(results.river_insert[payload]),
        }
    rows.append(
        Comparison(
            "drain_vs_seed_go",
            f"drain: ours (c={ours_key}) vs seed's Go Pop+MarkDone ({seed_key} goroutines)",
            ours,
            results.seed.best(seed_key),
        )
    )
    if "update" in results.river_insert:
        rows.append(
            Comparison(
                "enqueue_vs_river",
                f"enqueue: ours enqueue_many vs River InsertManyFast (update payload, "
                f"batches of {setup.insert_batch})",
                max(results.ours_enqueue),
                max(results.river_insert["update"]),
            )
        )
    out |= ratios(rows)
    return out, rows
