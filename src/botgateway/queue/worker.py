"""The queue's worker loop: batch claims, leases kept alive by heartbeats, group-committed
completions, retries decided by `policy`, wake-ups on LISTEN/NOTIFY with polling as fallback.
Jobs taken back from a lost worker run alone (`policy.plan_claim`), so a job that kills its
worker cannot drag the jobs claimed beside it to `dead`."""

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from .errors import QueueError
from .jobs import Job
from .policy import (
    ClaimIsolated,
    DeadLetter,
    FailureDecision,
    HandBack,
    InterruptionDecision,
    WaitForSlot,
    claim_ahead,
    decide_failure,
    decide_interrupted,
    plan_claim,
    smoothed,
    truncate_error,
)
from .settings import QueueSettings
from .store import Store

log = logging.getLogger(__name__)

COMPLETION_BATCH = 1000
CLAIM_BATCH = 500
"""The most jobs one claim takes. Claims take this many only for quick handlers (see
`claim_ahead`); each claim is a round trip and a function call, so bigger ones cost less per
job: draining no-op jobs at the default concurrency, 500 gave 1.5x the jobs/s of 100 (42k vs
27k), and 1,000 little more (44k) for twice the jobs a killed worker may have run unrecorded
(`policy.settle_limit`; docs/operations/performance.md)."""


@dataclass(frozen=True)
class Succeeded:
    pass


@dataclass(frozen=True)
class Failed:
    error: str
    retry_after: timedelta | None = None
    """The other side's `Retry-After`: honoured when longer than our backoff."""
    permanent: bool = False
    """No retry can help (a 404 from the backend, say): dead at once."""


@dataclass(frozen=True)
class Deferred:
    """Not a failure: the handler chose to wait (a rate limit of ours). The job goes back to
    pending after `delay` and keeps its attempt, so waiting never dead-letters it."""

    delay: timedelta
    reason: str = ""


Outcome = Succeeded | Failed | Deferred
JobHandler = Callable[[Job], Awaitable[Outcome]]


@dataclass(frozen=True)
class Finished:
    """One attempt as the worker settled it, for its observer (logs and metrics)."""

    job: Job
    outcome: Outcome
    decision: FailureDecision | None
    """For a failure, what the worker recorded: retry later or dead. None for a success or a
    deferral, and for a failure that could not be recorded (the janitor recovers that job)."""
    seconds: float


JobObserver = Callable[[Finished], None]


def default_owner() -> str:
    """Unique per process incarnation, so a restarted pod never mistakes old leases for its own."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


_QUEUE_DEFAULTS = QueueSettings()


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = 32
    batch_size: int = CLAIM_BATCH
    poll_interval: timedelta = timedelta(seconds=1)
    shutdown_grace: timedelta = timedelta(seconds=20)
    max_attempts: int = 5
    backoff: tuple[timedelta, ...] = _QUEUE_DEFAULTS.backoff
    max_retry_after: timedelta = _QUEUE_DEFAULTS.max_retry_after
    lease: timedelta = _QUEUE_DEFAULTS.stuck_timeout
    heartbeat_interval: timedelta = _QUEUE_DEFAULTS.heartbeat_interval
    listen: bool = True
    bots: frozenset[str] | None = None
    """Claim only jobs of these bots (None: any), so gateways serving different bots can share
    one database: a worker never takes a job it has no handler for."""

    @classmethod
    def from_settings(cls, settings: QueueSettings, **overrides: Any) -> "WorkerConfig":
        """The queue environment's retry and lease settings, plus the caller's own."""
        base = cls(
            max_attempts=settings.max_attempts,
            backoff=settings.backoff,
            max_retry_after=settings.max_retry_after,
            lease=settings.stuck_timeout,
            heartbeat_interval=settings.heartbeat_interval,
        )
        return replace(base, **overrides)


class Worker:
    """Runs `handler` over claimed jobs until `stop` is set, then drains within the grace."""

    def __init__(
        self,
        store: Store,
        handler: JobHandler,
        config: WorkerConfig | None = None,
        *,
        owner: str | None = None,
        observer: JobObserver | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.handler = handler
        self.config = config or WorkerConfig()
        self.owner = owner or default_owner()
        self._observer = observer
        self._rng = rng or random.Random()
        self._running: dict[int, tuple[Job, asyncio.Task[None]]] = {}
        self._started_at: dict[int, float] = {}
        """When each running job's handler started (perf_counter), for the shutdown's log. A job
        claimed ahead that still waits for a handler slot has none."""
        self._to_complete: list[Job] = []
        self._completing = 0
        """Jobs in the completion statement now running: they still take a slot (backpressure)."""
        self._completion_ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        self.processed = 0
        self.listening = asyncio.Event()
        """Set while a LISTEN connection is up and NOTIFYs wake this worker."""
        self.idle = asyncio.Event()
        """Set while the worker found no due job and waits for a wake-up or the next poll."""
        self._isolated: int | None = None
        """The isolated job this worker runs alone, if any (see `policy.plan_claim`)."""
        self._isolated_waiting = False
        self._isolated_checked_at = -float("inf")
        self._poll_s = self.config.poll_interval.total_seconds()
        self._said_polling = False
        self._handler_slots = asyncio.Semaphore(self.config.concurrency)
        """At most `concurrency` jobs in handlers; jobs claimed ahead wait here for a slot."""
        self._claim_s: float | None = None
        self._handler_s: float | None = None
        """Recent claim round trips and handler times, smoothed (see `policy.claim_ahead`)."""

    @property
    def settling(self) -> int:
        """Jobs whose handler finished, awaiting (or inside) their completion statement."""
        return len(self._to_complete) + self._completing

    @property
    def in_flight(self) -> int:
        """Jobs claimed and not yet settled in the database: running or awaiting completion."""
        return len(self._running) + self.settling

    async def run(self, stop: asyncio.Event) -> None:
        helpers = [
            asyncio.create_task(self._heartbeat_loop(), name="worker-heartbeat"),
            asyncio.create_task(self._complete_loop(), name="worker-complete"),
        ]
        if self.config.listen and self.store.can_listen:
            helpers.append(asyncio.create_task(self._listen_loop(), name="worker-listen"))
        elif self.config.listen and not self._said_polling:
            # Once per worker (a restarted run says nothing new): no session to LISTEN on.
            self._said_polling = True
            log.info(
                "no LISTEN behind a transaction pooler without DATABASE_DIRECT_URL: "
                "new jobs are found by polling, up to one poll interval late",
                extra={"poll_interval_s": self._poll_s},
            )
        try:
            await self._claim_loop(stop)
            await self._drain()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._flush_completions(give_up_after=self.config.shutdown_grace.total_seconds())

    async def _listen_loop(self) -> None:
        """Relay NOTIFYs to the claim loop; listen again after the connection drops. Polling
        covers the gaps, so a database restart only slows wake-ups for a moment."""
        failures = 0
        while True:
            try:
                async with self.store.notifications() as listening:
                    failures = 0
                    self.listening.set()
                    while not listening.lost.is_set():
                        await listening.woken.wait()
                        listening.woken.clear()
                        self._wake.set()
            except QueueError as exc:
                failures += 1
                if failures == 1:
                    log.warning("LISTEN unavailable, polling only", extra={"error": str(exc)})
            finally:
                self.listening.clear()
            await asyncio.sleep(min(0.2 * 2**failures, 5.0))

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            self._wake.clear()
            try:
                await self._refresh_isolated()
                plan = plan_claim(
                    running=len(self._running),
                    settling=self.settling,
                    concurrency=self.config.concurrency,
                    batch_size=self.config.batch_size,
                    running_isolated=self._isolated is not None,
                    isolated_waiting=self._isolated_waiting,
                    ahead=claim_ahead(
                        concurrency=self.config.concurrency,
                        batch_size=self.config.batch_size,
                        claim_seconds=self._claim_s,
                        handler_seconds=self._handler_s,
                    ),
                )
                if isinstance(plan, WaitForSlot):
                    self._slot_free.clear()
                    await _first_of(stop.wait(), self._slot_free.wait())
                    continue
                if isinstance(plan, ClaimIsolated):
                    job = await self.store.claim_isolated(
                        self.owner, self.config.lease, bots=self.config.bots
                    )
                    failures = 0
                    # Found one: more may wait, so look again once it settled. None: taken.
                    self._isolated_waiting = job is not None
                    if job is not None:
                        self._isolated = job.id
                        self._start(job)
                    continue
                asked = time.perf_counter()
                jobs = await self.store.claim(
                    self.owner, plan.limit, self.config.lease, bots=self.config.bots
                )
                self._claim_s = smoothed(self._claim_s, time.perf_counter() - asked)
                failures = 0
            except QueueError as exc:
                failures += 1
                delay = min(0.1 * 2**failures, 5.0)
                log.warning("claim failed, retrying", extra={"error": str(exc), "in_s": delay})
                await _first_of(stop.wait(), asyncio.sleep(delay))
                continue
            for job in jobs:
                self._start(job)
            if len(jobs) < plan.limit:
                self.idle.set()
                await _first_of(
                    stop.wait(),
                    self._wake.wait(),
                    asyncio.sleep(self._poll_s),
                )
                self.idle.clear()

    async def _refresh_isolated(self) -> None:
        """Ask whether an isolated job waits, at most once per poll interval (one cheap indexed
        query): the janitor puts them back with an UPDATE, which wakes no listener."""
        now = time.monotonic()
        if self._isolated is not None or now < self._isolated_checked_at + self._poll_s:
            return
        self._isolated_checked_at = now
        self._isolated_waiting = await self.store.isolated_due(bots=self.config.bots)

    def _start(self, job: Job) -> None:
        task = asyncio.create_task(self._run_job(job))
        self._running[job.id] = (job, task)

    async def _run_job(self, job: Job) -> None:
        async with self._handler_slots:
            started = time.perf_counter()
            self._started_at[job.id] = started
            try:
                outcome = await self.handler(job)
            except Exception as exc:  # a handler bug must fail the job, not the worker
                outcome = Failed(truncate_error(f"{type(exc).__name__}: {exc}"))
            self._handler_s = smoothed(self._handler_s, time.perf_counter() - started)
        decision = None
        try:
            decision = await self._settle(job, outcome)
        finally:
            self._running.pop(job.id, None)
            self._started_at.pop(job.id, None)
            if self._isolated == job.id:
                self._isolated = None
            self._slot_free.set()
            if self._observer is not None:
                seconds = time.perf_counter() - started
                self._observer(Finished(job, outcome, decision, seconds))

    async def _settle(self, job: Job, outcome: Outcome) -> FailureDecision | None:
        """Record the outcome; for a failure, the decision recorded (None: not recorded)."""
        if isinstance(outcome, Succeeded):
            self._to_complete.append(job)
            self._completion_ready.set()
            return None
        if isinstance(outcome, Deferred):
            try:
                await self.store.defer(self.owner, job, outcome.delay)
            except QueueError as exc:
                log.warning(
                    "could not defer a job; the janitor will recover it",
                    extra={"job_id": job.id, "error": str(exc)},
                )
            return None
        decision = decide_failure(
            attempts=job.attempts,
            max_attempts=self.config.max_attempts,
            error=outcome.error,
            schedule=self.config.backoff,
            jitter_unit=self._rng.random(),
            max_retry_after=self.config.max_retry_after,
            retry_after=outcome.retry_after,
            permanent=outcome.permanent,
        )
        try:
            if isinstance(decision, DeadLetter):
                held = await self.store.dead_letter(self.owner, job, decision.error)
            else:
                held = await self.store.retry(self.owner, job, decision.delay, decision.error)
        except QueueError as exc:
            log.warning(
                "could not record a failure; the janitor will recover the job",
                extra={"job_id": job.id, "error": str(exc)},
            )
            return None
        if not held:
            log.warning("job was taken back before it failed", extra={"job_id": job.id})
            return None
        return decision

    async def _complete_loop(self) -> None:
        while True:
            await self._completion_ready.wait()
            self._completion_ready.clear()
            await self._flush_completions()

    async def _flush_completions(self, *, give_up_after: float | None = None) -> None:
        """One UPDATE for the jobs finished since the last flush (group commit), at most
        COMPLETION_BATCH at a time so one statement stays short. With `give_up_after`, stop
        retrying after that many seconds: the leases then lapse and the janitor recovers."""
        deadline = None if give_up_after is None else time.monotonic() + give_up_after
        while self._to_complete:
            batch = self._to_complete[:COMPLETION_BATCH]
            del self._to_complete[:COMPLETION_BATCH]
            self._completing = len(batch)
            try:
                done = await self.store.complete_many(self.owner, [j.held for j in batch])
            except QueueError as exc:
                self._to_complete[:0] = batch
                if deadline is not None and time.monotonic() > deadline:
                    log.warning("giving up completing jobs", extra={"jobs": len(batch)})
                    return
                log.warning("completion failed, will retry", extra={"error": str(exc)})
                await asyncio.sleep(0.5)
                continue
            except asyncio.CancelledError:
                # Interrupted mid-statement (shutdown): keep the batch for the final flush;
                # completing twice is harmless, the second finds nothing held.
                self._to_complete[:0] = batch
                raise
            finally:
                self._completing = 0
                self._slot_free.set()
            self.processed += len(done)
            if len(done) < len(batch):
                log.warning(
                    "some finished jobs were taken back before completion",
                    extra={"lost": len(batch) - len(done)},
                )
            self._wake.set()

    async def _heartbeat_loop(self) -> None:
        interval = self.config.heartbeat_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)
            ids = list(self._running) + [j.id for j in self._to_complete]
            try:
                held = await self.store.heartbeat(self.owner, ids, self.config.lease)
            except QueueError as exc:
                log.warning("heartbeat failed", extra={"error": str(exc)})
                continue
            # A job settled while the heartbeat was on its way is no longer running, so the
            # heartbeat skips it: only jobs this worker still holds can have been taken back.
            waiting = {j.id for j in self._to_complete}
            lost = {i for i in set(ids) - held if i in self._running or i in waiting}
            if lost:
                log.warning(
                    "leases lost; results will be discarded", extra={"job_ids": sorted(lost)}
                )

    async def _drain(self) -> None:
        """Let running jobs finish within the grace period; hand the rest back."""
        tasks = [task for _, task in self._running.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=self.config.shutdown_grace.total_seconds())
        now = time.perf_counter()
        cut_off = [
            (job, now - self._started_at[job.id], self._decide_interrupted(job))
            for job, _ in self._running.values()
            if job.id in self._started_at
        ]
        never_started = [job for job, _ in self._running.values() if job.id not in self._started_at]
        for _, task in list(self._running.values()):
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            # Claimed ahead and never handed to a handler: nothing of them ran.
            await self.store.release(self.owner, [job.held for job in never_started], charge=False)
            for charge in (False, True):
                await self._hand_back(
                    [(job, ran_s) for job, ran_s, d in cut_off if d == HandBack(charge)], charge
                )
            for job, ran_s, d in cut_off:
                if isinstance(d, DeadLetter):
                    await self._dead_letter_interrupted(job, ran_s, d)
        except QueueError as exc:
            log.warning(
                "could not hand interrupted jobs back; the janitor will recover them",
                extra={"job_ids": [job.id for job, _, _ in cut_off], "error": str(exc)},
            )

    def _decide_interrupted(self, job: Job) -> InterruptionDecision:
        return decide_interrupted(
            attempts=job.attempts,
            max_attempts=self.config.max_attempts,
            running_alone=job.id == self._isolated,
        )

    async def _hand_back(self, cut_off: list[tuple[Job, float]], charge: bool) -> None:
        """Release jobs the shutdown grace cut off (`policy.decide_interrupted`), and say so."""
        if not cut_off:
            return
        held = await self.store.release(
            self.owner, [job.held for job, _ in cut_off], charge=charge, isolate=True
        )
        for job, ran_s in cut_off:
            if job.id not in held:
                continue  # settled or taken back meanwhile: nothing of it was cut off
            log.warning(
                "job interrupted by the shutdown after %.1fs; back in the queue, %s",
                ran_s,
                "this attempt counted (it ran alone)" if charge else "this attempt not counted",
                extra={
                    "job_id": job.id,
                    "bot": job.bot_slug,
                    "update_id": job.update_id,
                    "attempt": job.attempts,
                    "ran_s": round(ran_s, 3),
                    "attempt_charged": charge,
                },
            )

    async def _dead_letter_interrupted(self, job: Job, ran_s: float, decision: DeadLetter) -> None:
        held = await self.store.dead_letter(self.owner, job, decision.error)
        if held and self._observer is not None:
            self._observer(Finished(job, Failed(decision.error), decision, ran_s))


async def _first_of(*awaitables: Awaitable[object]) -> None:
    """Wait until any of the awaitables finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
