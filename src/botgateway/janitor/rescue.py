"""Recovering the jobs of workers that died: the store finds them and holds their row locks,
the janitor decides (the shape of River's job rescuer: fetch, `makeRetryDecision`, apply)."""

from datetime import timedelta

from botgateway.queue import Store
from botgateway.queue.jobs import Settlement, StuckJob


def decide_recovery(job: StuckJob, *, max_attempts: int) -> Settlement:
    """Give a stuck job back to the queue, or end it when it has used all its attempts, so an
    update that crashes every worker that touches it cannot loop forever."""
    holder = job.lease_owner or "a worker without a lease"
    if job.attempts >= max_attempts:
        return Settlement(
            job.id,
            "dead",
            f"worker lost: {holder} stopped heartbeating on attempt {job.attempts} of "
            f"{max_attempts}; no attempts left",
        )
    return Settlement(
        job.id, "pending", f"worker lost: {holder} stopped heartbeating on attempt {job.attempts}"
    )


async def rescue_stuck(
    store: Store, *, stuck_timeout: timedelta, max_attempts: int, limit: int
) -> tuple[int, int]:
    """One bounded batch, decided and settled under the store's row locks.
    Returns (requeued, dead_lettered)."""
    async with store.stuck_jobs(stuck_timeout=stuck_timeout, limit=limit) as batch:
        settlements = [decide_recovery(job, max_attempts=max_attempts) for job in batch.jobs]
        await batch.settle(settlements)
    dead = sum(s.status == "dead" for s in settlements)
    return len(settlements) - dead, dead
