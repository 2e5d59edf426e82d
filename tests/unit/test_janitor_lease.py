"""How long the janitor lease outlives a janitor that died holding it."""

from datetime import timedelta

import pytest

from botgateway.janitor.maintenance import janitor_lease_ttl
from botgateway.queue import QueueSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("stuck_timeout", "ttl"),
    [
        (timedelta(seconds=4), timedelta(seconds=5)),  # never shorter than a slow batch
        (timedelta(seconds=30), timedelta(seconds=15)),
        (timedelta(minutes=30), timedelta(seconds=60)),  # the default timeout
    ],
)
def test_a_dead_holder_delays_recovery_by_half_a_stuck_timeout_at_most(
    stuck_timeout: timedelta, ttl: timedelta
) -> None:
    # A worker's in-process janitor dies with the worker; its lease must not hold back the
    # recovery of that worker's jobs much beyond the stuck timeout itself.
    settings = QueueSettings(database_url="postgresql://x@h/db", stuck_timeout=stuck_timeout)
    assert janitor_lease_ttl(settings) == ttl
