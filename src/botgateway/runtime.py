"""The composition root for `serve` and `dev`: the service with the janitor loop in-process.

service and janitor may not import each other (import-linter), so they meet here."""

import asyncio
from collections.abc import Callable

from botgateway.janitor import JanitorResult, run_loop
from botgateway.queue import QueueSettings, Store
from botgateway.service.metrics import MaintenanceCounts


async def janitor_maintenance(
    store: Store,
    settings: QueueSettings,
    stop: asyncio.Event,
    report: Callable[[MaintenanceCounts], None],
) -> None:
    """Once at start, then every QUEUE_JANITOR_INTERVAL, until `stop` (the seed's loop)."""

    def on_result(result: JanitorResult) -> None:
        report(
            MaintenanceCounts(
                ran=result.ran,
                purged=result.purged,
                recovered=result.recovered,
                dead_lettered=result.dead_lettered,
                purge_longest_batch_s=result.purge_longest_batch_s,
            )
        )

    await run_loop(store, settings, stop, on_result=on_result)
