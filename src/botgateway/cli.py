"""`botgateway` subcommands. Errors a person can fix end in one line and exit 2 (bad settings)
or 1 (database unreachable), never a traceback. Logging is set up once, here, for every command
(LOG_FORMAT, LOG_LEVEL); with JSON logs, what a command reports goes out as JSON lines too."""

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict
from datetime import datetime
from importlib import metadata
from typing import Any

from botgateway import arguments
from botgateway.console import JOB_COLUMNS, job_row, next_retry, render_job, render_table
from botgateway.contract.environment import BOTGATEWAY_EVENT_LOOP, JANITOR_POOL_SIZE
from botgateway.janitor import log_round, run_loop, run_once
from botgateway.logs import configure_from_env, json_logs
from botgateway.operator.commands import add_commands as add_operator_commands
from botgateway.queue import (
    COMMAND_POOL_SIZE,
    STATUSES,
    DatabaseSettings,
    JobSummary,
    QueueError,
    QueueSettings,
    SettingsError,
    Store,
)
from botgateway.service.commands import add_commands
from botgateway.service.runner import run, stop_on_signals
from botgateway.wiring import janitor_maintenance

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
log = logging.getLogger("botgateway")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command = args.command
    try:
        configure_from_env(os.environ)
        # serve and dev run on BOTGATEWAY_EVENT_LOOP (uvloop by default); the rest on asyncio's.
        loop = BOTGATEWAY_EVENT_LOOP.read(os.environ) if args.event_loop else "asyncio"
        return run(lambda: command(args), loop)
    except SettingsError as exc:
        return _fail(exc, 2)
    except QueueError as exc:  # DatabaseUnavailable included
        return _fail(exc, 1)
    except KeyboardInterrupt:
        return 130


def _fail(exc: Exception, code: int) -> int:
    if json_logs():
        log.error(str(exc), extra={"exit_code": code})
    else:
        print(f"botgateway: {exc}", file=sys.stderr)
    return code


def report(message: str, **fields: object) -> None:
    """A command's result: a line on stdout for people, a JSON log line in containers."""
    if json_logs():
        log.info(message, extra=fields)
    else:
        print(message)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="botgateway", description="Kubernetes-native Telegram bot gateway."
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {metadata.version('botgateway')}",
        help="print the installed version and exit",
    )
    parser.set_defaults(event_loop=False)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    migrate = sub.add_parser("migrate", help="apply database migrations (idempotent)")
    migrate.set_defaults(command=cmd_migrate)

    janitor = sub.add_parser("janitor", help="recover stuck jobs and purge old done jobs")
    janitor.add_argument("--once", action="store_true", help="one round, then exit (CronJob)")
    janitor.set_defaults(command=cmd_janitor)

    jobs = sub.add_parser("jobs", help="inspect and requeue jobs")
    jobs_sub = jobs.add_subparsers(required=True, metavar="ACTION")
    stats = jobs_sub.add_parser("stats", help="job counts per bot and status")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.set_defaults(command=cmd_jobs_stats)
    listing = jobs_sub.add_parser("list", help="most recent jobs first")
    listing.add_argument("--status", choices=STATUSES, help="only jobs in this status")
    listing.add_argument("--bot", help="only this bot's jobs")
    listing.add_argument(
        "--limit",
        type=arguments.list_limit,
        default=50,
        help=f"at most this many jobs, 1 to {arguments.LIST_LIMIT_MAX} (50)",
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(command=cmd_jobs_list)
    show = jobs_sub.add_parser(
        "show", help="one job in full: payload, attempts, last error, times, lease holder"
    )
    show.add_argument("id", type=arguments.job_id, help="the job's id (from `jobs list`)")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(command=cmd_jobs_show)
    retry = jobs_sub.add_parser("retry", help="requeue dead jobs with fresh attempts")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--id",
        type=arguments.job_id,
        action="append",
        dest="ids",
        help="a dead job's id (repeatable)",
    )
    which.add_argument("--all", action="store_true", help="every dead job (see --bot)")
    retry.add_argument("--bot", help="only this bot's dead jobs")
    retry.add_argument("--json", action="store_true", help="machine-readable output")
    retry.set_defaults(command=cmd_jobs_retry)
    add_commands(sub, maintenance=janitor_maintenance)
    add_operator_commands(sub)
    return parser


def queue_settings() -> QueueSettings:
    return QueueSettings.from_env(os.environ)


async def _with_store(
    database: DatabaseSettings,
    body: Callable[[Store], Awaitable[int]],
    *,
    pool_size: int = COMMAND_POOL_SIZE,
) -> int:
    """`migrate` and `jobs` read the database settings alone: no queue tuning can stop them."""
    store = await Store.open(database, min_size=1, max_size=pool_size)
    try:
        return await body(store)
    finally:
        await store.close()


async def cmd_migrate(_: argparse.Namespace) -> int:
    async def body(store: Store) -> int:
        applied = await store.migrate()
        for m in applied:
            report(f"applied {m.version:04d}_{m.name}", migration=m.version)
        if not applied:
            report("database schema is up to date")
        return 0

    return await _with_store(DatabaseSettings.from_env(os.environ), body)


async def cmd_janitor(args: argparse.Namespace) -> int:
    settings = queue_settings()

    async def body(store: Store) -> int:
        if args.once:
            result = await run_once(store, settings)
            if json_logs():
                log_round(result)
            else:
                print(result.summary())
            return 0
        stop = asyncio.Event()
        stop_on_signals(stop)
        await run_loop(store, settings, stop)  # each round is logged by the loop itself
        return 0

    pool_size = JANITOR_POOL_SIZE.read(os.environ)
    return await _with_store(settings.database, body, pool_size=pool_size)


async def cmd_jobs_stats(args: argparse.Namespace) -> int:
    async def body(store: Store) -> int:
        stats = await store.stats()
        if args.json:
            print(
                json.dumps(
                    {
                        "totals": stats.totals(),
                        "oldest_pending_seconds": stats.oldest_pending_seconds(),
                        "by_bot": [asdict(r) for r in stats.rows],
                    }
                )
            )
            return 0
        bots = sorted({r.bot_slug for r in stats.rows})
        rows: list[list[object]] = [
            [bot, *(stats.count(s, bot) for s in STATUSES), stats.oldest_pending_seconds(bot)]
            for bot in bots
        ]
        rows.append(["(all)", *(stats.count(s) for s in STATUSES), stats.oldest_pending_seconds()])
        print(render_table(["bot", *STATUSES, "oldest pending s"], rows))
        return 0

    return await _with_store(DatabaseSettings.from_env(os.environ), body)


async def cmd_jobs_list(args: argparse.Namespace) -> int:
    async def body(store: Store) -> int:
        jobs = await store.list_jobs(status=args.status, bot_slug=args.bot, limit=args.limit)
        if args.json:
            print(json.dumps([_job_fields(j) for j in jobs], default=_json_default))
        elif jobs:
            print(render_table(JOB_COLUMNS, [job_row(j) for j in jobs]))
        else:
            print("no jobs match")
        return 0

    return await _with_store(DatabaseSettings.from_env(os.environ), body)


async def cmd_jobs_show(args: argparse.Namespace) -> int:
    async def body(store: Store) -> int:
        job = await store.job(args.id)
        if job is None:
            return _fail(LookupError(f"no job with id {args.id}"), 1)
        if args.json:
            fields = {**_job_fields(job), "payload": json.loads(job.payload)}
            print(json.dumps(fields, default=_json_default))
        else:
            print(render_job(job))
        return 0

    return await _with_store(DatabaseSettings.from_env(os.environ), body)


async def cmd_jobs_retry(args: argparse.Namespace) -> int:
    async def body(store: Store) -> int:
        ids = await store.requeue_dead(ids=args.ids, bot_slug=args.bot)
        if args.json:
            print(json.dumps({"requeued": ids}))
        elif ids:
            print(f"requeued {len(ids)} dead job(s): {', '.join(map(str, ids))}")
        else:
            print("no dead jobs matched; nothing requeued")
        return 0

    return await _with_store(DatabaseSettings.from_env(os.environ), body)


def _job_fields(job: JobSummary) -> dict[str, object]:
    """A job for --json: `next_retry_at` is null unless the job is pending (and not waiting for
    its chat), as in the table."""
    return {**asdict(job), "next_retry_at": next_retry(job), "waits_for_chat": job.waits_for_chat}


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


if __name__ == "__main__":
    sys.exit(main())
