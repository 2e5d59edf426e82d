"""Helpers for the service tests: settings with fast retries, a running in-process service,
condition waits (never fixed sleeps) and webhook posts."""

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg

from botgateway.contract import BUILTIN, ForwardConfig, HandlerConfig, PluginConfig
from botgateway.queue import QueueSettings
from botgateway.service.app import Maintenance
from botgateway.service.bots import BotConfig
from botgateway.service.runner import RunningService
from botgateway.service.settings import ServiceSettings
from tests.support.waiting import eventually

TOKEN = "123456:TEST-token_abc"
SECRET = "s3cret-token"


def forward_bot(
    slug: str,
    url: str,
    *,
    secret: str | None = None,
    chat_ordering: bool = False,
    timeout: float = 5.0,
) -> BotConfig:
    return BotConfig(
        slug=slug,
        token=TOKEN,
        webhook_secret=secret,
        chat_ordering=chat_ordering,
        handler=ForwardConfig(url=url, timeout_seconds=timeout),
    )


def handler_config(kind: str) -> HandlerConfig:
    """A handler of `kind` without options (a plugin, when not built in)."""
    builtin = BUILTIN.get(kind)
    return builtin() if builtin is not None else PluginConfig(kind)  # type: ignore[call-arg]


def bot(slug: str, kind: str = "discard", **kwargs: Any) -> BotConfig:
    return BotConfig(
        slug=slug, token=kwargs.pop("token", TOKEN), handler=handler_config(kind), **kwargs
    )


def settings_for(database_url: str, *bots: BotConfig, **overrides: Any) -> ServiceSettings:
    queue = QueueSettings(
        database_url=database_url,
        backoff=(timedelta(milliseconds=100),),
        max_attempts=overrides.pop("max_attempts", 5),
        stuck_timeout=overrides.pop("stuck_timeout", timedelta(minutes=30)),
        janitor_interval=overrides.pop("janitor_interval", timedelta(hours=1)),
    )
    base: dict[str, Any] = {
        "queue": queue,
        "bots": bots,
        "host": "127.0.0.1",
        "port": 0,
        "shutdown_grace": timedelta(seconds=5),
        "poll_interval": timedelta(milliseconds=50),
    }
    base.update(overrides)
    return ServiceSettings(**base)


@asynccontextmanager
async def running(
    settings: ServiceSettings, *, maintenance: Maintenance | None = None
) -> AsyncIterator[RunningService]:
    service = RunningService(settings, maintenance=maintenance)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def wait_until(
    condition: Callable[[], Awaitable[bool] | bool],
    *,
    timeout: float = 15.0,
    interval: float = 0.02,
    message: str = "condition",
) -> None:
    """`eventually` for a condition that may be plain or awaitable."""

    async def probe() -> bool:
        result = condition()
        return result if isinstance(result, bool) else await result

    await eventually(probe, timeout=timeout, interval=interval, what=message)


async def post(
    http: aiohttp.ClientSession,
    url: str,
    body: Any,
    *,
    secret: str | None = None,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientResponse:
    data = body if isinstance(body, bytes | str) else json.dumps(body, ensure_ascii=False)
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    if secret is not None:
        sent["X-Telegram-Bot-Api-Secret-Token"] = secret
    async with http.post(url, data=data, headers=sent) as response:
        await response.read()
        return response


async def rows(database_url: str, sql: str = "SELECT * FROM gateway_jobs ORDER BY id") -> list[Any]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def count(database_url: str, where: str = "true") -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM gateway_jobs WHERE {where}"))
    finally:
        await conn.close()


def text_update(update_id: int, chat_id: int, text: str = "hi", **extra: Any) -> dict[str, Any]:
    chat_type = "private" if chat_id > 0 else "supergroup"
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": chat_type},
            "from": {"id": abs(chat_id) % 10**9, "is_bot": False, "first_name": "Ada"},
            "text": text,
            **extra,
        },
    }


async def job_row(database_url: str, update_id: int) -> dict[str, Any]:
    """The job of `update_id` as a dict; empty when there is none."""
    found = [dict(r) for r in await rows(database_url) if r["update_id"] == update_id]
    return found[0] if found else {}


async def handle_one_update(
    database_url: str,
    http: aiohttp.ClientSession,
    bot: BotConfig,
    *,
    expect: str,
    **overrides: Any,
) -> dict[str, Any]:
    """Run a gateway serving `bot`, post it update 5 and wait until that job is `expect`.
    Returns the job's row, with the gateway's /metrics text under "metrics"."""

    async def settled() -> bool:
        return (await job_row(database_url, 5)).get("status") == expect

    async with running(settings_for(database_url, bot, **overrides)) as svc:
        answer = await post(http, f"{svc.url}/webhook/{bot.slug}", text_update(5, 42))
        assert answer.status == 200
        await wait_until(settled, message=f"job {expect}")
        async with http.get(f"{svc.url}/metrics") as metrics:
            text = await metrics.text()
    return {**await job_row(database_url, 5), "metrics": text}
