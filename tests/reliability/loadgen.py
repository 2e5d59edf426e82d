"""The load generator: posts real-shaped updates to the webhook at a fixed rate, with the secret
header, and behaves like Telegram when an update is not taken: after a 503 or a connection
error it waits a moment and delivers the same update again, until it gets a 200."""

import asyncio
import copy
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support.updates import UPDATES

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
RETRYABLE = frozenset({503})
KINDS = tuple(sorted(UPDATES))


def real_update(update_id: int) -> dict[str, Any]:
    """One of the documented update shapes (message, callback query, chat member, photo, ...),
    taken in turn, with its own update_id."""
    update = copy.deepcopy(UPDATES[KINDS[update_id % len(KINDS)]])
    update["update_id"] = update_id
    return update


@dataclass
class Delivery:
    update_id: int
    posts: int = 0
    answers: list[int | str] = field(default_factory=list)
    """Each POST's status, or the exception's name when no answer came."""
    accepted_at: float | None = None
    """time.monotonic() of the 200."""

    @property
    def accepted(self) -> bool:
        return self.accepted_at is not None


class Telegram:
    def __init__(
        self,
        urls: Sequence[str],
        secret: str | None,
        *,
        redelivery_wait: float = 0.5,
        connections: int = 40,
        request_timeout: float = 10.0,
    ) -> None:
        self.urls = list(urls)
        """One webhook URL per bot; update i goes to bot i mod len(urls)."""
        self.redelivery_wait = redelivery_wait
        """Telegram waits longer (and honours nothing from us); a short wait keeps runs short."""
        self.headers = {"Content-Type": "application/json"}
        if secret is not None:
            self.headers[SECRET_HEADER] = secret
        self.deliveries: dict[int, Delivery] = {}
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.give_up_at = float("inf")
        """time.monotonic() after which an update still refused is not delivered again."""

    async def __aenter__(self) -> "Telegram":
        connector = aiohttp.TCPConnector(limit=self._connections)
        self._http = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def send(self, update: dict[str, Any]) -> Delivery:
        """Start delivering one update (in the background, redelivered until taken)."""
        delivery = Delivery(int(update["update_id"]))
        self.deliveries[delivery.update_id] = delivery
        task = asyncio.create_task(self._deliver(delivery, json.dumps(update).encode()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return delivery

    async def run(
        self, *, rate: float, first_id: int, duration: float, stop: asyncio.Event | None = None
    ) -> int:
        """Send `rate` updates per second on a fixed schedule for `duration` seconds (or until
        `stop`); returns how many were sent. Redeliveries go on in the background."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        while sent < int(duration * rate) and not (stop is not None and stop.is_set()):
            delay = start + sent / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.send(real_update(first_id + sent))
            sent += 1
        return sent

    async def settle(self, timeout: float) -> None:
        """Wait for the deliveries still going on; give up redelivering after `timeout`."""
        self.give_up_at = time.monotonic() + timeout
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout + 15)

    async def _deliver(self, delivery: Delivery, body: bytes) -> None:
        assert self._http is not None
        while True:
            delivery.posts += 1
            try:
                url = self.urls[delivery.update_id % len(self.urls)]
                async with self._http.post(url, data=body, headers=self.headers) as answer:
                    await answer.read()
                    status: int | str = answer.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = type(exc).__name__
            delivery.answers.append(status)
            if status == 200:
                delivery.accepted_at = time.monotonic()
                return
            if isinstance(status, int) and status not in RETRYABLE:
                return
            if time.monotonic() > self.give_up_at:
                return
            await asyncio.sleep(self.redelivery_wait)

    def answers(self) -> Counter[int | str]:
        return Counter(a for d in self.deliveries.values() for a in d.answers)
