"""A fake Bot API for the operator's tests: webhook management only, every call recorded.

It serves `POST /bot<token>/<method>` for setWebhook, getWebhookInfo and deleteWebhook on
127.0.0.1, in a thread of its own, so synchronous tests (kubectl, subprocesses) can use it::

    with FakeTelegramApi() as api:
        ... TELEGRAM_API_BASE=api.base_url ...
        api.calls("setWebhook")
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

_TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Call:
    token: str
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Webhook:
    url: str = ""
    secret_token: str | None = None
    allowed_updates: list[str] | None = None
    max_connections: int = 40
    pending_update_count: int = 0


class FakeTelegramApi:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._webhooks: dict[str, _Webhook] = {}
        self._failures: dict[str, tuple[int, str]] = {}
        self._delays: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self.port = 0

    # -- what tests look at ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calls(self, method: str | None = None, token: str | None = None) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self._calls
                if (method is None or c.method == method) and (token is None or c.token == token)
            ]

    def webhook(self, token: str) -> dict[str, Any]:
        """What Telegram would hold for this bot, including the secret (tests only)."""
        with self._lock:
            hook = self._webhooks.get(token, _Webhook())
            return dict(hook.__dict__)

    def set_webhook_externally(self, token: str, url: str) -> None:
        """Someone else (another deployment, a person with curl) changed the webhook."""
        with self._lock:
            self._webhooks.setdefault(token, _Webhook()).url = url

    def fail(
        self, method: str, code: int = 500, description: str = "Internal Server Error"
    ) -> None:
        """Make every call of `method` fail until `recover(method)`."""
        with self._lock:
            self._failures[method] = (code, description)

    def recover(self, method: str) -> None:
        with self._lock:
            self._failures.pop(method, None)

    def slow_down(self, method: str, seconds: float) -> None:
        """Answer `method` only after `seconds` (0 to stop), e.g. to interrupt a reconcile."""
        with self._lock:
            self._delays[method] = seconds

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeTelegramApi:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="fake-telegram-api", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the fake Bot API did not start")

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        self._runner = runner
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    # -- the Bot API -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                params = body if isinstance(body, dict) else {}
            else:
                params = dict(await request.post())
        params.update(request.query)
        with self._lock:
            self._calls.append(Call(token, method, params))
            failure = self._failures.get(method)
            delay = self._delays.get(method, 0.0)
        if delay:
            await asyncio.sleep(delay)
        if not _TOKEN.match(token):
            return _error(401, "Unauthorized")
        if failure is not None:
            return _error(*failure)
        with self._lock:
            hook = self._webhooks.setdefault(token, _Webhook())
            if method == "setWebhook":
                hook.url = str(params.get("url", ""))
                hook.secret_token = params.get("secret_token")
                allowed = params.get("allowed_updates")
                hook.allowed_updates = list(allowed) if allowed else None
                hook.max_connections = int(params.get("max_connections", 40))
                if params.get("drop_pending_updates"):
                    hook.pending_update_count = 0
                return _ok(True, "Webhook was set")
            if method == "deleteWebhook":
                self._webhooks[token] = _Webhook()
                return _ok(True, "Webhook was deleted")
            if method == "getWebhookInfo":
                info: dict[str, Any] = {
                    "url": hook.url,
                    "has_custom_certificate": False,
                    "pending_update_count": hook.pending_update_count,
                }
                if hook.url:
                    info["max_connections"] = hook.max_connections
                    if hook.allowed_updates:
                        info["allowed_updates"] = hook.allowed_updates
                return _ok(info)
        return _error(404, "Not Found: method not found")


def _ok(result: Any, description: str | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return web.json_response(body)


def _error(code: int, description: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": code, "description": description}, status=code
    )
