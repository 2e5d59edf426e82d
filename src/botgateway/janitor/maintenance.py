"""One janitor round, `run_once() -> JanitorResult`; the loop and the CronJob wrap it."""

from dataclasses import dataclass

from botgateway.queue import JANITOR_LOCK, QueueSettings, Store

PURGE_BATCH = 5_000
RECOVER_BATCH = 500


@dataclass(frozen=True)
class JanitorResult:
    ran: bool
    """False when another janitor held the lock and this round did nothing."""
    purged: int = 0
    recovered: int = 0
    dead_lettered: int = 0
    purge_batches: int = 0

    def summary(self) -> str:
        if not self.ran:
            return "janitor: another janitor holds the lock; nothing done"
        return (
            f"janitor: purged {self.purged} done job(s) in {self.purge_batches} batch(es), "
            f"recovered {self.recovered} stuck job(s), dead-lettered {self.dead_lettered}"
        )


async def run_once(
    store: Store,
    settings: QueueSettings,
    *,
    purge_batch: int = PURGE_BATCH,
    recover_batch: int = RECOVER_BATCH,
) -> JanitorResult:
    """Recover first (orphans of a crashed pod go back to work before anything else), then
    purge `done` rows past retention in bounded batches. `dead` rows are never purged."""
    async with store.advisory_lock(JANITOR_LOCK) as acquired:
        if not acquired:
            return JanitorResult(ran=False)
        recovered = dead = 0
        while True:
            requeued, dead_lettered = await store.recover_stuck(
                stuck_timeout=settings.stuck_timeout,
                max_attempts=settings.max_attempts,
                limit=recover_batch,
            )
            recovered += requeued
            dead += dead_lettered
            if requeued + dead_lettered < recover_batch:
                break
        purged = batches = 0
        while True:
            deleted = await store.purge_done_batch(settings.done_retention, purge_batch)
            purged += deleted
            batches += 1 if deleted else 0
            if deleted < purge_batch:
                break
        return JanitorResult(
            ran=True, purged=purged, recovered=recovered, dead_lettered=dead, purge_batches=batches
        )
