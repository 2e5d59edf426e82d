"""`plan_claim`: a job taken back from a lost worker runs alone, and is not starved."""

import pytest

from botgateway.queue.policy import (
    ClaimBatch,
    ClaimIsolated,
    WaitForSlot,
    claim_ahead,
    plan_claim,
    settle_limit,
    smoothed,
)

pytestmark = pytest.mark.unit


def plan(
    running: int = 0,
    settling: int = 0,
    *,
    running_isolated: bool = False,
    isolated_waiting: bool = False,
    ahead: int = 0,
) -> object:
    return plan_claim(
        running=running,
        settling=settling,
        concurrency=8,
        batch_size=5,
        running_isolated=running_isolated,
        isolated_waiting=isolated_waiting,
        ahead=ahead,
    )


def test_batches_fill_free_slots_up_to_the_batch_size() -> None:
    assert plan(0) == ClaimBatch(5)
    assert plan(5) == ClaimBatch(3)
    assert plan(8) == WaitForSlot()


def test_finished_jobs_awaiting_their_completion_take_no_handler_slot() -> None:
    assert plan(0, settling=8) == ClaimBatch(5)
    assert plan(6, settling=4) == ClaimBatch(2)


def test_claims_stop_while_too_many_finished_jobs_await_their_completion() -> None:
    limit = settle_limit(8, 5)
    assert plan(0, settling=limit + 3) == ClaimBatch(5)
    assert plan(0, settling=limit + 8) == WaitForSlot()
    assert plan(2, settling=limit + 5) == ClaimBatch(1)


def test_an_isolated_job_is_claimed_only_by_an_empty_worker() -> None:
    assert plan(0, isolated_waiting=True) == ClaimIsolated()
    assert plan(0, settling=1, isolated_waiting=True) == WaitForSlot()


def test_a_busy_worker_drains_for_a_waiting_isolated_job_instead_of_claiming_more() -> None:
    assert plan(1, isolated_waiting=True) == WaitForSlot()
    assert plan(7, isolated_waiting=True) == WaitForSlot()


def test_nothing_else_is_claimed_while_an_isolated_job_runs() -> None:
    assert plan(1, running_isolated=True) == WaitForSlot()
    assert plan(1, running_isolated=True, isolated_waiting=True) == WaitForSlot()


def test_jobs_claimed_ahead_wait_beside_the_handler_slots() -> None:
    assert plan(8, ahead=5) == ClaimBatch(5)
    assert plan(13, ahead=5) == WaitForSlot()


def test_quick_handlers_are_claimed_a_batch_ahead_and_slow_ones_not_at_all() -> None:
    def ahead(handler_seconds: float | None, claim_seconds: float | None = 0.002) -> int:
        return claim_ahead(
            concurrency=32,
            batch_size=100,
            claim_seconds=claim_seconds,
            handler_seconds=handler_seconds,
        )

    assert ahead(0.0) == 100
    assert ahead(0.000_05) == 100
    assert ahead(0.004) == 16  # half the slots free up while a claim is on its way
    assert ahead(0.1) == 0  # a forward to a backend: nothing waits in this worker
    assert ahead(None) == 0
    assert ahead(0.0, claim_seconds=None) == 0


def test_smoothed_follows_recent_samples() -> None:
    assert smoothed(None, 3.0) == 3.0
    assert smoothed(1.0, 2.0) == pytest.approx(1.2)
