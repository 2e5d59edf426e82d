"""Pure queue decisions: backoff, jitter, fail-or-dead, recover-or-dead, interrupted by our
shutdown, what to claim next. No I/O, no clock."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

MAX_ERROR_LENGTH = 4096
JITTER_FRACTION = 0.10


@dataclass(frozen=True)
class RetryLater:
    delay: timedelta
    error: str
    capped_retry_after: timedelta | None = None
    """The other side's `Retry-After` when it asked for more than the cap, which `delay` is."""


@dataclass(frozen=True)
class DeadLetter:
    error: str
    permanent: bool = False
    """No retry could help (else: the last attempt failed)."""


FailureDecision = RetryLater | DeadLetter


def truncate_error(message: str) -> str:
    """`last_error` keeps at most 4096 characters, as in the seed."""
    return message[:MAX_ERROR_LENGTH]


def backoff_delay(attempt: int, schedule: Sequence[timedelta]) -> timedelta:
    """Delay after failed attempt `attempt` (1-based); the schedule's last step repeats."""
    if not schedule:
        raise ValueError("the backoff schedule is empty")
    index = min(max(attempt, 1), len(schedule)) - 1
    return schedule[index]


def with_jitter(delay: timedelta, unit: float, fraction: float = JITTER_FRACTION) -> timedelta:
    """Spread retries by up to ±fraction so failures that happened together do not retry together.

    `unit` is a uniform random number in [0, 1); 0.5 leaves the delay unchanged.
    """
    return delay * (1.0 + fraction * (2.0 * unit - 1.0))


def decide_failure(
    *,
    attempts: int,
    max_attempts: int,
    error: str,
    schedule: Sequence[timedelta],
    jitter_unit: float,
    max_retry_after: timedelta,
    retry_after: timedelta | None = None,
    permanent: bool = False,
) -> FailureDecision:
    """What happens to a job whose attempt number `attempts` failed.

    A permanent failure is dead at once, and so is a job at `max_attempts`; otherwise it waits
    out the jittered backoff, or the `retry_after` the other side asked for when that is
    longer. That wait is capped at `max_retry_after`: a backend answering with a date a year
    ahead must not park the job past every retention window (the backoff itself is never cut).
    """
    message = truncate_error(error)
    if permanent or attempts >= max_attempts:
        return DeadLetter(message, permanent=permanent)
    delay = with_jitter(backoff_delay(attempts, schedule), jitter_unit)
    if retry_after is None or retry_after <= delay:
        return RetryLater(delay, message)
    if retry_after > max_retry_after:
        return RetryLater(max(max_retry_after, delay), message, capped_retry_after=retry_after)
    return RetryLater(retry_after, message)


@dataclass(frozen=True)
class HandBack:
    """Back to pending, due at once and isolated (it runs alone next time)."""

    charge: bool
    """The interrupted attempt counts towards max_attempts (else it is given back)."""


InterruptionDecision = HandBack | DeadLetter


def decide_interrupted(
    *, attempts: int, max_attempts: int, running_alone: bool
) -> InterruptionDecision:
    """What happens to a job still running when our own shutdown grace ran out.

    Our shutdown is not the job's fault, so a rolling deploy must not spend its attempts: the
    attempt is given back. But a job that gets its pod stopped every time (say it starves the
    liveness probe) would then loop for ever, so the job is isolated, like one the janitor
    took back from a lost worker. Interrupted again while running alone, the stop may well be
    its doing: then the attempt counts, and at `max_attempts` the job is dead, the bound the
    janitor keeps for jobs that crash their worker. One shutdown never charges a job."""
    if not running_alone:
        return HandBack(charge=False)
    if attempts >= max_attempts:
        return DeadLetter(
            f"interrupted by a shutdown while running alone on attempt {attempts} of "
            f"{max_attempts}, as before; no attempts left"
        )
    return HandBack(charge=True)


@dataclass(frozen=True)
class ClaimBatch:
    limit: int


@dataclass(frozen=True)
class ClaimIsolated:
    """Claim one isolated job, to run alone."""


@dataclass(frozen=True)
class WaitForSlot:
    """Claim nothing until a held job settles."""


ClaimPlan = ClaimBatch | ClaimIsolated | WaitForSlot


def plan_claim(
    *,
    running: int,
    settling: int,
    concurrency: int,
    batch_size: int,
    running_isolated: bool,
    isolated_waiting: bool,
    ahead: int = 0,
) -> ClaimPlan:
    """What a worker claims next.

    `concurrency` bounds the jobs in handlers: what a backend or the Bot API feels. `running`
    counts the jobs in handlers and those claimed `ahead` of a free slot (see `claim_ahead`),
    which wait for one. A job whose handler has finished and that only waits for its completion
    to commit (`settling`) takes no slot, so claims go on while completions are on their way;
    settling jobs still count up to `settle_limit`, so a completion statement that
    stalls (the database is slow or away) stops claims instead of piling up finished jobs.

    A job taken back from a lost worker may be what killed it. Claimed in a batch again, it
    would take its batch-mates down with it on every crash, and each recovery charges them an
    attempt, so innocent jobs would be dead-lettered with a poison one. So such a job runs
    alone: only a worker holding nothing claims it, and claims nothing else until it settles.
    A busy worker that knows one is waiting stops claiming and drains, so a steady stream of
    other jobs cannot starve it."""
    held = running + settling
    if running_isolated:
        return WaitForSlot()
    if isolated_waiting:
        return ClaimIsolated() if held == 0 else WaitForSlot()
    most_held = concurrency + settle_limit(concurrency, batch_size)
    free = min(concurrency + ahead - running, most_held - held)
    if free <= 0:
        return WaitForSlot()
    return ClaimBatch(min(free, batch_size))


def settle_limit(concurrency: int, batch_size: int) -> int:
    """Finished jobs a worker may hold awaiting their completion beyond its handler slots: two
    claims' worth at least, so a completion statement can be on its way while the next batch is
    claimed and run (with fewer, a quick handler's drain waits on every commit). It bounds what
    a crash can make run twice: at most `concurrency + settle_limit(...)` jobs of a worker have
    run without their outcome in the database."""
    return max(4 * concurrency, 2 * batch_size)


def claim_ahead(
    *,
    concurrency: int,
    batch_size: int,
    claim_seconds: float | None,
    handler_seconds: float | None,
) -> int:
    """How many jobs to claim beyond the free handler slots: as many as will free up while a
    claim is on its way (Little's law: `concurrency` x claim time / handler time), at most one
    batch. Quick handlers then get full batches instead of one claim round trip per
    `concurrency` jobs; slow ones (a forward to a backend taking 100 ms) get none, so no job
    waits in a worker that another could run at once. Nothing is known yet: none."""
    if claim_seconds is None or handler_seconds is None:
        return 0
    if handler_seconds <= 0:
        return batch_size
    return min(batch_size, int(concurrency * claim_seconds / handler_seconds))


def smoothed(previous: float | None, sample: float, weight: float = 0.2) -> float:
    """An exponentially weighted moving average: recent samples count most, one outlier little."""
    return sample if previous is None else previous + weight * (sample - previous)


PARK_BEHIND = 2
"""A job with this many jobs of its chat ahead is parked (migrations 0008 and 0009 hold the same
number: `>= 2` in gateway_park_waiting)."""


def parked_in_batch(keys: Sequence[tuple[str, str | None]]) -> list[bool]:
    """For (bot, chat key) pairs in update order: which jobs have PARK_BEHIND or more of their
    chat ahead of them within the batch itself.

    A hint the insert writes, so that a backlog arriving in batches is parked as it is stored
    rather than stored due and written again; the database checks every new job all the same
    (jobs already in the table count too, and a redelivery in the batch counts for nothing)."""
    seen: dict[tuple[str, str], int] = {}
    parked = []
    for bot, chat in keys:
        if chat is None:
            parked.append(False)
            continue
        ahead = seen.get((bot, chat), 0)
        seen[(bot, chat)] = ahead + 1
        parked.append(ahead >= PARK_BEHIND)
    return parked
