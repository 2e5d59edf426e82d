"""How cost grows: the service's drain against rows already in the table, bots served, gateway
processes and chat ordering, and the CPU one update costs end to end.

Every drain is the service (`botgateway serve --role worker`, `discard`, no settings unless the
curve is about one) in its own process(es), started on a database whose backlog is not there
yet; once every process is listening, the whole backlog is inserted by one statement (so it
becomes visible at once, and the NOTIFY of its insert wakes the workers), and the clock runs
from its commit until the processes together have committed every completion. Process start-up
is left out, so several processes compare fairly with one. The backlog is spread evenly across
the bots (and chats) of the point; its payload is a real-shaped text message.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg

from botgateway.queue import NewJob, Store

from .curves import Curve, Point, cliffs, decades, describe, per_update_us, with_round
from .curves_chart import write_curves_chart
from .databases import Databases, count, settle
from .report import Comparison, Row
from .service_bench import (
    CpuMeter,
    Server,
    ServiceSetup,
    process_cpu,
    run_loadgen,
    server_tree_cpu,
    service_env,
    started,
)
from .workload import HANDLER_TYPE, chunks, update

Say = Callable[[str], None]
POLL_S = 0.02
ENQUEUE_BATCH = 1_000
JOBS_PER_BOT = 10
INGEST_SLUG = "ingest-probe"
HISTORY_CHUNK = 1_000_000
BACKLOG_FIRST_ID = 1_000_000_000

# The update's shape is workload.update's: a text message in chat 100000 + id % chats.
_MESSAGE_SQL = """
jsonb_build_object(
    'update_id', g,
    'message', jsonb_build_object(
        'message_id', g, 'date', 1700000000 + g,
        'chat', jsonb_build_object('id', 100000 + g % {chats}, 'type', 'private',
                                   'first_name', 'Bench'),
        'from', jsonb_build_object('id', 100000 + g % {chats}, 'is_bot', false,
                                   'first_name', 'Bench'),
        'text', 'hello ' || g))
"""

BACKLOG_SQL = f"""
INSERT INTO gateway_jobs (bot_slug, handler_type, update_id, payload, chat_key)
SELECT CASE WHEN g % $3 = 0 THEN 'bench' ELSE 'bench-' || (g % $3) END,
       'discard', g, {_MESSAGE_SQL.format(chats="greatest($4, 64)")},
       CASE WHEN $4 > 0 THEN (100000 + g % $4)::text END
FROM generate_series($1::bigint, $1::bigint + $2 - 1) AS g
"""
"""$2 pending jobs from update id $1, bot `bench_slug(id % $3)`; with $4 > 0 a chat key
(chatOrdering on) spreading them over $4 chats, else none (off)."""

HISTORY_SQL = f"""
INSERT INTO gateway_jobs (bot_slug, handler_type, update_id, payload, status, attempts,
                          last_error, created_at, updated_at, next_retry_at)
SELECT 'bench', 'discard', -g, {_MESSAGE_SQL.format(chats=64)},
       CASE WHEN g % 20 = 0 THEN 'dead' ELSE 'done' END, 1,
       CASE WHEN g % 20 = 0 THEN 'bench: handler failed' END,
       now() - at.age, now() - at.age, now() - at.age
FROM generate_series($1::bigint, $2::bigint) AS g,
LATERAL (SELECT (g % 500000) * interval '1 second' AS age) AS at
"""
"""Finished rows $1..$2 (update ids negative, clear of any backlog): one in 20 dead, the rest
done, all within the last 6 days so the service's janitor keeps them (retention is 7)."""


@dataclass(frozen=True)
class CurvesSetup:
    jobs: int = 20_000
    """The backlog of each drain."""
    rounds: int = 2
    budget_s: float = 20.0
    """A drain still running then is measured as jobs done / elapsed (one chat in order is
    slow by design)."""
    max_rows: int = 1_000_000
    """The largest history of the rows curve (`--curve-max-rows`; the issue's is 10M)."""
    min_rows: int = 10_000
    bots: tuple[int, ...] = (1, 10, 100, 1_000, 10_000)
    processes: tuple[int, ...] = (1, 2, 4)
    chats: tuple[int, ...] = (1, 10, 100, 1_000, 10_000)
    cpu_seconds: float = 5.0
    """Measured ingest window of the CPU-per-update run (after a 1 s warm-up)."""
    curves: tuple[str, ...] = ("rows", "bots", "processes", "ordering", "cpu")


@dataclass(frozen=True)
class Drain:
    jobs: int
    seconds: float
    finished: bool
    server_cpu_s: float
    pg_cpu_s: float

    @property
    def per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class EndToEnd:
    """Updates through the webhook and the worker of one process (`--role all`)."""

    updates: int
    ingest_req_per_s: float
    seconds: float
    server_cpu_s: float
    pg_cpu_s: float

    @property
    def server_us(self) -> float:
        return per_update_us(self.server_cpu_s, self.updates)

    @property
    def pg_us(self) -> float:
        return per_update_us(self.pg_cpu_s, self.updates)


@dataclass(frozen=True)
class CurvesResults:
    curves: dict[str, Curve]
    fill_seconds: dict[int, float]
    """Seconds to insert (and settle) the history up to each size of the rows curve."""
    end_to_end: EndToEnd | None


class Backlog:
    """Hands out update ids, so every drain on one database gets fresh ones."""

    def __init__(self) -> None:
        self._next = itertools.count(BACKLOG_FIRST_ID, 100_000_000)

    def first_id(self) -> int:
        return next(self._next)


async def insert_backlog(url: str, first_id: int, jobs: int, bots: int, chats: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(BACKLOG_SQL, first_id, jobs, bots, chats)
    finally:
        await conn.close()


async def grow_history(url: str, have: int, want: int, say: Say) -> int:
    """Insert finished rows until the table holds `want` of them, in chunks with progress."""
    conn = await asyncpg.connect(url)
    try:
        while have < want:
            upto = min(want, have + HISTORY_CHUNK)
            await conn.execute(HISTORY_SQL, have + 1, upto)
            have = upto
            if want > HISTORY_CHUNK:
                say(f"  history: {have:,}/{want:,} rows")
    finally:
        await conn.close()
    return have


async def drain(
    dbs: Databases,
    url: str,
    service: ServiceSetup,
    setup: CurvesSetup,
    log_dir: Path,
    backlog: Backlog,
    *,
    processes: int = 1,
    bots: int = 1,
    chats: int = 0,
    tag: str,
) -> Drain:
    """`processes` service workers, started and listening, then the backlog, timed from its
    commit until the workers have completed all of it (or the budget is spent)."""
    args = ["--database-url", url, "--role", "worker", "--bots", str(bots)]
    args += ["--drain-jobs", str(setup.jobs), "--budget", "0"]
    if chats:
        args.append("--chat-ordering")
    env = service_env(service)
    postmaster = dbs.postmaster_pid()
    async with contextlib.AsyncExitStack() as stack:
        servers: list[Server] = list(
            await asyncio.gather(
                *(
                    stack.enter_async_context(
                        started(f"curve-{tag}-p{n}", "service", args, log_dir, env)
                    )
                    for n in range(processes)
                )
            )
        )
        await asyncio.gather(*(s.stats() for s in servers))
        cpu_before = _cpu(servers, postmaster)
        await insert_backlog(url, backlog.first_id(), setup.jobs, bots, chats)
        began = time.perf_counter()
        done = await _until_processed(servers, setup.jobs, setup.budget_s)
        elapsed = time.perf_counter() - began
        cpu_after = _cpu(servers, postmaster)
    return Drain(
        jobs=done,
        seconds=elapsed,
        finished=done >= setup.jobs,
        server_cpu_s=cpu_after[0] - cpu_before[0],
        pg_cpu_s=cpu_after[1] - cpu_before[1],
    )


async def _until_processed(servers: list[Server], jobs: int, budget_s: float) -> int:
    """Poll the servers until they have completed `jobs` together or the budget is spent."""
    deadline = time.perf_counter() + budget_s
    while True:
        done = await _processed(servers)
        if done >= jobs or time.perf_counter() >= deadline:
            return done
        await asyncio.sleep(POLL_S)


async def _processed(servers: list[Server]) -> int:
    stats = await asyncio.gather(*(s.stats() for s in servers))
    return sum(int(s["processed"]) for s in stats)


def _cpu(servers: list[Server], postmaster: int | None) -> tuple[float, float]:
    gateway = sum(process_cpu(s.pid) for s in servers)
    return gateway, server_tree_cpu(postmaster) if postmaster else 0.0


def _rate_and_cpu(drained: Drain) -> tuple[float, float, float]:
    return (
        drained.per_second,
        per_update_us(drained.server_cpu_s, drained.jobs),
        per_update_us(drained.pg_cpu_s, drained.jobs),
    )


def _said(drained: Drain) -> str:
    how = "" if drained.finished else f" (budget spent after {drained.jobs:,} jobs)"
    gateway = per_update_us(drained.server_cpu_s, drained.jobs)
    pg = per_update_us(drained.pg_cpu_s, drained.jobs)
    return (
        f"{drained.per_second:,.0f} jobs/s{how} in {drained.seconds:.1f} s; CPU per job: "
        f"gateway {gateway:.0f} us, postgres {pg:.0f} us"
    )


# -- the curves -------------------------------------------------------------------------------


async def rows_curve(
    dbs: Databases,
    setup: CurvesSetup,
    service: ServiceSetup,
    log_dir: Path,
    say: Say,
    fill_seconds: dict[int, float],
) -> tuple[Curve, Curve]:
    """One database whose finished rows grow from size to size; at each, `rounds` rounds of
    an ingest (`Store.enqueue_many`) and a drain."""
    points: tuple[Point, ...] = ()
    controls: tuple[Point, ...] = ()
    ingests: tuple[Point, ...] = ()
    backlog = Backlog()
    async with dbs.fresh() as url:
        have = 0
        for size in decades(setup.min_rows, setup.max_rows):
            began = time.perf_counter()
            have = await grow_history(url, have, size, say)
            await settle(url)
            fill_seconds[size] = time.perf_counter() - began
            rows = await count(url, "SELECT count(*) FROM gateway_jobs")
            say(f"rows curve: history {size:,} (table {rows:,} rows) in {fill_seconds[size]:.1f}s")
            for round_ in range(1, setup.rounds + 1):
                ingested = await ingest(url, backlog.first_id(), setup.jobs)
                ingests = with_round(ingests, size, ingested)
                say(f"  round {round_}, {size:,} rows: ingest {ingested:,.0f} jobs/s")
                drained = await drain(
                    dbs, url, service, setup, log_dir, backlog, tag=f"rows-{size}"
                )
                points = with_round(points, size, *_rate_and_cpu(drained))
                say(f"  round {round_}, {size:,} rows: {_said(drained)}")
                await settle(url)
                control = await small_case(dbs, setup, service, log_dir)
                controls = with_round(controls, size, *_rate_and_cpu(control))
                say(f"  round {round_}, control ({setup.min_rows:,} rows): {_said(control)}")
    return (
        Curve("rows", "finished rows in table", points, controls),
        Curve("rows_ingest", "finished rows in table (ingest)", ingests),
    )


async def small_case(
    dbs: Databases, setup: CurvesSetup, service: ServiceSetup, log_dir: Path
) -> Drain:
    """The same drain on a fresh database holding the smallest history, right after."""
    async with dbs.fresh() as url:
        await grow_history(url, 0, setup.min_rows, lambda _: None)
        await settle(url)
        return await drain(dbs, url, service, setup, log_dir, Backlog(), tag="rows-control")


async def ingest(url: str, first_id: int, jobs: int, chats: int = 0) -> float:
    """jobs/s stored by `Store.enqueue_many` in batches of ENQUEUE_BATCH, for a bot no service
    serves, with chats > 0 spread over that many chats with ordering on; the rows are deleted
    again (the settle that follows vacuums them)."""
    batches = [
        [
            NewJob(
                INGEST_SLUG,
                HANDLER_TYPE,
                first_id + n,
                json.dumps(update(first_id + n)),
                chat_key=str((first_id + n) % chats) if chats else None,
            )
            for n in range(start, start + size)
        ]
        for start, size in chunks(jobs, ENQUEUE_BATCH)
    ]
    store = await Store.connect(url, min_size=1, max_size=1)
    try:
        began = time.perf_counter()
        for batch in batches:
            await store.enqueue_many(batch)
        seconds = time.perf_counter() - began
    finally:
        await store.close()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM gateway_jobs WHERE bot_slug = $1", INGEST_SLUG)
    finally:
        await conn.close()
    return jobs / seconds


async def interleaved_curve(
    name: str,
    x_label: str,
    xs: tuple[int, ...],
    dbs: Databases,
    setup: CurvesSetup,
    service: ServiceSetup,
    log_dir: Path,
    say: Say,
    point_drain: Callable[[str, int], dict[str, int]],
) -> Curve:
    """Each x once per round (x1, x2, ..., x1, x2, ...), each drain on a fresh database, so a
    burst of other work on the machine moves every point alike."""
    points: tuple[Point, ...] = ()
    for round_ in range(1, setup.rounds + 1):
        for x in xs:
            async with dbs.fresh() as url:
                drained = await drain(
                    dbs,
                    url,
                    service,
                    setup,
                    log_dir,
                    Backlog(),
                    tag=f"{name}-{x}",
                    **point_drain(name, x),
                )
            points = with_round(points, x, *_rate_and_cpu(drained))
            say(f"{name} curve, round {round_}, {x_label} {x:,}: {_said(drained)}")
    return Curve(name, x_label, points)


async def ordering_ingest_curve(dbs: Databases, setup: CurvesSetup, say: Say) -> Curve:
    """`Store.enqueue_many` with chatOrdering off (0) and over each number of chats, each point
    once per round on a fresh database, as the drains are: what parking new jobs costs."""
    points: tuple[Point, ...] = ()
    xs = (0, *setup.chats)
    for round_ in range(1, setup.rounds + 1):
        for chats in xs:
            async with dbs.fresh() as url:
                stored = await ingest(url, BACKLOG_FIRST_ID, setup.jobs, chats)
            points = with_round(points, chats, stored)
            say(f"ordering ingest, round {round_}, {chats:,} chats: {stored:,.0f} jobs/s")
    return Curve("ordering_ingest", "chats, ordering on (0: off; ingest)", points)


def backlog_for(name: str, setup: CurvesSetup) -> int:
    """The bots curve drains at least JOBS_PER_BOT jobs per bot at its largest point, the same
    backlog at every point: each bot's first job creates its metric series, a once-per-bot
    cost that would otherwise be half of a 20,000-job backlog over 10,000 bots."""
    if name == "bots" and setup.bots:
        return max(setup.jobs, JOBS_PER_BOT * max(setup.bots))
    return setup.jobs


def _point_args(name: str, x: int) -> dict[str, int]:
    if name == "bots":
        return {"bots": x}
    if name == "processes":
        return {"processes": x}
    if name == "ordering":
        return {"chats": x}
    return {}


async def end_to_end(
    dbs: Databases, setup: CurvesSetup, service: ServiceSetup, log_dir: Path
) -> EndToEnd:
    """Updates posted to the webhook (closed loop, the load generator's connections) and
    handled by the worker of the same process; CPU of the process and of PostgreSQL from the
    first post until the last completion, per update."""
    async with dbs.fresh() as url:
        args = ["--database-url", url, "--role", "all", "--drain-jobs", str(10**12)]
        async with started("curve-cpu", "service", args, log_dir, service_env(service)) as server:
            postmaster = dbs.postmaster_pid()
            before = _cpu([server], postmaster)
            began = time.perf_counter()
            load = replace(service, seconds=setup.cpu_seconds, warmup_s=1.0, profile=False)
            result = await run_loadgen(
                "closed",
                server,
                load,
                ["--warmup", "1", "--seconds", str(setup.cpu_seconds)],
                CpuMeter(server.pid, postmaster),
                log_dir,
                "curve-cpu",
            )
            answered = int(result["answers"].get("200", 0))
            handled = await _until_processed([server], answered, setup.budget_s)
            seconds = time.perf_counter() - began
            after = _cpu([server], postmaster)
    if handled < answered:
        raise RuntimeError(f"cpu per update: {answered} answered but {handled} handled")
    return EndToEnd(
        updates=answered,
        ingest_req_per_s=float(result["req_per_s"]),
        seconds=seconds,
        server_cpu_s=after[0] - before[0],
        pg_cpu_s=after[1] - before[1],
    )


async def measure(
    dbs: Databases, setup: CurvesSetup, service: ServiceSetup, log_dir: Path, say: Say
) -> CurvesResults:
    service = replace(service, worker_concurrency=None, profile=False)
    curves: dict[str, Curve] = {}
    fill_seconds: dict[int, float] = {}
    if "rows" in setup.curves:
        curves["rows"], curves["rows_ingest"] = await rows_curve(
            dbs, setup, service, log_dir, say, fill_seconds
        )
    interleaved = (
        ("bots", "bots served", setup.bots),
        ("processes", "gateway processes", setup.processes),
        # 0 chats: chatOrdering off (no chat keys), the baseline the other points are read by.
        ("ordering", "chats, ordering on (0: off)", (0, *setup.chats)),
    )
    for name, x_label, xs in interleaved:
        if name in setup.curves:
            run = replace(setup, jobs=backlog_for(name, setup))
            curves[name] = await interleaved_curve(
                name, x_label, xs, dbs, run, service, log_dir, say, _point_args
            )
    if "ordering" in setup.curves:
        curves["ordering_ingest"] = await ordering_ingest_curve(dbs, setup, say)
    e2e = None
    if "cpu" in setup.curves:
        e2e = await end_to_end(dbs, setup, service, log_dir)
        say(
            f"end to end, {e2e.updates:,} updates (ingest {e2e.ingest_req_per_s:,.0f} req/s): "
            f"gateway {e2e.server_us:.0f} us, postgres {e2e.pg_us:.0f} us CPU per update"
        )
    return CurvesResults(curves, fill_seconds, e2e)


# -- figures ----------------------------------------------------------------------------------

RATIOS = (
    (
        "rows",
        "drain_10m_rows_vs_small",
        "drain with {top:,} finished rows in the table vs {first:,}",
        0.7,
    ),
    (
        "rows_ingest",
        "ingest_10m_rows_vs_small",
        "ingest (enqueue_many) with {top:,} finished rows in the table vs {first:,}",
        None,
    ),
    ("bots", "drain_10k_bots_vs_one", "drain spread over {top:,} bots vs {first:,} bot", 0.7),
    ("processes", "drain_4_processes_vs_one", "drain, {top} gateway processes vs {first}", None),
    (
        "ordering",
        "drain_ordering_10k_chats_vs_off",
        "drain, chatOrdering on over {top:,} chats vs off",
        None,
    ),
    (
        "ordering_ingest",
        "ingest_ordering_10k_chats_vs_off",
        "ingest (enqueue_many), chatOrdering on over {top:,} chats vs off",
        None,
    ),
)
"""(curve, results.json key, label, target) of the rows the table prints: each curve's last
point against its first."""


def figures(measured: CurvesResults) -> tuple[dict[str, float], list[Row]]:
    rows: list[Row] = []
    results: dict[str, float] = {}
    for name, metric, label, target in RATIOS:
        curve = measured.curves.get(name)
        if curve is None or len(curve.points) < 2:
            continue
        top, first = curve.top, curve.points[0]
        # Read against the small case measured beside it where there is one (see Curve.controls).
        small = curve.reference(top.x).best
        comparison = Comparison(
            metric, label.format(top=top.x, first=first.x), top.best, small, target=target
        )
        rows.append(comparison)
        results[metric] = comparison.ratio
        for point in curve.controls:
            results[f"curve_{name}_{point.x}_control_jobs_per_s"] = point.best
        for point in curve.points:
            key = f"curve_{name}_{point.x}"
            results[f"{key}_jobs_per_s"] = point.best
            results[f"{key}_gateway_cpu_us_per_job"] = point.gateway_us
            results[f"{key}_postgres_cpu_us_per_job"] = point.postgres_us
    for size, seconds in measured.fill_seconds.items():
        results[f"curve_rows_{size}_fill_s"] = seconds
    e2e = measured.end_to_end
    if e2e is not None:
        results |= {
            "cpu_us_per_update_gateway": e2e.server_us,
            "cpu_us_per_update_postgres": e2e.pg_us,
            "cpu_updates": e2e.updates,
            "cpu_ingest_req_per_s": e2e.ingest_req_per_s,
        }
    return results, rows


# -- options and output -----------------------------------------------------------------------

CURVE_NAMES = ("rows", "bots", "processes", "ordering", "cpu")


def add_arguments(parser: argparse.ArgumentParser, defaults: CurvesSetup) -> None:
    group = parser.add_argument_group("how cost grows: drain curves and CPU per update")
    group.add_argument(
        "--curve-jobs", type=int, default=defaults.jobs, help="the backlog of each drain"
    )
    group.add_argument(
        "--curve-rounds",
        type=int,
        default=defaults.rounds,
        help="drains per point; each point's best counts",
    )
    group.add_argument(
        "--curve-max-rows",
        type=int,
        default=defaults.max_rows,
        help="the largest history of the rows curve (10x steps from 10,000; the issue's: "
        "10000000, minutes of filling and a few GB of disk)",
    )
    group.add_argument(
        "--curve-budget",
        type=float,
        default=defaults.budget_s,
        help="seconds a drain may run before it is measured as jobs done / elapsed",
    )
    group.add_argument(
        "--curve",
        choices=CURVE_NAMES,
        action="append",
        help="measure only this curve (repeat for several): " + ", ".join(CURVE_NAMES),
    )


def setup_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> CurvesSetup:
    if args.curve_jobs < 1 or args.curve_rounds < 1 or args.curve_max_rows < 1:
        parser.error("--curve-jobs, --curve-rounds and --curve-max-rows must be at least 1")
    return replace(
        CurvesSetup(),
        jobs=args.curve_jobs,
        rounds=args.curve_rounds,
        max_rows=args.curve_max_rows,
        budget_s=args.curve_budget,
        curves=tuple(args.curve) if args.curve else CURVE_NAMES,
    )


def report(measured: CurvesResults, out: Path, show: Callable[[str], None]) -> None:
    """Each curve as a table (cliffs marked) and all of them in `out/curves.png`."""
    for curve in measured.curves.values():
        show(f"\n{curve.name} curve:\n{describe(curve)}")
        for point in cliffs(curve):
            show(f"CLIFF: {curve.name} at {point.x:,}: {curve.vs_first(point.x):.2f}x the first")
    if measured.fill_seconds:
        fills = ", ".join(f"{s:,}: {t:.0f}s" for s, t in measured.fill_seconds.items())
        show(f"history fill + settle: {fills}")
    if measured.curves:
        path = out / "curves.png"
        write_curves_chart(path, list(measured.curves.values()))
        show(f"wrote {path}")
