from datetime import UTC, datetime, timedelta

import pytest

from botgateway.operator.ports import QueueSnapshot
from botgateway.operator.queue_report import not_migrated, queue_report
from botgateway.queue import JanitorRound, QueueStats, StatusCount

pytestmark = pytest.mark.unit

STATS = QueueStats(
    (
        StatusCount("a", "pending", 7, 12.0, 4),
        StatusCount("a", "running", 2, None),
        StatusCount("b", "pending", 100, 900.0, 100),  # another gateway's bot
        StatusCount("a", "dead", 1, None),
    )
)


def test_counts_only_this_gateways_bots_and_scales_on_due() -> None:
    report = queue_report(QueueSnapshot(STATS), ["a"], backlog_seconds=300)
    assert report.due == 4
    assert report.fields == {
        "pending": 7,
        "due": 4,
        "running": 2,
        "dead": 1,
        "oldestPendingSeconds": 12,
    }
    assert (report.condition.status, report.condition.reason) == ("True", "Healthy")
    assert report.condition.message == "7 pending (4 due), 2 running, 1 dead"


def test_an_old_due_job_is_a_backlog() -> None:
    report = queue_report(QueueSnapshot(STATS), ["a", "b"], backlog_seconds=300)
    assert (report.condition.status, report.condition.reason) == ("False", "Backlog")


def test_not_migrated_is_unknown_and_takes_no_scaling_decision() -> None:
    report = not_migrated('relation "gateway_jobs" does not exist')
    assert (report.condition.status, report.condition.reason) == ("Unknown", "NotMigrated")
    assert report.due is None
    assert report.fields == {}


def test_janitor_status_is_the_databases_last_round_whoever_ran_it() -> None:
    early = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    rounds = (
        JanitorRound(
            "once", "support-janitor-abc", early + timedelta(minutes=15), 1.23456, 2, 1, 40
        ),
        JanitorRound("loop", "support-7d9f", early, 0.5, 0, 0, 0),
    )
    report = queue_report(QueueSnapshot(STATS, rounds), ["a"], backlog_seconds=300)
    assert report.janitor == {
        "lastRoundTime": "2026-11-30T12:15:00Z",
        "runner": "once",
        "host": "support-janitor-abc",
        "durationSeconds": 1.235,
        "recovered": 2,
        "deadLettered": 1,
        "purged": 40,
    }
    assert queue_report(QueueSnapshot(STATS), ["a"], backlog_seconds=300).janitor is None
