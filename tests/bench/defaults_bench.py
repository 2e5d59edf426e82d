"""Out of the box: one gateway process with no settings against its own best, tuned by hand.

The service (`--role worker`, `discard`) drains the same backlog once per WORKER_CONCURRENCY of
the sweep, and once with none set (its default), in interleaved rounds (default, 32, 64, ...,
default, 32, ...), each on a fresh database, so a burst of other work on the machine moves
every setting alike. Each setting's best round counts."""

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import service_bench
from .databases import Databases
from .service_bench import ServiceSetup
from .workload import Drained

Say = Callable[[str], None]
SWEEP = (None, 16, 32, 64, 128, 256, 512, 1024)
"""WORKER_CONCURRENCY values; None leaves it unset."""


@dataclass(frozen=True)
class DefaultsSetup:
    jobs: int = 50_000
    rounds: int = 3
    sweep: tuple[int | None, ...] = SWEEP


def label(concurrency: int | None) -> str:
    return "default" if concurrency is None else str(concurrency)


@dataclass(frozen=True)
class SweepResults:
    drains: dict[int | None, list[Drained]]

    def best(self, concurrency: int | None) -> float:
        return max(d.per_second for d in self.drains[concurrency])

    @property
    def tuned(self) -> int:
        """The best setting by hand (the default itself is not a setting one tunes to)."""
        return max((c for c in self.drains if c is not None), key=self.best)


async def measure(
    dbs: Databases,
    setup: DefaultsSetup,
    service: ServiceSetup,
    log_dir: Path,
    say: Say,
) -> SweepResults:
    drains: dict[int | None, list[Drained]] = {c: [] for c in setup.sweep}
    for round_ in range(1, setup.rounds + 1):
        swept = await sweep_round(dbs, service, setup.sweep, setup.jobs, log_dir, say, round_)
        for concurrency, drained in swept.items():
            drains[concurrency].append(drained)
    return SweepResults(drains)


async def sweep_round(
    dbs: Databases,
    service: ServiceSetup,
    concurrencies: Sequence[int | None],
    jobs: int,
    log_dir: Path,
    say: Say,
    round_: int = 1,
) -> dict[int | None, Drained]:
    """One round of "ours at its best": the service drains `jobs` once per WORKER_CONCURRENCY,
    each on a fresh database. Rounds of it, interleaved with a peer's, make a `SweepResults`."""
    drains: dict[int | None, Drained] = {}
    for concurrency in concurrencies:
        run = dataclasses.replace(
            service, worker_concurrency=concurrency, drain_jobs=jobs, profile=False
        )
        drained, cpu = await service_bench.drain(dbs, run, log_dir)
        drains[concurrency] = drained
        say(
            f"drain, round {round_}, WORKER_CONCURRENCY={label(concurrency)}: "
            f"{drained.per_second:,.0f} jobs/s ({drained.jobs:,} jobs in "
            f"{drained.seconds:.1f}s; server {cpu.server:.2f}, postgres {cpu.pg or 0:.2f} cores)"
        )
    return drains


def sweep_table(results: SweepResults) -> str:
    tuned = results.tuned
    lines = [f"{'WORKER_CONCURRENCY':>18}  {'best jobs/s':>11}  rounds"]
    for concurrency, drains in results.drains.items():
        mark = "  <- tuned best" if concurrency == tuned else ""
        rounds = ", ".join(f"{d.per_second:,.0f}" for d in drains)
        lines.append(
            f"{label(concurrency):>18}  {results.best(concurrency):>11,.0f}  {rounds}{mark}"
        )
    return "\n".join(lines)
