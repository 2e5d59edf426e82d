"""A small Bot API client for webhook management (setWebhook, getWebhookInfo, deleteWebhook).

The operator keeps its own client rather than importing the service's: the packages stay
independent (import-linter contract). Tokens are part of the URL path, so no URL is ever put in
a message or a log line; errors carry the method and Telegram's description only.
"""

from types import TracebackType
from typing import Any

import aiohttp

from botgateway.contract.environment import TELEGRAM_API_BASE

from .errors import TelegramError
from .webhooks import DesiredWebhook, WebhookInfo

DEFAULT_API_BASE: str = TELEGRAM_API_BASE.value


class BotApi:
    def __init__(self, base_url: str = DEFAULT_API_BASE, *, timeout: float = 15.0) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
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
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        url = f"{self._base}/bot{token}/{method}"
        try:
            async with self._session.post(url, json=params) as response:
                try:
                    body = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    raise TelegramError(
                        method, f"HTTP {response.status} with a body that is not JSON"
                    ) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TelegramError(method, f"Bot API unreachable ({type(exc).__name__})") from None
        if not isinstance(body, dict):
            raise TelegramError(method, f"HTTP {response.status}: unexpected answer")
        if not body.get("ok"):
            parameters = body.get("parameters") or {}
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            raise TelegramError(
                method,
                str(body.get("description") or f"HTTP {response.status}"),
                retry_after=float(retry_after) if retry_after is not None else None,
            )
        return body.get("result")
