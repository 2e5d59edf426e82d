"""A labelled Prometheus histogram whose label sets cost a list each, rendered at scrape time.

prometheus_client builds a child for every new label set: one locked value per bucket, each
bucket bound formatted, about 50 µs. Job durations are labelled by bot, so a gateway serving
10,000 bots paid that on every bot's first job: half the worker's CPU while draining a backlog
spread over them (`python -m tests.bench --only curves --curve bots`). Here a new label set is
a list of counts, and an observation a bisect and two additions. One event loop observes and
renders, so nothing needs a lock."""

import math
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_bound_text: Callable[[float], str] = floatToGoString
"""How prometheus_client writes a bucket's `le` (typed here: the library's function is not)."""


class LabelledHistogram(Collector):
    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> None:
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError("buckets must be given in increasing order")
        self._name = name
        self._documentation = documentation
        self._labels = list(labels)
        self._bounds = tuple(float(bound) for bound in buckets if bound != math.inf)
        self._les = [_bound_text(bound) for bound in (*self._bounds, math.inf)]
        self._counts: dict[tuple[str, ...], list[int]] = {}
        """Per label set, observations per bucket (not cumulative), the last one above every
        bound."""
        self._sums: dict[tuple[str, ...], float] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        counts = self._counts.get(labels)
        if counts is None:
            counts = self._counts[labels] = [0] * len(self._les)
            self._sums[labels] = 0.0
        # `le` is inclusive: a value equal to a bound counts in that bound's bucket
        counts[bisect_left(self._bounds, value)] += 1
        self._sums[labels] += value

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labels)
        for labels, counts in self._counts.items():
            family.add_metric(
                list(labels),
                list(zip(self._les, map(float, accumulate(counts)), strict=True)),
                self._sums[labels],
            )
        yield family
