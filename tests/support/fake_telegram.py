"""A local fake of the Telegram Bot API: records every call and can answer 429 with
`retry_after`, so the Bot API client and telegram-echo are tested without the network."""

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Call:
    token: str
    method: str
    params: dict[str, Any]
    at: float
    user_agent: str = ""


class FakeTelegram:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._failures: deque[tuple[int, str, int | None]] = deque()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._message_id = 0

    def fail_next(
        self, error_code: int = 429, description: str = "", retry_after: int | None = None
    ) -> None:
        """The next call answers with this error (429s carry `parameters.retry_after`)."""
        text = description or (
            f"Too Many Requests: retry after {retry_after}" if error_code == 429 else "Bad Request"
        )
        self._failures.append((error_code, text, retry_after))

    def sent(self, method: str = "sendMessage") -> list[Call]:
        """Calls that succeeded, in arrival order."""
        return [c for c in self.calls if c.method == method and c.params.get("_ok", True)]

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        params: dict[str, Any] = await request.json() if request.can_read_body else {}
        agent = request.headers.get("User-Agent", "")
        if self._failures:
            code, text, retry_after = self._failures.popleft()
            failed = {**params, "_ok": False}
            self.calls.append(Call(token, method, failed, time.monotonic(), agent))
            body: dict[str, Any] = {"ok": False, "error_code": code, "description": text}
            if retry_after is not None:
                body["parameters"] = {"retry_after": retry_after}
            return web.json_response(body, status=code)
        self.calls.append(Call(token, method, params, time.monotonic(), agent))
        self._message_id += 1
        result = {
            "message_id": self._message_id,
            "date": int(time.time()),
            "chat": {"id": params.get("chat_id")},
            "text": params.get("text"),
        }
        return web.json_response({"ok": True, "result": result})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in self._runner.addresses if isinstance(a, tuple))
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
