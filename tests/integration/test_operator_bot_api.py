"""The operator's webhook management goes through the shared Bot API client: typed answers, and
a refusal or an unreachable API as the one TelegramError (whose text never holds the token)."""

import pytest

from botgateway.operator.telegram import BotApi
from botgateway.operator.webhooks import DesiredWebhook
from botgateway.telegram import TelegramError
from tests.support.cluster import free_port
from tests.support.fake_telegram_api import FakeTelegramApi

pytestmark = pytest.mark.integration

TOKEN = "4242:TopSecret_token"
DESIRED = DesiredWebhook(
    slug="support",
    url="https://bots.example.com/webhook/support",
    secret_token="s3cret",
    allowed_updates=("message",),
    max_connections=40,
    drop_pending_updates=False,
)


async def test_set_read_and_delete_a_webhook() -> None:
    with FakeTelegramApi() as api:
        async with BotApi(api.base_url) as bot_api:
            await bot_api.set_webhook(TOKEN, DESIRED)
            info = await bot_api.get_webhook_info(TOKEN)
            assert info.url == DESIRED.url
            await bot_api.delete_webhook(TOKEN)
            assert (await bot_api.get_webhook_info(TOKEN)).url == ""
        assert api.calls(token=TOKEN)[0].method == "setWebhook"


async def test_a_refusal_is_a_telegram_error_with_telegrams_words() -> None:
    with FakeTelegramApi() as api:
        api.fail("setWebhook", 502, "Bad Gateway")
        async with BotApi(api.base_url) as bot_api:
            with pytest.raises(TelegramError) as info:
                await bot_api.set_webhook(TOKEN, DESIRED)
    assert "Bad Gateway" in str(info.value)
    assert info.value.method == "setWebhook"
    assert TOKEN not in str(info.value)


async def test_an_unreachable_api_is_a_telegram_error_without_the_token() -> None:
    async with BotApi(f"http://127.0.0.1:{free_port()}") as bot_api:
        with pytest.raises(TelegramError) as info:
            await bot_api.get_webhook_info(TOKEN)
    assert info.value.transient
    assert TOKEN not in str(info.value)
