"""Out of the box: one gateway process with no settings against its own best, tuned by hand.

The service (`--role worker`, `discard`) drains the same backlog once per WORKER_CONCURRENCY of
the sweep, and once with none set (its default), in interleaved rounds (default, 32, 64, ...,
default, 32, ...), each on a fresh database, so a burst of other work on the machine moves
every setting alike. Each setting's best round counts."""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import service_bench
from .databases import Databases
from .service_bench import ServiceSetup
from .sweep import Sweep

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
class SweepResults(Sweep[int | None]):
    @property
    def tuned(self) -> int:
        """The best setting by hand (the default itself is not a setting one tunes to)."""
        tuned = self.best_key(lambda c: c is not None)
        assert tuned is not None
        return tuned


async def sweep_round(
    dbs: Databases,
    service: ServiceSetup,
    concurrencies: tuple[int | None, ...],
    jobs: int,
    log_dir: Path,
    say: Say,
    round_: int,
    results: Sweep[int | None],
) -> None:
    """One drain of the service per WORKER_CONCURRENCY, each on a fresh database, added to
    `results` (a round of this part's sweep, and ours in the `river` part's rounds)."""
    for concurrency in concurrencies:
        run = dataclasses.replace(
            service, worker_concurrency=concurrency, drain_jobs=jobs, profile=False
        )
        drained, cpu = await service_bench.drain(dbs, run, log_dir)
        results.add(concurrency, drained)
        pg = f", postgres {cpu.pg:.2f}" if cpu.pg is not None else ""
        say(
            f"drain, round {round_}, WORKER_CONCURRENCY={label(concurrency)}: "
            f"{drained.per_second:,.0f} jobs/s ({drained.jobs:,} jobs in "
            f"{drained.seconds:.1f}s; cores: server {cpu.server:.2f}{pg})"
        )


async def measure(
    dbs: Databases,
    setup: DefaultsSetup,
    service: ServiceSetup,
    log_dir: Path,
    say: Say,
) -> SweepResults:
    results = SweepResults()
    for round_ in range(1, setup.rounds + 1):
        await sweep_round(dbs, service, setup.sweep, setup.jobs, log_dir, say, round_, results)
    return results


def sweep_table(results: SweepResults) -> str:
    return results.table("WORKER_CONCURRENCY", label, [results.tuned], "  <- tuned best")
