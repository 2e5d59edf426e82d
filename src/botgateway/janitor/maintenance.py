"""One janitor round, `run_once() -> JanitorResult`; the loop and the CronJob wrap it."""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from botgateway.contract.janitor import RUNNER_ONCE, JanitorResult
from botgateway.queue import JANITOR_LEASE, QueueSettings, SchemaMissing, Store

from .rescue import rescue_stuck

PURGE_BATCH = 500
"""The most rows one purge statement deletes. Small batches spread the purge's work thinly
between the webhook's inserts: on a quiet 2-core machine (1M rows under 500 updates/s, one
`make bench --only purge` each) ingest p99 during the purge was 3.6x quiet with 5,000,
2.3-2.4x with 1,000, 2.1-2.4x with 500 and 2.6x with 250 (a purge that long overlaps more
ingest), for a purge rate of 180k, 99k, 54-64k and 29k rows/s: far above what any ingest
rate leaves to purge."""
PURGE_BATCH_TARGET_S = 0.25
"""How long one purge statement (and so any row lock it holds) should take at most: a batch
that takes longer makes the next one smaller, in proportion, down to PURGE_MIN_BATCH. Rows with
large payloads (TOASTed) or a busy disk are slower to delete than the row count says."""
PURGE_MIN_BATCH = 100
PURGE_PAUSE = 1.0
"""Pause after each purge batch, as a multiple of the time the batch took (1.0: the purge
works at most half the time), leaving the disk and CPU to ingest. In the bench (1M rows under
500 updates/s on 2 cores) 1.0 brought ingest p99 during the purge from 29-38 ms to 24-30 ms
(quiet: 9-17 ms) for half the purge rate; 3.0 stretched the purge into autovacuum's start and
made it worse."""
RECOVER_BATCH = 500
LEASE_TTL_MIN = timedelta(seconds=5)
LEASE_TTL_MAX = timedelta(seconds=60)

log = logging.getLogger(__name__)


def next_purge_batch(
    size: int, took_s: float, *, ceiling: int, target_s: float, floor: int = PURGE_MIN_BATCH
) -> int:
    """The next batch's row limit: shrunk in proportion when this one overran the target,
    grown back (doubling, up to `ceiling`) when it took under half of it."""
    if took_s > target_s:
        return max(min(floor, ceiling), int(size * target_s / took_s))
    if took_s < target_s / 2:
        return min(ceiling, size * 2)
    return size


@dataclass(frozen=True)
class _Purged:
    rows: int
    batches: int
    longest_s: float
    seconds: float


async def _purge(
    store: Store,
    settings: QueueSettings,
    *,
    ceiling: int,
    target_s: float,
    pause: float,
    keep: Callable[[], Awaitable[None]],
) -> _Purged:
    """Bounded batches until one comes back short (nothing eligible is left, or what is left is
    held by someone else and waits for the next round)."""
    began = time.perf_counter()
    rows = batches = 0
    longest = 0.0
    size = ceiling
    while True:
        started = time.perf_counter()
        deleted = await store.purge_done_batch(settings.done_retention, size)
        took = time.perf_counter() - started
        longest = max(longest, took)
        rows += deleted
        batches += 1 if deleted else 0
        if deleted < size:
            break
        await keep()
        size = next_purge_batch(size, took, ceiling=ceiling, target_s=target_s)
        if pause > 0:
            await asyncio.sleep(took * pause)
    return _Purged(rows, batches, longest, time.perf_counter() - began)


async def run_once(
    store: Store,
    settings: QueueSettings,
    *,
    purge_batch: int = PURGE_BATCH,
    purge_batch_target_s: float = PURGE_BATCH_TARGET_S,
    purge_pause: float = PURGE_PAUSE,
    recover_batch: int = RECOVER_BATCH,
    runner: str = RUNNER_ONCE,
    lease_ttl: timedelta | None = None,
) -> JanitorResult:
    """Recover first (orphans of a crashed pod go back to work before anything else), then
    purge `done` rows past retention in bounded batches. `dead` rows are never purged.

    A round that ran is recorded in the database (`record`), where the gateways' /metrics and
    the operator read it: a CronJob's pod is gone before anyone could scrape it.

    One janitor at a time: the round holds a lease row (`Store.lease`), not a session lock, so
    the exclusion holds behind a transaction pooler too. A round whose lease was taken over
    (it hung for longer than `lease_ttl`, by default `janitor_lease_ttl(settings)`) stops with
    LeaseLost."""
    began = time.perf_counter()
    ttl = lease_ttl if lease_ttl is not None else janitor_lease_ttl(settings)
    async with store.lease(JANITOR_LEASE, _holder(), ttl) as lease:
        if lease is None:
            return JanitorResult(ran=False)
        recovered = dead = 0
        while True:
            requeued, dead_lettered = await rescue_stuck(
                store,
                stuck_timeout=settings.stuck_timeout,
                max_attempts=settings.max_attempts,
                limit=recover_batch,
            )
            recovered += requeued
            dead += dead_lettered
            if requeued + dead_lettered < recover_batch:
                break
            await lease.keep()
        unparked = await _unpark_stalled(store, limit=recover_batch)
        purged = await _purge(
            store,
            settings,
            ceiling=purge_batch,
            target_s=purge_batch_target_s,
            pause=purge_pause,
            keep=lease.keep,
        )
        result = JanitorResult(
            ran=True,
            purged=purged.rows,
            recovered=recovered,
            dead_lettered=dead,
            unparked=unparked,
            purge_batches=purged.batches,
            purge_longest_batch_s=purged.longest_s,
            purge_seconds=purged.seconds,
            seconds=time.perf_counter() - began,
        )
        await record(store, result, runner)
        return result


async def _unpark_stalled(store: Store, *, limit: int) -> int:
    """The safety net of per-chat ordering: while only this package finishes jobs it finds
    nothing, so finding something is worth a warning (their chats waited for this round)."""
    unparked = await store.unpark_stalled(limit)
    if unparked:
        log.warning(
            "made due jobs parked behind a chat's finished update: something finished jobs "
            "in gateway_jobs without handing on (the seed's worker, SQL by hand?)",
            extra={"jobs": unparked},
        )
    return unparked


def janitor_lease_ttl(settings: QueueSettings) -> timedelta:
    """How long the janitor lease lasts unless renewed: half the stuck timeout, from 5 s to 60 s.

    The round renews it after every batch (each well under a second), so only a janitor that
    died or hung loses it. A dead holder's lease delays the next round until it lapses, and
    with it the recovery of a crashed pod's jobs (a worker's in-process janitor dies with the
    worker): tied to the stuck timeout, that delay stays half a timeout at most."""
    return min(max(settings.stuck_timeout / 2, LEASE_TTL_MIN), LEASE_TTL_MAX)


def _holder() -> str:
    """Unique per round: the host (a pod's name) and process say who, for people reading it."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def record(store: Store, result: JanitorResult, runner: str) -> None:
    """Store the round (runner and host say who ran it: a pod's host name is its name). A
    database not yet migrated to hold rounds loses the record, not the round's work."""
    try:
        await store.record_janitor_round(
            runner,
            socket.gethostname(),
            duration_seconds=result.seconds,
            recovered=result.recovered,
            dead_lettered=result.dead_lettered,
            purged=result.purged,
        )
    except SchemaMissing as exc:
        log.warning("janitor round not recorded", extra={"error": str(exc)})
