"""The in-process janitor: once at start, then every QUEUE_JANITOR_INTERVAL (the seed's loop)."""

import asyncio
import contextlib
import logging
from collections.abc import Callable

from botgateway.contract.janitor import RUNNER_LOOP, JanitorResult
from botgateway.queue import QueueError, QueueSettings, Store

from .maintenance import run_once

log = logging.getLogger(__name__)


async def run_loop(
    store: Store,
    settings: QueueSettings,
    stop: asyncio.Event,
    *,
    on_result: Callable[[JanitorResult], None] | None = None,
) -> None:
    """A failed round is logged and retried at the next tick; it never stops the service."""
    interval = settings.janitor_interval.total_seconds()
    while not stop.is_set():
        try:
            result = await run_once(store, settings, runner=RUNNER_LOOP)
        except QueueError as exc:
            log.warning("janitor round failed", extra={"error": str(exc)})
        else:
            log_round(result)
            if on_result is not None:
                on_result(result)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def log_round(result: JanitorResult) -> None:
    """One line per round, its counts as fields (the loop's, and `janitor --once` in JSON)."""
    log.info(result.summary(), extra=_fields(result))


def _fields(result: JanitorResult) -> dict[str, int | float | bool]:
    return {
        "ran": result.ran,
        "purged": result.purged,
        "purge_batches": result.purge_batches,
        "purge_longest_batch_ms": round(result.purge_longest_batch_s * 1000, 1),
        "purge_seconds": round(result.purge_seconds, 3),
        "seconds": round(result.seconds, 3),
        "recovered": result.recovered,
        "dead_lettered": result.dead_lettered,
    }
