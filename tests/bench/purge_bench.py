"""The janitor under load: a purge of `--purge-rows` old `done` rows while the real webhook
service takes updates at a steady rate.

One database is filled with SQL (not through the API), then cloned, so the janitor and the
baseline work identical tables. For each: the service (`--role webhook`) takes open-loop updates
from a pacer process at a fixed rate; after a warm-up and a quiet window the purge starts in
this process, and the pacer stops once it ends. Every update's latency (from when it was due to
its 200, so a stall is not hidden by the pacer waiting) is stamped with when it was due, on
the machine's monotonic clock, which this process shares; requests due before the purge make
the quiet figure, those due during it the loaded one. Meanwhile a sampler reads `pg_locks` and
`pg_stat_activity` for any backend waiting on a lock, and for what the ingest backends wait on.

- ours: `janitor.run_once` (the CronJob's `botgateway janitor --once`): bounded batches, each
  timed; the longest is how long the purge held any row lock.
- baseline: the seed's `purgeDoneSQL` (one `DELETE ... WHERE status = 'done' AND updated_at <
  ...`), which holds every row lock it takes until its single statement commits.

The pacer is this module run as a process (`python -m tests.bench.purge_bench pace ...`): the
service bench's load generator runs for a fixed time, and a purge's length is not known ahead.
"""

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from botgateway.janitor import run_once
from botgateway.queue import QueueSettings, Store

from .databases import Databases, settle
from .loadgen import LOOPBACK, Client, percentile, session
from .service_bench import ROOT, Cpu, CpuMeter, Server, open_log, started
from .service_server import SECRET
from .workload import BOT_SLUG, HANDLER_TYPE

RETENTION = timedelta(hours=168)
"""QUEUE_DONE_RETENTION's default: the janitor and the baseline purge what is older."""
SERVICE_RETENTION = "87600h"
"""The service's own in-process janitor keeps everything, so only the measured purge deletes."""
EXTRA_ROWS_PER_KIND = 10_000
"""Rows the purge must leave alone: dead (as old as the rest), pending, and recently done."""
LOAD_FIRST_ID = 10_000_000_000
"""Update ids of the load, far above the filled rows' (a redelivery would be a no-op)."""
SAMPLE_INTERVAL_S = 0.01
PACER_LIMIT_S = 900.0
"""The pacer stops by itself after this long, whatever happens to the bench."""
DRAIN_TIMEOUT_S = 60.0

SEED_PURGE_SQL = """
DELETE FROM gateway_jobs
WHERE status = 'done'
AND updated_at < NOW() - make_interval(secs => $1::int)
"""
"""The seed's purgeDoneSQL (seeds/000_9a3436755a2c9b22.txt, queue.go), verbatim."""

FILL_SQL = """
INSERT INTO gateway_jobs (bot_slug, handler_type, update_id, payload, status, attempts,
                          next_retry_at, created_at, updated_at)
SELECT $1, $2, g,
       jsonb_build_object(
           'update_id', g,
           'message', jsonb_build_object(
               'message_id', g,
               'date', 1700000000 + g,
               'chat', jsonb_build_object('id', 100000 + g % 64, 'type', 'private',
                                          'first_name', 'Bench'),
               'from', jsonb_build_object('id', 100000 + g % 64, 'is_bot', false,
                                          'first_name', 'Bench'),
               'text', 'hello ' || g)),
       kind.status, kind.attempts, at.ts, at.ts - interval '1 second', at.ts
FROM generate_series(1, $3::int + $4::int * 3) AS g,
LATERAL (SELECT CASE
                    WHEN g <= $3 THEN 0
                    ELSE (g - $3) % 3 + 1
                END AS n) AS pick,
LATERAL (SELECT (ARRAY['done', 'dead', 'pending', 'done'])[pick.n + 1] AS status,
                CASE WHEN pick.n = 2 THEN 0 ELSE 1 END AS attempts) AS kind,
LATERAL (SELECT CASE
                    WHEN pick.n = 3 THEN now() - interval '1 hour'
                    WHEN pick.n = 2 THEN now() + interval '1 hour'
                    ELSE now() - make_interval(secs => $5) - interval '1 day'
                         - ($3::int + $4::int * 3 - g) * interval '1 second'
                END AS ts) AS at
"""
"""`$3` done rows past retention, one per second of age, oldest first (as a live queue leaves
them), then `$4` each of: dead rows as old, pending rows not yet due, done rows an hour old."""

KINDS_SQL = """
SELECT count(*) FILTER (WHERE status = 'done' AND updated_at < now() - make_interval(secs => $1))
           AS eligible,
       count(*) FILTER (WHERE status = 'done' AND updated_at >= now() - make_interval(secs => $1)
                        AND update_id < $2) AS recent_done,
       count(*) FILTER (WHERE status = 'dead') AS dead,
       count(*) FILTER (WHERE status = 'pending' AND update_id < $2) AS pending,
       count(*) FILTER (WHERE update_id >= $2) AS ingested
FROM gateway_jobs
"""

LOCK_WAITS_SQL = """
SELECT l.pid, l.waitstart, extract(epoch FROM clock_timestamp() - l.waitstart) * 1000 AS ms,
       EXISTS (SELECT 1 FROM pg_stat_activity b
               WHERE b.pid = ANY (pg_blocking_pids(l.pid))
                 AND b.query LIKE '%DELETE FROM gateway_jobs%') AS behind_purge
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE NOT l.granted AND a.datname = current_database() AND l.waitstart IS NOT NULL
"""
"""Every backend of the database waiting on a lock right now, for how long so far, and whether
a purge statement (ours or the seed's) is what it waits behind."""

INGEST_WAITS_SQL = """
SELECT coalesce(wait_event_type || ':' || wait_event, 'cpu') AS waiting, count(*) AS n
FROM pg_stat_activity
WHERE datname = current_database() AND state = 'active'
  AND query LIKE '%INSERT INTO gateway_jobs%'
GROUP BY 1
"""
"""What the service's ingest statements are doing right now (on CPU, or waiting on what)."""

AUTOVACUUM_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'autovacuum worker'
"""
"""Whether autovacuum is working in this database (it competes with ingest for the disk too)."""


@dataclass(frozen=True)
class PurgeSetup:
    rows: int = 1_000_000
    rate: float = 500.0
    """Updates per second into the webhook, open loop."""
    connections: int = 64
    warmup_s: float = 5.0
    """The service's first seconds (new connections, first plans) are not part of the quiet
    window."""
    quiet_s: float = 10.0
    """The quiet window right before each purge: the baseline of its latency ratio."""
    pool_size: int = 10
    log_level: str = "INFO"


@dataclass(frozen=True)
class Window:
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int

    @classmethod
    def of(cls, latencies: Sequence[float]) -> "Window":
        ordered = sorted(latencies)
        return cls(
            percentile(ordered, 50),
            percentile(ordered, 99),
            ordered[-1] if ordered else 0.0,
            len(ordered),
        )


@dataclass(frozen=True)
class Purged:
    rows: int
    batches: int
    longest_lock_s: float


@dataclass
class LockWaits:
    """Lock waits seen by the sampler: the longest, how many distinct waits, how many were
    behind a purge statement; and what the ingest statements were seen doing."""

    longest_ms: float = 0.0
    waits: set[tuple[int, Any]] = field(default_factory=set)
    behind_purge: set[tuple[int, Any]] = field(default_factory=set)
    ingest: Counter[str] = field(default_factory=Counter)
    samples: int = 0
    autovacuum: int = 0
    """Samples in which an autovacuum worker was busy in the database."""


@dataclass(frozen=True)
class PurgeRun:
    name: str
    purged: Purged
    seconds: float
    quiet: Window
    during: Window
    waits: LockWaits
    cpu: Cpu

    @property
    def rows_per_s(self) -> float:
        return self.purged.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def p99_ratio(self) -> float:
        return self.during.p99_ms / self.quiet.p99_ms if self.quiet.p99_ms > 0 else 0.0


@dataclass(frozen=True)
class PurgeResults:
    ours: PurgeRun
    seed: PurgeRun


Say = Callable[[str], None]
Run = Callable[[], Awaitable[Purged]]
Purge = Callable[[str], contextlib.AbstractAsyncContextManager[Run]]
"""Connects to the database at this URL (untimed), then yields the purge to time."""


# -- the pacer (its own process) ------------------------------------------------------------


async def pace(url: str, secret: str, rate: float, connections: int, first_id: int) -> None:
    """Send updates at `rate` until stdin closes (or the safety limit), then print every
    update's (due, latency ms, status) as one JSON line."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wait_for_eof() -> None:
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, name="stdin-eof", daemon=True).start()
    samples: list[tuple[float, float, str]] = []
    async with session(connections) as http:
        client = Client(http, url, secret)

        async def one(k: int, due: float) -> None:
            status = await client.post(first_id + k)
            samples.append((due, (time.perf_counter() - due) * 1000, str(status)))

        tasks: list[asyncio.Task[None]] = []
        origin = time.perf_counter() + 0.01
        limit = origin + PACER_LIMIT_S
        print(json.dumps({"event": "started", "origin": origin}), flush=True)
        k = 0
        while not stop.is_set() and time.perf_counter() < limit:
            due = origin + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            tasks.append(asyncio.create_task(one(k, due)))
            k += 1
        await asyncio.gather(*tasks)
    print(json.dumps({"result": {"samples": samples}}), flush=True)


@dataclass
class Pacer:
    proc: asyncio.subprocess.Process
    origin: float

    async def finish(self) -> list[tuple[float, float, str]]:
        """Stop sending, wait for every answer, return the samples."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.close()
        line = await asyncio.wait_for(self.proc.stdout.readline(), DRAIN_TIMEOUT_S)
        await self.proc.wait()
        if self.proc.returncode != 0 or not line:
            raise RuntimeError(f"the pacer failed (exit {self.proc.returncode})")
        return [(float(d), float(ms), str(s)) for d, ms, s in json.loads(line)["result"]["samples"]]


@contextlib.asynccontextmanager
async def pacing(server: Server, setup: PurgeSetup, log: Path) -> AsyncIterator[Pacer]:
    with open_log(log) as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bench.purge_bench",
            "pace",
            "--url",
            server.webhook,
            "--secret",
            SECRET,
            "--rate",
            str(setup.rate),
            "--connections",
            str(setup.connections),
            "--first-id",
            str(LOAD_FIRST_ID),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
            limit=2**30,
        )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), DRAIN_TIMEOUT_S)
        if not line:
            raise RuntimeError(f"the pacer did not start; see {log}")
        yield Pacer(proc, float(json.loads(line)["origin"]))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# -- the two purges -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def janitor_purge(url: str) -> AsyncIterator[Run]:
    """One janitor round, as `botgateway janitor --once` runs it."""
    store = await Store.connect(url, min_size=2, max_size=2)
    settings = QueueSettings(database_url=url, done_retention=RETENTION)

    async def run() -> Purged:
        result = await run_once(store, settings)
        if not result.ran:
            raise RuntimeError("the janitor did not run: another held its lock")
        return Purged(result.purged, result.purge_batches, result.purge_longest_batch_s)

    try:
        yield run
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def seed_purge(url: str) -> AsyncIterator[Run]:
    """The seed's purgeDoneSQL: one statement, so its duration is how long it held its locks."""
    conn = await asyncpg.connect(url)

    async def run() -> Purged:
        began = time.perf_counter()
        status = await conn.execute(SEED_PURGE_SQL, int(RETENTION.total_seconds()))
        return Purged(int(status.rsplit(" ", 1)[1]), 1, time.perf_counter() - began)

    try:
        yield run
    finally:
        await conn.close()


# -- one measured purge ---------------------------------------------------------------------


async def sample_waits(url: str, stop: asyncio.Event) -> LockWaits:
    seen = LockWaits()
    conn = await asyncpg.connect(url)
    try:
        while not stop.is_set():
            for row in await conn.fetch(LOCK_WAITS_SQL):
                key = (row["pid"], row["waitstart"])
                seen.waits.add(key)
                seen.longest_ms = max(seen.longest_ms, float(row["ms"]))
                if row["behind_purge"]:
                    seen.behind_purge.add(key)
            for row in await conn.fetch(INGEST_WAITS_SQL):
                seen.ingest[row["waiting"]] += row["n"]
            seen.autovacuum += 1 if await conn.fetchval(AUTOVACUUM_SQL) else 0
            seen.samples += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_INTERVAL_S)
    finally:
        await conn.close()
    return seen


def service_env(setup: PurgeSetup) -> dict[str, str]:
    return {
        "DATABASE_POOL_SIZE": str(setup.pool_size),
        "LOG_LEVEL": setup.log_level,
        "QUEUE_DONE_RETENTION": SERVICE_RETENTION,
    }


async def measure_one(
    name: str,
    url: str,
    purge: Purge,
    setup: PurgeSetup,
    postmaster: int | None,
    log_dir: Path,
) -> PurgeRun:
    await settle(url)
    before = await kinds(url)
    args = ["--database-url", url, "--role", "webhook"]
    async with (
        started(f"purge-{name}", "service", args, log_dir, service_env(setup)) as server,
        pacing(server, setup, log_dir / f"purge-{name}-pacer.log") as pacer,
    ):
        quiet_from = pacer.origin + setup.warmup_s
        await asyncio.sleep(max(0.0, quiet_from + setup.quiet_s - time.perf_counter()))
        meter = CpuMeter(server.pid, postmaster)
        meter.loadgen_pid = pacer.proc.pid
        stop = asyncio.Event()
        async with purge(url) as run:
            sampler = asyncio.create_task(sample_waits(url, stop))
            meter.start()
            began = time.perf_counter()
            try:
                purged = await run()
            finally:
                ended = time.perf_counter()
                meter.stop()
                stop.set()
                waits = await sampler
        samples = await pacer.finish()
    (log_dir / f"purge-{name}-samples.json").write_text(
        json.dumps({"quiet_from": quiet_from, "began": began, "ended": ended, "samples": samples})
    )
    bad = Counter(status for _, _, status in samples if status != "200")
    if bad:
        raise RuntimeError(f"purge-{name}: answers other than 200 during the run: {dict(bad)}")
    after = await kinds(url)
    _check_purged(name, before, after, purged, len(samples))
    return PurgeRun(
        name=name,
        purged=purged,
        seconds=ended - began,
        quiet=Window.of([ms for due, ms, _ in samples if quiet_from <= due < began]),
        during=Window.of([ms for due, ms, _ in samples if began <= due <= ended]),
        waits=waits,
        cpu=meter.result,
    )


async def kinds(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(KINDS_SQL, RETENTION.total_seconds(), LOAD_FIRST_ID)
    finally:
        await conn.close()
    assert row is not None
    return dict(row)


def _check_purged(
    name: str, before: dict[str, int], after: dict[str, int], purged: Purged, answered: int
) -> None:
    problems = []
    if purged.rows != before["eligible"] or after["eligible"] != 0:
        problems.append(
            f"purged {purged.rows} of {before['eligible']} eligible rows, {after['eligible']} left"
        )
    for kind in ("recent_done", "dead", "pending"):
        if after[kind] != before[kind]:
            problems.append(f"{kind}: {before[kind]} before, {after[kind]} after")
    if after["ingested"] < answered:
        problems.append(f"answered {answered} x 200 but stored {after['ingested']}")
    if problems:
        raise RuntimeError(f"purge-{name}: " + "; ".join(problems))


# -- both -----------------------------------------------------------------------------------


async def fill(url: str, rows: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            FILL_SQL, BOT_SLUG, HANDLER_TYPE, rows, EXTRA_ROWS_PER_KIND, RETENTION.total_seconds()
        )
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def clone(url: str, admin_url: str) -> AsyncIterator[str]:
    """A copy of the database at `url` (which must have no connections), made and dropped
    over a connection to another database of the same server."""
    parts = urlsplit(url)
    source = parts.path.lstrip("/")
    name = f"{source}_copy"
    admin = await asyncpg.connect(admin_url)
    try:
        deadline = time.perf_counter() + DRAIN_TIMEOUT_S
        while True:
            try:
                # FILE_COPY: the default (WAL_LOG) writes the whole copy through the WAL
                await admin.execute(
                    f'CREATE DATABASE "{name}" TEMPLATE "{source}" STRATEGY FILE_COPY'
                )
                break
            except asyncpg.ObjectInUseError:
                # a connection we closed a moment ago may not have left the server yet
                if time.perf_counter() > deadline:
                    raise
                await asyncio.sleep(0.05)
        try:
            yield urlunsplit(parts._replace(path=f"/{name}"))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def describe(run: PurgeRun) -> str:
    waits = run.waits
    ingest = ", ".join(f"{k} {v}" for k, v in waits.ingest.most_common(4)) or "none"
    pg = f", postgres {run.cpu.pg:.2f}" if run.cpu.pg is not None else ""
    return (
        f"purge, {run.name}: {run.purged.rows:,} rows in {run.seconds:.1f}s "
        f"({run.rows_per_s:,.0f} rows/s, {run.purged.batches} statement(s), longest "
        f"{run.purged.longest_lock_s * 1000:.0f} ms); ingest p99 {run.quiet.p99_ms:.1f} ms quiet "
        f"({run.quiet.samples:,} updates) -> {run.during.p99_ms:.1f} ms during "
        f"({run.during.samples:,}; max {run.during.max_ms:.0f} ms), x{run.p99_ratio:.2f}; "
        f"lock waits seen: {len(waits.waits)} (behind the purge {len(waits.behind_purge)}, "
        f"longest {waits.longest_ms:.0f} ms) in {waits.samples:,} samples, autovacuum busy in "
        f"{waits.autovacuum:,}; ingest statements "
        f"seen: {ingest}; cores: server {run.cpu.server:.2f}{pg}, pacer {run.cpu.loadgen:.2f}, "
        f"rest of the machine {run.cpu.others:.2f}"
    )


async def measure(dbs: Databases, setup: PurgeSetup, log_dir: Path, say: Say) -> PurgeResults:
    """Fill once, clone, then the seed's DELETE on the copy and the janitor on the original."""
    postmaster = dbs.postmaster_pid()
    async with dbs.fresh() as url, dbs.fresh() as admin_url:
        began = time.perf_counter()
        await fill(url, setup.rows)
        say(f"purge: filled {setup.rows:,} old done rows in {time.perf_counter() - began:.0f}s")
        await settle(url)
        async with clone(url, admin_url) as copy:
            seed = await measure_one("seed-delete", copy, seed_purge, setup, postmaster, log_dir)
        say(describe(seed))
        ours = await measure_one("janitor", url, janitor_purge, setup, postmaster, log_dir)
        say(describe(ours))
    return PurgeResults(ours, seed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.purge_bench")
    sub = parser.add_subparsers(dest="command", required=True)
    pace_cmd = sub.add_parser("pace", help="the purge bench's pacer (run by the bench)")
    pace_cmd.add_argument("--url", required=True)
    pace_cmd.add_argument("--secret", required=True)
    pace_cmd.add_argument("--rate", type=float, required=True)
    pace_cmd.add_argument("--connections", type=int, default=64)
    pace_cmd.add_argument("--first-id", type=int, default=LOAD_FIRST_ID)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if urlsplit(args.url).hostname not in LOOPBACK:
        parser.error("--url must be a loopback address")
    if args.rate <= 0 or args.connections < 1:
        parser.error("--rate and --connections must be positive")
    asyncio.run(pace(args.url, args.secret, args.rate, args.connections, args.first_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
