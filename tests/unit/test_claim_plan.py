"""`plan_claim`: a job taken back from a lost worker runs alone, and is not starved."""

import pytest

from botgateway.queue.policy import ClaimBatch, ClaimIsolated, WaitForSlot, plan_claim

pytestmark = pytest.mark.unit


def plan(
    in_flight: int = 0, *, running_isolated: bool = False, isolated_waiting: bool = False
) -> object:
    return plan_claim(
        in_flight=in_flight,
        concurrency=8,
        batch_size=5,
        running_isolated=running_isolated,
        isolated_waiting=isolated_waiting,
    )


def test_batches_fill_free_slots_up_to_the_batch_size() -> None:
    assert plan(0) == ClaimBatch(5)
    assert plan(5) == ClaimBatch(3)
    assert plan(8) == WaitForSlot()


def test_an_isolated_job_is_claimed_only_by_an_empty_worker() -> None:
    assert plan(0, isolated_waiting=True) == ClaimIsolated()


def test_a_busy_worker_drains_for_a_waiting_isolated_job_instead_of_claiming_more() -> None:
    assert plan(1, isolated_waiting=True) == WaitForSlot()
    assert plan(7, isolated_waiting=True) == WaitForSlot()


def test_nothing_else_is_claimed_while_an_isolated_job_runs() -> None:
    assert plan(1, running_isolated=True) == WaitForSlot()
    assert plan(1, running_isolated=True, isolated_waiting=True) == WaitForSlot()
