"""The composition root for `serve` and `dev`: the service with the janitor loop in-process.

service and janitor may not import each other (import-linter), so they meet here; each round's
`JanitorResult` (a contract type) goes straight to the service's metrics."""

import asyncio
from collections.abc import Callable

from botgateway.contract.janitor import JanitorResult
from botgateway.janitor import run_loop
from botgateway.queue import QueueSettings, Store


async def janitor_maintenance(
    store: Store,
    settings: QueueSettings,
    stop: asyncio.Event,
    report: Callable[[JanitorResult], None],
) -> None:
    """Once at start, then every QUEUE_JANITOR_INTERVAL, until `stop` (the seed's loop)."""
    await run_loop(store, settings, stop, on_result=report)
