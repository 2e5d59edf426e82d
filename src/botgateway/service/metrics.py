"""Prometheus metrics of one service instance, in its own registry (so tests can run several).

Queue depth is read from the database when `/metrics` is scraped; the janitor's counts arrive
as plain numbers so this package never imports the janitor."""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from botgateway.contract.janitor import JanitorResult
from botgateway.queue import (
    STATUSES,
    DeadLetter,
    Deferred,
    Finished,
    JanitorRound,
    Outcome,
    QueueStats,
    Succeeded,
)

from .histograms import LabelledHistogram

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNKNOWN_BOT = "(unknown)"
"""The bot label of requests for slugs we do not serve, so strangers cannot grow our label set."""


class _QueueCollector(Collector):
    def __init__(self) -> None:
        self.stats: QueueStats | None = None
        self.rounds: list[JanitorRound] = []
        self.database_up = False

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "botgateway_database_up", "1 when the last queue read at scrape time succeeded."
        )
        up.add_metric([], 1.0 if self.database_up else 0.0)
        yield up
        if self.stats is None:
            return
        depth = GaugeMetricFamily(
            "botgateway_queue_jobs",
            "Jobs in the queue by bot and status.",
            labels=["bot", "status"],
        )
        for bot in sorted({r.bot_slug for r in self.stats.rows}):
            for status in STATUSES:
                depth.add_metric([bot, status], float(self.stats.count(status, bot)))
        yield depth
        oldest = GaugeMetricFamily(
            "botgateway_queue_oldest_pending_seconds",
            "Age of the oldest due pending job (0 when none waits).",
        )
        oldest.add_metric([], self.stats.oldest_pending_seconds())
        yield oldest
        yield from _janitor_rounds(self.rounds)

    def describe(self) -> Iterator[Metric]:
        return iter(())


def _janitor_rounds(rounds: list[JanitorRound]) -> Iterator[Metric]:
    """The last recorded round of each runner, whichever process ran it (the CronJob's pods
    cannot be scraped): every gateway pod reports the same values, so take the max."""
    if not rounds:
        return
    last = GaugeMetricFamily(
        "botgateway_janitor_last_round_timestamp_seconds",
        "When the last janitor round of each runner (once: the CronJob; loop: a gateway's "
        "in-process loop) finished, from the database.",
        labels=["runner"],
    )
    duration = GaugeMetricFamily(
        "botgateway_janitor_last_round_duration_seconds",
        "How long the last janitor round of each runner took.",
        labels=["runner"],
    )
    jobs = GaugeMetricFamily(
        "botgateway_janitor_last_round_jobs",
        "Jobs the last janitor round of each runner touched, by action (recovered, "
        "dead_lettered, purged).",
        labels=["runner", "action"],
    )
    for r in rounds:
        last.add_metric([r.runner], r.finished_at.timestamp())
        duration.add_metric([r.runner], r.duration_seconds)
        jobs.add_metric([r.runner, "recovered"], float(r.recovered))
        jobs.add_metric([r.runner, "dead_lettered"], float(r.dead_lettered))
        jobs.add_metric([r.runner, "purged"], float(r.purged))
    yield from (last, duration, jobs)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "botgateway_webhook_requests",
            "Webhook requests by bot and HTTP status.",
            ["bot", "status"],
            registry=self.registry,
        )
        self.ingest_batch = Histogram(
            "botgateway_ingest_batch_size",
            "Updates committed per group-commit insert.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
            registry=self.registry,
        )
        self.job_duration = LabelledHistogram(
            "botgateway_job_duration_seconds",
            "Time a handler took, by bot, handler and outcome.",
            ["bot", "handler", "outcome"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.registry.register(self.job_duration)
        self.dead_lettered = Counter(
            "botgateway_jobs_dead_lettered",
            "Jobs the workers of this process dead-lettered, by bot and reason (attempts_used: "
            "the last attempt failed; permanent: an answer no retry can help). The janitor's "
            "are in botgateway_janitor_jobs_total.",
            ["bot", "reason"],
            registry=self.registry,
        )
        self.janitor_runs = Counter(
            "botgateway_janitor_runs",
            "Janitor rounds of this process: ran, or skipped because another held the lock.",
            ["result"],
            registry=self.registry,
        )
        self.janitor_jobs = Counter(
            "botgateway_janitor_jobs",
            "Jobs the janitor touched, by action (purged, recovered, dead_lettered).",
            ["action"],
            registry=self.registry,
        )
        self.janitor_purge_longest_batch = Gauge(
            "botgateway_janitor_purge_longest_batch_seconds",
            "Longest purge statement of the last janitor round that ran: how long it held "
            "row locks at most.",
            registry=self.registry,
        )
        # labelled children, kept so the webhook skips `labels()`
        self._request_counters: dict[tuple[str, int], Counter] = {}
        self._queue = _QueueCollector()
        self.registry.register(self._queue)

    def request(self, bot: str, status: int) -> None:
        counter = self._request_counters.get((bot, status))
        if counter is None:
            counter = self.requests.labels(bot, str(status))
            self._request_counters[(bot, status)] = counter
        counter.inc()

    def job_finished(self, finished: Finished) -> None:
        job = finished.job
        self.job_duration.observe(
            (job.bot_slug, job.handler_type, _outcome_label(finished.outcome)), finished.seconds
        )
        if isinstance(finished.decision, DeadLetter):
            reason = "permanent" if finished.decision.permanent else "attempts_used"
            self.dead_lettered.labels(job.bot_slug, reason).inc()

    def janitor_round(self, counts: JanitorResult) -> None:
        self.janitor_runs.labels("ran" if counts.ran else "skipped").inc()
        self.janitor_jobs.labels("purged").inc(counts.purged)
        self.janitor_jobs.labels("recovered").inc(counts.recovered)
        self.janitor_jobs.labels("dead_lettered").inc(counts.dead_lettered)
        if counts.ran:
            self.janitor_purge_longest_batch.set(counts.purge_longest_batch_s)

    def queue_read(
        self, stats: QueueStats | None, rounds: list[JanitorRound] | None = None
    ) -> None:
        """The latest queue snapshot and janitor rounds, or None when the database could not be
        read (the last values read stay)."""
        self._queue.database_up = stats is not None
        if stats is not None:
            self._queue.stats = stats
        if rounds is not None:
            self._queue.rounds = rounds

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _outcome_label(outcome: Outcome) -> str:
    if isinstance(outcome, Succeeded):
        return "succeeded"
    if isinstance(outcome, Deferred):
        return "deferred"
    return "failed_permanently" if outcome.permanent else "failed"
