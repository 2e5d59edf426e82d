"""The janitor's recovery decision, without a database: which stuck jobs are found is the
store's SQL (tests/integration/test_janitor.py); what becomes of each is decided here."""

from datetime import UTC, datetime, timedelta

import pytest

from botgateway.janitor import decide_recovery
from botgateway.queue.jobs import StuckJob

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def stuck(*, attempts: int = 1, owner: str | None = "pod-a") -> StuckJob:
    return StuckJob(
        id=7,
        attempts=attempts,
        lease_owner=owner,
        lease_expires_at=NOW - timedelta(seconds=1) if owner else None,
        updated_at=NOW - timedelta(hours=1),
        now=NOW,
    )


def test_a_job_with_attempts_left_goes_back_to_pending() -> None:
    settlement = decide_recovery(stuck(attempts=2), max_attempts=5)
    assert (settlement.id, settlement.status) == (7, "pending")
    assert "pod-a stopped heartbeating on attempt 2" in settlement.error


def test_a_job_on_its_last_attempt_is_dead() -> None:
    settlement = decide_recovery(stuck(attempts=5), max_attempts=5)
    assert settlement.status == "dead"
    assert "no attempts left" in settlement.error


def test_a_seed_job_without_a_lease_is_named_so() -> None:
    settlement = decide_recovery(stuck(owner=None), max_attempts=5)
    assert "a worker without a lease" in settlement.error
