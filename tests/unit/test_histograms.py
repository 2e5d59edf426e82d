import math

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from botgateway.service.histograms import LabelledHistogram

pytestmark = pytest.mark.unit

BUCKETS = (0.001, 0.01, 0.1, 1, 10)


def _series(registry: CollectorRegistry) -> list[str]:
    """The exposition without prometheus_client's `_created` series (not kept here)."""
    lines = generate_latest(registry).decode().splitlines()
    return [line for line in lines if "_created" not in line]


def test_exposes_what_a_prometheus_client_histogram_exposes() -> None:
    ours, reference = CollectorRegistry(), CollectorRegistry()
    histogram = LabelledHistogram("job_seconds", "How long.", ["bot", "outcome"], BUCKETS)
    ours.register(histogram)
    expected = Histogram(
        "job_seconds", "How long.", ["bot", "outcome"], buckets=BUCKETS, registry=reference
    )
    observations = [
        (("a", "ok"), 0.0005),
        (("a", "ok"), 0.01),  # on a bound: counted in that bound's bucket
        (("a", "ok"), 0.5),
        (("b", "failed"), 11.0),  # above every bound: only +Inf
        (("a", "failed"), 0.001),
    ]
    for labels, value in observations:
        histogram.observe(labels, value)
        expected.labels(*labels).observe(value)

    assert _series(ours) == _series(reference)
    assert 'job_seconds_bucket{bot="a",le="0.01",outcome="ok"} 2.0' in _series(ours)


def test_an_infinite_bound_given_is_the_inf_bucket_once() -> None:
    registry = CollectorRegistry()
    histogram = LabelledHistogram("h", "h", ["bot"], (1, math.inf))
    registry.register(histogram)
    histogram.observe(("a",), 5)
    assert [line for line in _series(registry) if "_bucket" in line] == [
        'h_bucket{bot="a",le="1.0"} 0.0',
        'h_bucket{bot="a",le="+Inf"} 1.0',
    ]


def test_buckets_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError, match="increasing"):
        LabelledHistogram("h", "h", ["bot"], (1, 0.5))
