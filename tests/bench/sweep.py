"""A sweep of drains: one setting per key, several interleaved rounds each, the best round of
each setting counts, and the best setting is the one a user tuning by hand would pick."""

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .workload import Drained

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Sweep(Generic[K]):
    drains: dict[K, list[Drained]] = field(default_factory=dict)
    """Every round of every setting, in the order measured."""

    def add(self, key: K, drained: Drained) -> None:
        self.drains.setdefault(key, []).append(drained)

    def best(self, key: K) -> float:
        return max(d.per_second for d in self.drains[key])

    def best_key(self, among: Callable[[K], bool] = lambda _: True) -> K:
        """The setting with the highest best round, among those `among` accepts."""
        keys = [k for k in self.drains if among(k)]
        if not keys:
            raise ValueError("no measured setting to choose from")
        return max(keys, key=self.best)

    def table(
        self,
        heading: str,
        label: Callable[[K], str],
        marked: Iterable[K] = (),
        mark: str = "  <- best",
    ) -> str:
        """One line per setting: its best, every round's jobs/s, and `mark` beside `marked`."""
        marked = set(marked)
        width = max([len(heading), *(len(label(k)) for k in self.drains)])
        lines = [f"{heading:>{width}}  {'best jobs/s':>11}  rounds"]
        for key, drains in self.drains.items():
            rounds = ", ".join(_rate(d) for d in drains)
            suffix = mark if key in marked else ""
            lines.append(f"{label(key):>{width}}  {self.best(key):>11,.0f}  {rounds}{suffix}")
        return "\n".join(lines)


def _rate(drained: Drained) -> str:
    """A round's jobs/s; `*` marks one stopped by the time budget before the backlog ran out."""
    return f"{drained.per_second:,.0f}" + ("" if drained.finished else "*")
