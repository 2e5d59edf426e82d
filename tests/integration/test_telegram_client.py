"""The Bot API client against the local fake: answers, error classes, token hygiene."""

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from botgateway import USER_AGENT
from botgateway.queue import Deferred, Failed
from botgateway.service.handlers.telegram_echo import job_outcome
from botgateway.telegram import TelegramClient, TelegramError
from botgateway.telegram.ratelimit import SendLimiter
from tests.support.fake_telegram import FakeTelegram

pytestmark = pytest.mark.integration

TOKEN = "4242:TopSecret_token"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_send_message_returns_the_result(
    telegram: FakeTelegram, session: aiohttp.ClientSession
) -> None:
    client = TelegramClient(session, telegram.base_url, TOKEN)
    result = await client.send_message(5, "hi")
    assert result["text"] == "hi"
    [call] = telegram.calls
    assert (call.token, call.method, call.params) == (
        TOKEN,
        "sendMessage",
        {"chat_id": 5, "text": "hi"},
    )
    assert call.user_agent == USER_AGENT


async def test_429_gives_retry_after_and_holds_the_chat(
    telegram: FakeTelegram, session: aiohttp.ClientSession
) -> None:
    client = TelegramClient(session, telegram.base_url, TOKEN)
    telegram.fail_next(429, retry_after=7)
    with pytest.raises(TelegramError) as info:
        await client.send_message(5, "hi")
    outcome = job_outcome(info.value)
    assert isinstance(outcome, Failed)
    assert outcome.retry_after == timedelta(seconds=7)
    assert not outcome.permanent
    # the chat is held back locally too: no request goes out before retry_after
    with pytest.raises(TelegramError) as again:
        await client.send_message(5, "hi")
    assert again.value.retry_after is not None
    assert again.value.retry_after > 6
    assert len(telegram.calls) == 1


@pytest.mark.parametrize(
    ("code", "permanent"), [(400, True), (403, True), (500, False), (502, False)]
)
async def test_error_classes(
    telegram: FakeTelegram, session: aiohttp.ClientSession, code: int, permanent: bool
) -> None:
    client = TelegramClient(session, telegram.base_url, TOKEN)
    telegram.fail_next(code, description=f"error {code}")
    with pytest.raises(TelegramError) as info:
        await client.call("getMe")
    assert job_outcome(info.value).permanent is permanent


async def test_flood_beyond_the_inline_wait_is_rescheduled_not_slept(
    telegram: FakeTelegram, session: aiohttp.ClientSession
) -> None:
    client = TelegramClient(
        session, telegram.base_url, TOKEN, limiter=SendLimiter(max_inline_wait=0)
    )
    await client.send_message(9, "one")
    with pytest.raises(TelegramError) as info:
        await client.send_message(9, "two")
    assert info.value.retry_after is not None
    assert 0 < info.value.retry_after <= 1.0
    assert len(telegram.calls) == 1
    # held back by our own limiter: the job waits without spending an attempt
    assert isinstance(job_outcome(info.value), Deferred)


async def test_connection_errors_never_show_the_token(session: aiohttp.ClientSession) -> None:
    closed = FakeTelegram()
    base = await closed.start()
    await closed.stop()
    client = TelegramClient(session, base, TOKEN)
    with pytest.raises(TelegramError) as info:
        await client.send_message(1, "x")
    assert TOKEN not in str(info.value)
    assert not job_outcome(info.value).permanent
