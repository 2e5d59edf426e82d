"""Webhook management (setWebhook, getWebhookInfo, deleteWebhook) through the shared Bot API
client (`botgateway.telegram`): typed answers for the reconcile, one session for every bot.
Tokens are part of the URL path, so no URL is ever put in a message or a log line."""

from types import TracebackType
from typing import Any

import aiohttp

from botgateway.contract.environment import TELEGRAM_API_BASE
from botgateway.telegram import TelegramClient, TelegramError

from .webhooks import DesiredWebhook, WebhookInfo

DEFAULT_API_BASE: str = TELEGRAM_API_BASE.value


class BotApi:
    def __init__(self, base_url: str = DEFAULT_API_BASE, *, timeout: float = 15.0) -> None:
        self._base = base_url
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "BotApi":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get_webhook_info(self, token: str) -> WebhookInfo:
        result = await self._call(token, "getWebhookInfo", {})
        if not isinstance(result, dict):
            raise TelegramError("getWebhookInfo", "unexpected result")
        return WebhookInfo.from_api(result)

    async def set_webhook(self, token: str, desired: DesiredWebhook) -> None:
        await self._call(token, "setWebhook", desired.set_webhook_params())

    async def delete_webhook(self, token: str, *, drop_pending_updates: bool = False) -> None:
        await self._call(token, "deleteWebhook", {"drop_pending_updates": drop_pending_updates})

    async def _call(self, token: str, method: str, params: dict[str, Any]) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        client = TelegramClient(self._session, self._base, token, timeout=self._timeout)
        return await client.call(method, params)
