from datetime import UTC, datetime, timedelta

import pytest

from botgateway.service.handlers.forward import classify, parse_retry_after

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_retryable_statuses(status: int) -> None:
    outcome = classify(status, "", timedelta(seconds=3))
    assert not outcome.permanent
    assert outcome.retry_after == timedelta(seconds=3)


@pytest.mark.parametrize("status", [300, 302, 400, 401, 403, 404, 405, 409, 410, 413, 422])
def test_permanent_statuses(status: int) -> None:
    assert classify(status, "nope", None).permanent


def test_error_text_carries_status_and_body() -> None:
    assert (
        classify(404, " no such route \n", None).error == "backend answered HTTP 404: no such route"
    )


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == timedelta(seconds=120)
    assert parse_retry_after("Sat, 01 Jun 2024 12:00:30 GMT", now) == timedelta(seconds=30)
    assert parse_retry_after("Sat, 01 Jun 2024 11:00:00 GMT", now) == timedelta(0)
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
