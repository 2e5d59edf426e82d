from datetime import UTC, datetime, timedelta

import pytest

from botgateway.operator.conditions import Condition, find, merge_conditions

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_new_condition_gets_a_transition_time() -> None:
    out = merge_conditions([], [Condition.true("Ready", "Reconciled", "ok")], now=T0, generation=2)
    assert out == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Reconciled",
            "message": "ok",
            "lastTransitionTime": "2026-11-30T12:00:00Z",
            "observedGeneration": 2,
        }
    ]


def test_same_status_keeps_the_transition_time() -> None:
    first = merge_conditions([], [Condition.true("Ready", "Reconciled", "a")], now=T0)
    again = merge_conditions(first, [Condition.true("Ready", "Reconciled", "b")], now=T1)
    assert again[0]["lastTransitionTime"] == "2026-11-30T12:00:00Z"
    assert again[0]["message"] == "b"


def test_status_change_moves_the_transition_time() -> None:
    first = merge_conditions([], [Condition.true("Ready", "Reconciled", "a")], now=T0)
    flipped = merge_conditions(first, [Condition.false("Ready", "SecretMissing", "b")], now=T1)
    assert flipped[0]["lastTransitionTime"] == "2026-11-30T12:05:00Z"


def test_other_conditions_are_kept_and_order_is_stable() -> None:
    first = merge_conditions(
        [],
        [Condition.true("QueueHealthy", "Healthy", "q"), Condition.true("Custom", "X", "")],
        now=T0,
    )
    out = merge_conditions(first, [Condition.false("Ready", "SecretMissing", "m")], now=T1)
    assert [c["type"] for c in out] == ["Ready", "QueueHealthy", "Custom"]
    ready = find(out, "Ready")
    assert ready is not None
    assert ready["reason"] == "SecretMissing"
    assert find(out, "Nope") is None


def test_unchanged_updates_are_idempotent() -> None:
    updates = [Condition.true("Ready", "Reconciled", "a"), Condition.unknown("Available", "R", "")]
    first = merge_conditions([], updates, now=T0, generation=1)
    assert merge_conditions(first, updates, now=T1, generation=1) == first
