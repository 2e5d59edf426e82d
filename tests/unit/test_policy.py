from datetime import UTC, datetime, timedelta

import pytest

from botgateway.queue.policy import (
    DeadLetter,
    RetryLater,
    backoff_delay,
    decide_failure,
    truncate_error,
    with_jitter,
)
from botgateway.queue.settings import QueueSettings

pytestmark = pytest.mark.unit

SEED = QueueSettings().backoff
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (1, timedelta(seconds=30)),
        (2, timedelta(minutes=2)),
        (3, timedelta(minutes=10)),
        (4, timedelta(hours=1)),
        (9, timedelta(hours=1)),
    ],
)
def test_backoff_follows_the_seed_and_repeats_its_last_step(
    attempt: int, expected: timedelta
) -> None:
    assert backoff_delay(attempt, SEED) == expected


def test_jitter_stays_within_ten_percent() -> None:
    base = timedelta(minutes=10)
    assert with_jitter(base, 0.0) == timedelta(minutes=9)
    assert with_jitter(base, 0.5) == base
    assert with_jitter(base, 0.999999) <= timedelta(minutes=11)


def test_failure_below_max_retries_after_jittered_backoff() -> None:
    decision = decide_failure(
        attempts=2, max_attempts=5, error="boom", schedule=SEED, jitter_unit=0.0
    )
    assert decision == RetryLater(timedelta(seconds=108), "boom")


def test_failure_at_max_is_dead() -> None:
    decision = decide_failure(
        attempts=5, max_attempts=5, error="boom", schedule=SEED, jitter_unit=0.5
    )
    assert decision == DeadLetter("boom")


def test_longer_retry_after_wins_and_shorter_does_not() -> None:
    longer = decide_failure(
        attempts=1,
        max_attempts=5,
        error="429",
        schedule=SEED,
        jitter_unit=0.5,
        retry_after=timedelta(minutes=5),
    )
    shorter = decide_failure(
        attempts=1,
        max_attempts=5,
        error="429",
        schedule=SEED,
        jitter_unit=0.5,
        retry_after=timedelta(seconds=3),
    )
    assert longer == RetryLater(timedelta(minutes=5), "429")
    assert shorter == RetryLater(timedelta(seconds=30), "429")


def test_last_error_is_cut_to_4096_characters() -> None:
    assert len(truncate_error("x" * 10_000)) == 4096
    decision = decide_failure(
        attempts=1, max_attempts=5, error="y" * 5000, schedule=SEED, jitter_unit=0.5
    )
    assert isinstance(decision, RetryLater)
    assert len(decision.error) == 4096
