"""uvloop on and off: the service's webhook ingest and its worker's drain on each event loop.

Ingest: two service webhooks (`--role webhook`), one per loop, started together on their own
fresh databases and measured in interleaved rounds (asyncio, uvloop, asyncio, ...) by the same
load generator. Drain: the service worker (`discard`, the service's default WORKER_CONCURRENCY)
on the same backlog, one loop after the other, round after round. Each side's best round counts.
"""

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import service_bench
from .databases import Databases
from .service_bench import Load, ServiceSetup, closed_round, describe, started
from .workload import Drained

Say = Callable[[str], None]
LOOPS = ("asyncio", "uvloop")


@dataclass(frozen=True)
class LoopSetup:
    rounds: int = 3
    drain_jobs: int = 50_000


@dataclass(frozen=True)
class LoopResults:
    ingest: dict[str, Load]
    drain: dict[str, list[Drained]]
    drain_cpu_us_per_job: dict[str, list[float]]
    """The server's CPU per job of each drain (its cores x the drain's seconds / jobs)."""

    def best_drain(self, loop: str) -> float:
        return max(d.per_second for d in self.drain[loop])

    def least_drain_cpu(self, loop: str) -> float:
        return min(self.drain_cpu_us_per_job[loop])


async def measure(
    dbs: Databases, setup: LoopSetup, service: ServiceSetup, log_dir: Path, say: Say
) -> LoopResults:
    service = dataclasses.replace(service, rounds=setup.rounds, worker_concurrency=None)
    ingest = await _ingest(dbs, service, log_dir, say)
    drains: dict[str, list[Drained]] = {loop: [] for loop in LOOPS}
    cpu: dict[str, list[float]] = {loop: [] for loop in LOOPS}
    for round_ in range(1, setup.rounds + 1):
        for loop in LOOPS:
            run = dataclasses.replace(service, event_loop=loop, drain_jobs=setup.drain_jobs)
            drained, used = await service_bench.drain(dbs, run, log_dir)
            drains[loop].append(drained)
            cpu[loop].append(used.server * drained.seconds / drained.jobs * 1e6)
            say(
                f"drain, round {round_}, {loop}: {drained.per_second:,.0f} jobs/s, "
                f"server {cpu[loop][-1]:.0f} us per job"
            )
    return LoopResults(ingest, drains, cpu)


async def _ingest(dbs: Databases, setup: ServiceSetup, log_dir: Path, say: Say) -> dict[str, Load]:
    postmaster = dbs.postmaster_pid()
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for loop in LOOPS:
            url = await stack.enter_async_context(dbs.fresh())
            args = ["--database-url", url, "--role", "webhook"]
            env = service_bench.service_env(dataclasses.replace(setup, event_loop=loop))
            servers.append(
                await stack.enter_async_context(
                    started(f"webhook-{loop}", "service", args, log_dir, env)
                )
            )
        runs: dict[str, list[Load]] = {loop: [] for loop in LOOPS}
        for n in range(setup.rounds):
            for loop, server in zip(LOOPS, servers, strict=True):
                runs[loop].append(await closed_round(server, setup, postmaster, log_dir, n))
    best: dict[str, Load] = {}
    for loop, measured in runs.items():
        top = max(measured, key=lambda load: load.req_per_s)
        best[loop] = dataclasses.replace(top, rounds=tuple(m.req_per_s for m in measured))
        say(describe(best[loop]))
    return best
