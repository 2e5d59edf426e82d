"""telegram-echo and the Bot API client against a local fake Bot API."""

import itertools

import aiohttp
import pytest

from tests.support.fake_telegram import FakeTelegram
from tests.support.service import (
    TOKEN,
    bot,
    count,
    post,
    rows,
    running,
    settings_for,
    text_update,
    wait_until,
)

pytestmark = pytest.mark.integration


async def test_echo_sends_the_same_text_back(database_url: str, telegram: FakeTelegram) -> None:
    settings = settings_for(
        database_url, bot("echo", "telegram-echo"), telegram_api_base=telegram.base_url
    )
    async with running(settings) as svc, aiohttp.ClientSession() as http:
        update = text_update(10, 555, text="שלום 👋")
        assert (await post(http, f"{svc.url}/webhook/echo", update)).status == 200
        await wait_until(lambda: count(database_url, "status = 'done'"), message="job done")
    [call] = telegram.calls
    assert call.token == TOKEN
    assert call.method == "sendMessage"
    assert call.params["chat_id"] == 555
    assert call.params["text"] == "שלום 👋"
    assert call.params["reply_parameters"]["message_id"] == 10


async def test_echo_ignores_updates_without_text(database_url: str, telegram: FakeTelegram) -> None:
    settings = settings_for(
        database_url, bot("echo", "telegram-echo"), telegram_api_base=telegram.base_url
    )
    async with running(settings) as svc, aiohttp.ClientSession() as http:
        update = {"update_id": 3, "inline_query": {"id": "1", "from": {"id": 1}, "query": "x"}}
        assert (await post(http, f"{svc.url}/webhook/echo", update)).status == 200
        await wait_until(lambda: count(database_url, "status = 'done'"), message="job done")
    assert telegram.calls == []


async def test_429_retry_after_is_honoured(database_url: str, telegram: FakeTelegram) -> None:
    telegram.fail_next(429, retry_after=2)
    settings = settings_for(
        database_url, bot("echo", "telegram-echo"), telegram_api_base=telegram.base_url
    )
    async with running(settings) as svc, aiohttp.ClientSession() as http:
        assert (await post(http, f"{svc.url}/webhook/echo", text_update(1, 77))).status == 200
        await wait_until(lambda: count(database_url, "status = 'done'"), message="job done")
    refused, sent = telegram.calls
    assert refused.params["_ok"] is False
    # the queue's backoff is 100 ms here; Telegram's retry_after wins, and the job was
    # rescheduled (attempt 2), not kept waiting in its worker slot
    assert sent.at - refused.at >= 1.9
    [job] = await rows(database_url)
    assert job["attempts"] == 2


async def test_permanent_bot_api_error_is_dead(database_url: str, telegram: FakeTelegram) -> None:
    telegram.fail_next(403, description="Forbidden: bot was blocked by the user")
    settings = settings_for(
        database_url, bot("echo", "telegram-echo"), telegram_api_base=telegram.base_url
    )
    async with running(settings) as svc, aiohttp.ClientSession() as http:
        assert (await post(http, f"{svc.url}/webhook/echo", text_update(1, 77))).status == 200
        await wait_until(lambda: count(database_url, "status = 'dead'"), message="job dead")
    [job] = await rows(database_url)
    assert "blocked" in job["last_error"]
    assert TOKEN not in job["last_error"]


async def test_per_chat_rate_is_kept_when_one_chat_floods(
    database_url: str, telegram: FakeTelegram
) -> None:
    settings = settings_for(
        database_url, bot("echo", "telegram-echo"), telegram_api_base=telegram.base_url
    )
    flood = [text_update(i, 1000, text=f"flood {i}") for i in range(1, 5)]
    other = text_update(100, 2000, text="other chat")
    async with running(settings) as svc, aiohttp.ClientSession() as http:
        for update in [*flood, other]:
            assert (await post(http, f"{svc.url}/webhook/echo", update)).status == 200
        await wait_until(
            lambda: count(database_url, "status = 'done'"), message="all done", timeout=30
        )
        await wait_until(lambda: len(telegram.sent()) == 5, message="five replies", timeout=30)
    to_flood = [c.at for c in telegram.sent() if c.params["chat_id"] == 1000]
    to_other = [c.at for c in telegram.sent() if c.params["chat_id"] == 2000]
    assert len(to_flood) == 4
    gaps = [b - a for a, b in itertools.pairwise(to_flood)]
    assert all(gap >= 0.95 for gap in gaps), gaps
    # the other chat is not queued behind the flood
    assert to_other[0] < to_flood[-1]
