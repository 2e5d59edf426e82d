"""The one Telegram Bot API client, used by the gateway's handlers and by the operator's webhook
management: Telegram's sending limits, 429 and `retry_after`, and the mapping of every failure
to one `TelegramError` live here.

The base URL comes from `TELEGRAM_API_BASE` so tests point it at a local fake. Errors carry
what a caller needs to decide (retry, and after how long, or give up) and never the token,
which is part of every request URL."""

import asyncio
import json
from typing import Any

import aiohttp

from botgateway import USER_AGENT

from .errors import TelegramError
from .ratelimit import SendLater, SendLimiter

DEFAULT_TIMEOUT = 30.0
HEADERS = {"User-Agent": USER_AGENT}
SENDING_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendSticker",
        "sendLocation",
        "sendContact",
        "sendPoll",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)
"""Methods that post a message into a chat, and so count against its limits."""


class TelegramClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str,
        *,
        limiter: SendLimiter | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._token = token
        self.limiter = limiter or SendLimiter()
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call a Bot API method and return its `result`; raise TelegramError otherwise."""
        body = params or {}
        chat_id = None
        if method in SENDING_METHODS:
            chat_id = body.get("chat_id")
            decision = self.limiter.acquire(chat_id)
            if isinstance(decision, SendLater):
                raise TelegramError(
                    method,
                    f"held back to keep Telegram's rate limits; next slot in {decision.delay:.1f}s",
                    retry_after=decision.delay,
                    held_back=True,
                )
            if decision.wait > 0:
                await asyncio.sleep(decision.wait)
        url = f"{self._base}/bot{self._token}/{method}"
        try:
            async with self._session.post(
                url, json=body, headers=HEADERS, timeout=self._timeout
            ) as response:
                status = response.status
                text = await response.text()
        except TimeoutError:
            raise TelegramError(method, "timed out") from None
        except aiohttp.ClientError as exc:
            raise TelegramError(method, self._scrub(f"{type(exc).__name__}: {exc}")) from None
        return self._result(method, status, text, chat_id)

    async def send_message(self, chat_id: int | str, text: str, **extra: Any) -> Any:
        return await self.call("sendMessage", {"chat_id": chat_id, "text": text, **extra})

    def _result(self, method: str, status: int, text: str, chat_id: object) -> Any:
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise TelegramError(
                method,
                f"HTTP {status} without a Bot API answer",
                error_code=status,
                transient=status >= 500 or status in (408, 429),
            )
        if answer.get("ok") is True:
            return answer.get("result")
        code = answer.get("error_code", status)
        code = code if isinstance(code, int) else status
        description = self._scrub(str(answer.get("description") or "no description"))
        parameters = answer.get("parameters")
        retry_after = None
        if isinstance(parameters, dict):
            value = parameters.get("retry_after")
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                retry_after = float(value)
        if code == 429:
            wait = retry_after if retry_after is not None else 1.0
            self.limiter.penalize(chat_id if isinstance(chat_id, int | str) else None, wait)
            raise TelegramError(method, description, error_code=code, retry_after=wait)
        transient = code >= 500
        raise TelegramError(
            method, description, error_code=code, retry_after=retry_after, transient=transient
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text
