"""A local aiohttp backend for the `forward` handler: scripted answers, recorded requests."""

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    delay: float = 0.0
    hold: asyncio.Event | None = None
    """Answer only once this event is set (a request kept in flight)."""


@dataclass(frozen=True)
class Received:
    body: bytes
    headers: dict[str, str]
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def update_id(self) -> int:
        return int(self.headers["X-Botgateway-Update-Id"])


class Backend:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._script: deque[Answer] = deque()
        self.answer_for: Callable[[Received], Answer] | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    def script(self, *answers: Answer) -> None:
        """Answers for the next requests, in order; afterwards every request gets 200."""
        self._script.extend(answers)

    def bodies(self) -> list[Any]:
        return [r.json for r in self.received]

    def update_ids(self) -> list[int]:
        return [r.update_id for r in self.received]

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received(await request.read(), dict(request.headers), time.monotonic())
        self.received.append(received)
        if self.answer_for is not None:
            answer = self.answer_for(received)
        else:
            answer = self._script.popleft() if self._script else Answer()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if answer.delay:
                await asyncio.sleep(answer.delay)
            if answer.hold is not None:
                await answer.hold.wait()
        finally:
            self.in_flight -= 1
        return web.Response(status=answer.status, text=answer.body, headers=answer.headers)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/updates", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in self._runner.addresses if isinstance(a, tuple))
        self.url = f"http://127.0.0.1:{port}/updates"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
