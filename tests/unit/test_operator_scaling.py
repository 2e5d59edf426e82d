from datetime import UTC, datetime, timedelta

import pytest

from botgateway.operator.scaling import Recommendation, decide_replicas, recommended_replicas
from botgateway.operator.spec import Scaling

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
AUTO = Scaling(
    replicas=None,
    min_replicas=1,
    max_replicas=10,
    pending_jobs_per_replica=100,
    scale_down_stabilization_seconds=300,
)


@pytest.mark.parametrize(
    ("pending", "expected"),
    [(0, 1), (1, 1), (100, 1), (101, 2), (500, 5), (999, 10), (5000, 10), (-3, 1)],
)
def test_recommendation_is_ceil_clamped(pending: int, expected: int) -> None:
    assert recommended_replicas(pending, AUTO) == expected


def test_fixed_replicas_ignore_the_queue() -> None:
    fixed = Scaling(replicas=3)
    decision = decide_replicas(10_000, fixed, current=1, history=(), now=NOW)
    assert decision.replicas == 3
    assert decision.history == ()


def test_scale_up_is_immediate() -> None:
    decision = decide_replicas(500, AUTO, current=1, history=(), now=NOW)
    assert decision.replicas == 5


def test_scale_down_waits_for_the_window() -> None:
    up = decide_replicas(500, AUTO, current=1, history=(), now=NOW)
    later = NOW + timedelta(seconds=60)
    held = decide_replicas(0, AUTO, current=up.replicas, history=up.history, now=later)
    assert held.replicas == 5
    assert held.recommended == 1
    assert "stabilisation" in held.reason

    after = NOW + timedelta(seconds=301)
    down = decide_replicas(0, AUTO, current=held.replicas, history=held.history, now=after)
    assert down.replicas == 1


def test_scale_down_goes_to_the_highest_recommendation_in_the_window() -> None:
    history = (
        Recommendation(NOW - timedelta(seconds=400), 8),  # outside the window: forgotten
        Recommendation(NOW - timedelta(seconds=200), 4),
        Recommendation(NOW - timedelta(seconds=100), 3),
    )
    decision = decide_replicas(0, AUTO, current=8, history=history, now=NOW)
    assert decision.replicas == 4


def test_no_history_counts_current_replicas_as_recommended_now() -> None:
    """A restarted operator does not scale down at once."""
    decision = decide_replicas(0, AUTO, current=7, history=(), now=NOW)
    assert decision.replicas == 7
    later = decide_replicas(
        0, AUTO, current=7, history=decision.history, now=NOW + timedelta(seconds=301)
    )
    assert later.replicas == 1


def test_history_is_pruned_to_possible_maxima() -> None:
    history: tuple[Recommendation, ...] = ()
    current = 1
    for i, pending in enumerate([100, 300, 200, 500, 400, 100]):
        d = decide_replicas(
            pending, AUTO, current=current, history=history, now=NOW + timedelta(seconds=i)
        )
        history, current = d.history, d.replicas
    assert [r.replicas for r in history] == [5, 4, 1]
    assert current == 5


def test_zero_window_scales_down_at_once() -> None:
    fast = Scaling(
        replicas=None, min_replicas=1, max_replicas=10, scale_down_stabilization_seconds=0
    )
    up = decide_replicas(900, fast, current=1, history=(), now=NOW)
    down = decide_replicas(0, fast, current=up.replicas, history=up.history, now=NOW)
    assert (up.replicas, down.replicas) == (9, 1)
