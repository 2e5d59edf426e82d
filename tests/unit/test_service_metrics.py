from datetime import UTC, datetime, timedelta

import pytest

from botgateway.contract.janitor import JanitorResult
from botgateway.queue import (
    DeadLetter,
    Failed,
    Finished,
    JanitorRound,
    Job,
    QueueStats,
    RetryLater,
    StatusCount,
    Succeeded,
)
from botgateway.service.metrics import Metrics

pytestmark = pytest.mark.unit


def job() -> Job:
    return Job(1, "support", "forward", 5, "{}", 1, None, datetime.now(UTC))


def test_everything_the_issue_asks_for_is_exposed() -> None:
    metrics = Metrics()
    metrics.request("support", 200)
    metrics.request("support", 401)
    metrics.job_finished(Finished(job(), Succeeded(), None, 0.02))
    permanent = Failed("x", permanent=True)
    metrics.job_finished(Finished(job(), permanent, DeadLetter("x", permanent=True), 0.5))
    metrics.janitor_round(JanitorResult(ran=True, purged=3, recovered=2, dead_lettered=1))
    metrics.janitor_round(JanitorResult(ran=False))
    metrics.queue_read(
        QueueStats(
            (
                StatusCount("support", "pending", 4, 12.5),
                StatusCount("support", "done", 9, None),
            )
        )
    )
    text = metrics.render().decode()
    assert 'botgateway_webhook_requests_total{bot="support",status="200"} 1.0' in text
    assert 'botgateway_webhook_requests_total{bot="support",status="401"} 1.0' in text
    assert 'botgateway_queue_jobs{bot="support",status="pending"} 4.0' in text
    assert 'botgateway_queue_jobs{bot="support",status="dead"} 0.0' in text
    assert "botgateway_queue_oldest_pending_seconds 12.5" in text
    assert (
        'botgateway_job_duration_seconds_count{bot="support",handler="forward",'
        'outcome="succeeded"} 1.0'
    ) in text
    assert 'outcome="failed_permanently"' in text
    assert 'botgateway_janitor_runs_total{result="ran"} 1.0' in text
    assert 'botgateway_janitor_runs_total{result="skipped"} 1.0' in text
    assert 'botgateway_janitor_jobs_total{action="purged"} 3.0' in text
    assert 'botgateway_janitor_jobs_total{action="recovered"} 2.0' in text
    assert "botgateway_database_up 1.0" in text


def test_database_down_keeps_the_last_depth_and_says_so() -> None:
    metrics = Metrics()
    metrics.queue_read(QueueStats((StatusCount("a", "pending", 1, 0.0),)))
    metrics.queue_read(None)
    text = metrics.render().decode()
    assert "botgateway_database_up 0.0" in text
    assert 'botgateway_queue_jobs{bot="a",status="pending"} 1.0' in text


def test_two_instances_do_not_share_a_registry() -> None:
    a, b = Metrics(), Metrics()
    a.request("x", 200)
    assert 'bot="x"' not in b.render().decode()


def test_the_last_janitor_round_of_each_runner_is_a_gauge() -> None:
    metrics = Metrics()
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    metrics.queue_read(QueueStats(()), [])
    assert "botgateway_janitor_last_round" not in metrics.render().decode()
    metrics.queue_read(
        QueueStats(()),
        [
            JanitorRound("loop", "gw-1", at, 0.25, 0, 0, 10),
            JanitorRound("once", "gw-janitor-x", at, 1.5, 2, 1, 300),
        ],
    )
    lines = set(metrics.render().decode().splitlines())
    assert {
        'botgateway_janitor_last_round_timestamp_seconds{runner="once"} 1.79604e+09',
        'botgateway_janitor_last_round_duration_seconds{runner="once"} 1.5',
        'botgateway_janitor_last_round_jobs{action="recovered",runner="once"} 2.0',
        'botgateway_janitor_last_round_jobs{action="dead_lettered",runner="once"} 1.0',
        'botgateway_janitor_last_round_jobs{action="purged",runner="loop"} 10.0',
    } <= lines
    metrics.queue_read(None)  # the database went away: the last rounds read stay
    assert 'botgateway_janitor_last_round_duration_seconds{runner="loop"} 0.25' in (
        metrics.render().decode()
    )


def test_dead_letterings_are_counted_by_bot_and_reason_and_retries_are_not() -> None:
    metrics = Metrics()
    metrics.job_finished(Finished(job(), Failed("x"), RetryLater(timedelta(1), "x"), 0.1))
    metrics.job_finished(Finished(job(), Failed("x"), DeadLetter("x"), 0.1))
    metrics.job_finished(Finished(job(), Failed("x"), DeadLetter("x"), 0.1))
    metrics.job_finished(Finished(job(), Failed("x"), None, 0.1))  # not recorded: no fate yet
    text = metrics.render().decode()
    assert 'botgateway_jobs_dead_lettered_total{bot="support",reason="attempts_used"} 2.0' in text
    assert 'reason="permanent"' not in text
