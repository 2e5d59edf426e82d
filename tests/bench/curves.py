"""How cost grows: curves of drain rates over one variable, and what they say (pure logic).

A curve is the drain rate at each value of one variable (rows already in the table, bots, ...),
every point measured in one or more rounds; a point's best round counts, and the curve is read
against its first point (the small case)."""

from collections.abc import Sequence
from dataclasses import dataclass

CLIFF = 0.7
"""A point below this fraction of the small case's rate is a cliff (issue 13's target)."""


@dataclass(frozen=True)
class Point:
    x: int
    rates: tuple[float, ...]
    """jobs/s of every round at this point, in order."""
    gateway_us: float = 0.0
    postgres_us: float = 0.0
    """CPU per job of the gateway process(es) and of PostgreSQL, the least of the rounds (CPU
    moves less than a rate when other work shares the machine)."""

    @property
    def best(self) -> float:
        return max(self.rates) if self.rates else 0.0


@dataclass(frozen=True)
class Curve:
    name: str
    """Its key prefix in results.json, e.g. `rows`."""
    x_label: str
    points: tuple[Point, ...]
    controls: tuple[Point, ...] = ()
    """The small case measured again beside each point (same x), in the same rounds, where the
    points cannot be interleaved (a table that only grows): each point is read against its
    own control instead of against the first point, measured minutes earlier."""

    def at(self, x: int) -> Point:
        return next(p for p in self.points if p.x == x)

    def reference(self, x: int) -> Point:
        """What the point at `x` is read against: its control, else the first point."""
        return next((c for c in self.controls if c.x == x), self.points[0])

    def vs_first(self, x: int) -> float:
        """The best rate at `x` over the small case's best (see `reference`)."""
        small = self.reference(x).best
        return self.at(x).best / small if small > 0 else 0.0

    @property
    def top(self) -> Point:
        return self.points[-1]


def cliffs(curve: Curve, floor: float = CLIFF) -> list[Point]:
    """The points whose best rate falls below `floor` times the small case's."""
    return [
        p
        for p in curve.points
        if p is not curve.points[0] or curve.controls
        if curve.vs_first(p.x) < floor
    ]


def decades(smallest: int, largest: int) -> tuple[int, ...]:
    """smallest, 10x smallest, ... up to largest; largest itself ends the list even when it is
    not a decade (a `--curve-max-rows 3000000` run measures 3M last)."""
    if largest < smallest:
        return (largest,)
    sizes = []
    size = smallest
    while size < largest:
        sizes.append(size)
        size *= 10
    sizes.append(largest)
    return tuple(sizes)


def with_round(
    points: Sequence[Point], x: int, rate: float, gateway_us: float = 0.0, postgres_us: float = 0.0
) -> tuple[Point, ...]:
    """`points` with one more round at `x` (a new point at the end when `x` is new)."""
    if all(p.x != x for p in points):
        return (*points, Point(x, (rate,), gateway_us, postgres_us))
    return tuple(
        Point(
            p.x,
            (*p.rates, rate),
            min(p.gateway_us, gateway_us),
            min(p.postgres_us, postgres_us),
        )
        if p.x == x
        else p
        for p in points
    )


def per_update_us(cpu_seconds: float, updates: int) -> float:
    return cpu_seconds * 1e6 / updates if updates > 0 else 0.0


def describe(curve: Curve) -> str:
    """The curve as a table: each point's best, its rounds, and its ratio to the small case."""
    against = "vs control" if curve.controls else "vs first"
    lines = [
        f"{curve.x_label:>24}  {'best jobs/s':>11}  {against:>10}  "
        f"{'CPU us/job gw':>13}  {'pg':>4}  rounds"
    ]
    marked = {p.x for p in cliffs(curve)}
    for point in curve.points:
        rounds = ", ".join(f"{r:,.0f}" for r in point.rates)
        mark = f"  <- below {CLIFF:g}x: a cliff" if point.x in marked else ""
        control = ""
        if curve.controls:
            small = curve.reference(point.x)
            control = f"  (control: {', '.join(f'{r:,.0f}' for r in small.rates)})"
        # The ingest curves time a client call and measure no CPU.
        cpu = (
            f"{point.gateway_us:>13.0f}  {point.postgres_us:>4.0f}"
            if point.gateway_us or point.postgres_us
            else f"{'-':>13}  {'-':>4}"
        )
        lines.append(
            f"{point.x:>24,}  {point.best:>11,.0f}  {curve.vs_first(point.x):>9.2f}x  "
            f"{cpu}  {rounds}{control}{mark}"
        )
    return "\n".join(lines)
