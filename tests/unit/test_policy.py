from datetime import UTC, datetime, timedelta

import pytest

from botgateway.queue.policy import (
    DeadLetter,
    HandBack,
    RetryLater,
    backoff_delay,
    decide_failure,
    decide_interrupted,
    parked_in_batch,
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


HOUR = timedelta(hours=1)


def fail(attempts: int = 1, error: str = "boom", **kw: object) -> object:
    """`decide_failure` with the seed's schedule, no jitter, five attempts and a one-hour cap,
    unless the test says otherwise."""
    args: dict[str, object] = {
        "max_attempts": 5,
        "schedule": SEED,
        "jitter_unit": 0.5,
        "max_retry_after": HOUR,
        **kw,
    }
    return decide_failure(attempts=attempts, error=error, **args)  # type: ignore[arg-type]


def test_failure_below_max_retries_after_jittered_backoff() -> None:
    assert fail(2, jitter_unit=0.0) == RetryLater(timedelta(seconds=108), "boom")


def test_failure_at_max_is_dead() -> None:
    assert fail(5) == DeadLetter("boom")


def test_a_permanent_failure_is_dead_on_any_attempt() -> None:
    assert fail(1, "HTTP 404", permanent=True) == DeadLetter("HTTP 404", permanent=True)


def test_longer_retry_after_wins_and_shorter_does_not() -> None:
    longer = fail(1, "429", retry_after=timedelta(minutes=5))
    shorter = fail(1, "429", retry_after=timedelta(seconds=3))
    assert longer == RetryLater(timedelta(minutes=5), "429")
    assert shorter == RetryLater(timedelta(seconds=30), "429")


def test_a_retry_after_a_year_ahead_is_capped_and_says_so() -> None:
    a_year = timedelta(seconds=31_530_868)
    assert fail(1, "HTTP 503", retry_after=a_year) == RetryLater(
        HOUR, "HTTP 503", capped_retry_after=a_year
    )


def test_a_retry_after_at_the_cap_is_honoured_as_asked() -> None:
    assert fail(1, "HTTP 503", retry_after=HOUR) == RetryLater(HOUR, "HTTP 503")


def test_the_cap_never_shortens_the_backoff_itself() -> None:
    """A cap below the backoff's step bounds only what the other side asks for."""
    decision = fail(
        4, "HTTP 503", retry_after=timedelta(hours=3), max_retry_after=timedelta(minutes=1)
    )
    assert decision == RetryLater(HOUR, "HTTP 503", capped_retry_after=timedelta(hours=3))
    assert fail(4, max_retry_after=timedelta(seconds=1)) == RetryLater(HOUR, "boom")


def test_last_error_is_cut_to_4096_characters() -> None:
    assert len(truncate_error("x" * 10_000)) == 4096
    decision = fail(1, "y" * 5000)
    assert isinstance(decision, RetryLater)
    assert len(decision.error) == 4096


def test_an_attempt_cut_off_by_our_shutdown_is_given_back_even_the_last() -> None:
    """A rolling deploy never spends an attempt, so it can never dead-letter a healthy job."""
    for attempts in (1, 5, 9):
        decision = decide_interrupted(attempts=attempts, max_attempts=5, running_alone=False)
        assert decision == HandBack(charge=False)


def test_a_job_cut_off_again_while_running_alone_is_charged_and_ends_dead() -> None:
    """Running alone means it was cut off before: the stops may be its doing (a job that makes
    its pod restart each time), so its attempts count and run out, as for a crashing job."""
    assert decide_interrupted(attempts=4, max_attempts=5, running_alone=True) == HandBack(
        charge=True
    )
    dead = decide_interrupted(attempts=5, max_attempts=5, running_alone=True)
    assert isinstance(dead, DeadLetter)
    assert "attempt 5 of 5" in dead.error


def test_a_batch_parks_each_chats_updates_after_its_first_two() -> None:
    keys = [
        ("bot", "a"),
        ("bot", "b"),
        ("bot", "a"),
        ("bot", None),
        ("bot", "a"),
        ("other", "a"),
        ("bot", None),
        ("bot", None),
        ("bot", "a"),
    ]
    # Chats are per bot, and updates without a chat key never wait.
    assert parked_in_batch(keys) == [False, False, False, False, True, False, False, False, True]
