"""The gateway's own ingest path, without the HTTP server: the CPU one update costs the process
from its body to its committed row (`parse_update`, `NewJob`, `GroupCommitter.submit` through a
real PostgreSQL), 64 callers at once, beside the same callers with the store kept in memory
(what the database edge adds).

    python -m tests.bench.ingest_path [--updates N] [--rounds R]

Steadier than `wrk` against the whole server on a busy machine (no HTTP stack, no load
generator): to compare two versions of the code, run it from each checkout, alternately.
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from botgateway.contract.environment import BOTGATEWAY_EVENT_LOOP
from botgateway.queue import NewJob, Store
from botgateway.service.ingest import GroupCommitter, parse_update
from botgateway.service.runner import run as run_on_loop
from tests.support.postgres import test_postgres

from .workload import BOT_SLUG, HANDLER_TYPE, update

CALLERS = 64


class MemoryInserter:
    """Stores nothing; answers after one loop turn, as an insert answers after a round trip."""

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> set[tuple[str, int]]:
        await asyncio.sleep(0)
        return {(job.bot_slug, job.update_id) for job in jobs}

    async def enqueue(self, job: NewJob) -> bool:
        return bool(await self.enqueue_many([job]))


class MemoryStore:
    @contextlib.asynccontextmanager
    async def inserter(self) -> AsyncIterator[MemoryInserter]:
        yield MemoryInserter()


async def cpu_per_update(committer: GroupCommitter, bodies: Sequence[bytes]) -> float:
    """Process CPU µs per update for `bodies`, submitted by CALLERS callers at once."""

    async def caller(first: int) -> None:
        for body in bodies[first::CALLERS]:
            parsed = parse_update(body)
            job = NewJob(BOT_SLUG, HANDLER_TYPE, parsed.update_id, parsed.text)
            await committer.submit(job)

    began = time.process_time()
    await asyncio.gather(*(caller(k) for k in range(CALLERS)))
    return (time.process_time() - began) / len(bodies) * 1e6


async def measure(database_url: str, updates: int, rounds: int) -> None:
    store = await Store.connect(database_url, min_size=1, max_size=10)
    try:
        sides = {
            "PostgreSQL": GroupCommitter(store),
            "in memory": GroupCommitter(MemoryStore()),  # type: ignore[arg-type]
        }
        figures: dict[str, list[float]] = {name: [] for name in sides}
        next_id = 1
        for round_ in range(1, rounds + 1):
            for name, committer in sides.items():
                ids = range(next_id, next_id + updates)
                next_id += updates
                bodies = [json.dumps(update(i)).encode() for i in ids]
                figures[name].append(await cpu_per_update(committer, bodies))
                print(f"round {round_}, {name}: {figures[name][-1]:.1f} µs CPU per update")
        db, memory = (statistics.median(figures[name]) for name in sides)
        print(
            f"median over {rounds} rounds: {db:.1f} µs per update through PostgreSQL, "
            f"{memory:.1f} in memory: the database edge adds {db - memory:.1f} µs "
            f"({db / memory:.2f}x)"
        )
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.ingest_path", description=__doc__)
    parser.add_argument("--updates", type=int, default=60_000, help="updates per round and side")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    with (
        tempfile.TemporaryDirectory(prefix="botgateway-ingest-path-") as tmp,
        test_postgres(Path(tmp)) as pg,
    ):
        pg.create_template()

        async def run() -> None:
            await measure(await pg.create_database(), args.updates, args.rounds)

        run_on_loop(run, BOTGATEWAY_EVENT_LOOP.read(os.environ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
