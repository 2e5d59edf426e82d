"""Janitor test helpers: a round held open, jobs to work on."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from botgateway.queue import NewJob, Store
from botgateway.queue.store import StuckBatch


async def enqueue(store: Store, *update_ids: int) -> None:
    await store.enqueue_many(
        [NewJob("support", "discard", i, json.dumps({"update_id": i})) for i in update_ids]
    )


class PausingStore(Store):
    """A store whose recovery step waits, so a janitor round can be held open in a test."""

    entered: asyncio.Event
    proceed: asyncio.Event

    @contextlib.asynccontextmanager
    async def stuck_jobs(self, **kw: Any) -> AsyncIterator[StuckBatch]:
        self.entered.set()
        await self.proceed.wait()
        async with super().stuck_jobs(**kw) as batch:
            yield batch
