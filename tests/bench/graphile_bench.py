"""graphile-worker (Node, from npm) against the service's worker, each at its best.

Every round drains the same backlog with the service at each WORKER_CONCURRENCY of the sweep
(`defaults_bench.sweep_round`), then with graphile-worker at each point of its own sweep
(processes x concurrency, local queue, batched completions), every drain on a fresh database.
Each configuration's best round counts; the best configuration of each side is compared.

graphile-worker runs in `node` processes (`graphile/drain.mjs`), installed by `npm ci` from the
committed lock file into `.cache/bench/graphile/` once per lock file."""

import asyncio
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import defaults_bench
from .databases import Databases, settle
from .defaults_bench import SweepResults
from .service_bench import Cpu, ServiceSetup, machine_busy_cpu, server_tree_cpu
from .sweep import Sweep
from .workload import Drained

Say = Callable[[str], None]
PACKAGE_DIR = Path(__file__).parent / "graphile"
SCRIPT = PACKAGE_DIR / "drain.mjs"
INSTALL_DIR = Path(".cache/bench/graphile")
STAMP = ".installed-lock-sha256"
OURS_SWEEP = (128, 256, 512, 1024)
"""WORKER_CONCURRENCY values for our side: around the best of `--only defaults` on 2 cores."""
STOP_GRACE_S = 30.0
"""How long past its budget a graphile process may take to stop and report."""


class GraphileUnavailable(RuntimeError):
    """graphile-worker cannot be installed or run here; the reason is the message."""


@dataclass(frozen=True)
class GraphilePoint:
    """One graphile-worker configuration, with the knobs its performance docs name."""

    processes: int
    concurrency: int
    local_queue: int = -1
    """`localQueue.size`: jobs a pool fetches and locks at once (-1: off, its default)."""
    complete_batch_ms: int = -1
    """`completeJobBatchDelay`: wait to batch completions (-1: off, its default)."""

    def label(self) -> str:
        text = f"{self.processes}x{self.concurrency}"
        if self.local_queue > 1:
            text += f":lq{self.local_queue}"
        if self.complete_batch_ms >= 0:
            text += f":cb{self.complete_batch_ms}"
        return text

    def args(self) -> list[str]:
        # `--opt=value`: node's parseArgs takes "-1" after a space for another option
        return [
            f"--concurrency={self.concurrency}",
            f"--local-queue={self.local_queue}",
            f"--complete-batch-delay={self.complete_batch_ms}",
        ]


def parse_point(text: str) -> GraphilePoint:
    """`PxC[:lqN][:cbMS]`, as `GraphilePoint.label` writes it: e.g. `2x32:lq500:cb10`."""
    head, *options = text.strip().split(":")
    processes, _, concurrency = head.partition("x")
    settings = {"lq": "-1", "cb": "-1"}
    for option in options:
        if option[:2] not in settings:
            raise ValueError(f"{text!r}: unknown option {option!r} (lqN or cbMS)")
        settings[option[:2]] = option[2:]
    try:
        point = GraphilePoint(
            int(processes), int(concurrency), int(settings["lq"]), int(settings["cb"])
        )
    except ValueError:
        raise ValueError(f"{text!r}: expected PxC[:lqN][:cbMS], e.g. 2x32:lq500:cb10") from None
    if point.processes < 1 or point.concurrency < 1:
        raise ValueError(f"{text!r}: processes and concurrency must be at least 1")
    return point


def parse_points(text: str) -> tuple[GraphilePoint, ...]:
    return tuple(parse_point(part) for part in text.split(",") if part.strip())


SWEEP = parse_points("1x32,1x16:lq200:cb0,1x64:lq1000:cb0,1x64:lq1000:cb50,2x32:lq500:cb10")
"""Unbatched (graphile's defaults, at its best concurrency) and the batching its performance
docs recommend for high throughput, in one and two processes."""


@dataclass(frozen=True)
class GraphileSetup:
    jobs: int = 50_000
    rounds: int = 2
    sweep: tuple[GraphilePoint, ...] = SWEEP
    ours: tuple[int, ...] = OURS_SWEEP


@dataclass(frozen=True)
class GraphileResults:
    ours: SweepResults
    graphile: Sweep[GraphilePoint]
    version: str

    @property
    def graphile_tuned(self) -> GraphilePoint:
        return self.graphile.best_key()

    @property
    def graphile_unbatched(self) -> GraphilePoint | None:
        """The best point with graphile's defaults (no local queue, no batched completions):
        one fetch and one completion per job, as most deployments run it."""
        try:
            return self.graphile.best_key(lambda p: p.local_queue <= 1 and p.complete_batch_ms < 0)
        except ValueError:
            return None


def combine(reports: Sequence[dict[str, Any]], jobs: int) -> Drained:
    """One drain from the JSON lines of the `work` processes that shared a backlog: from the
    first start until the first process saw the table empty (each polls the count, so that is
    the tightest bound on when the last job completed); past the budget, the most any process
    saw done by the time it stopped."""
    started = min(r["started_at_ms"] for r in reports)
    finished = [r["finished_at_ms"] for r in reports if r["finished"]]
    if finished:
        return Drained(jobs, (min(finished) - started) / 1000, finished=True)
    last = max(reports, key=lambda r: r["done"])
    return Drained(last["done"], (last["finished_at_ms"] - started) / 1000, finished=False)


def lock_digest(package_dir: Path = PACKAGE_DIR) -> str:
    return hashlib.sha256((package_dir / "package-lock.json").read_bytes()).hexdigest()


def install(say: Say, install_dir: Path = INSTALL_DIR) -> Path:
    """`npm ci` of the committed lock file into `install_dir`, skipped when that lock file was
    installed there already (npm prints its progress); returns its node_modules."""
    modules = (install_dir / "node_modules").resolve()
    digest = lock_digest()
    stamp = install_dir / STAMP
    if stamp.exists() and stamp.read_text() == digest and modules.is_dir():
        return modules
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise GraphileUnavailable(f"`{tool}` is not on PATH")
    install_dir.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(PACKAGE_DIR / name, install_dir / name)
    stamp.unlink(missing_ok=True)
    say(f"graphile: npm ci in {install_dir} (once per lock file) ...")
    npm = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=install_dir,
        check=False,
        stdout=sys.stderr,
    )
    if npm.returncode != 0:
        raise GraphileUnavailable(f"`npm ci` in {install_dir} exited {npm.returncode}")
    stamp.write_text(digest)
    say("graphile: installed")
    return modules


async def _node(modules: Path, mode: str, url: str, jobs: int, args: Sequence[str]) -> Any:
    """Run `drain.mjs MODE` to its end; its last stdout line is its JSON report."""
    env = os.environ | {"GRAPHILE_NODE_MODULES": str(modules)}
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(SCRIPT),
        mode,
        "--dsn",
        url,
        "--jobs",
        str(jobs),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"graphile {mode} exited {proc.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1])


@dataclass(frozen=True)
class GraphileDrain:
    drained: Drained
    cpu: Cpu
    """Cores over the drain: `server` is graphile's node processes together."""
    version: str


async def drain(
    dbs: Databases, modules: Path, point: GraphilePoint, jobs: int, budget_s: float | None
) -> GraphileDrain:
    """Enqueue `jobs` with addJobs into a fresh database, level it, then drain it with
    `point.processes` worker processes at once."""
    postmaster = dbs.postmaster_pid()
    async with dbs.fresh(migrated=False) as url:
        prepared = await _node(modules, "prepare", url, jobs, [])
        await settle(url)
        budget = [f"--budget-ms={int((budget_s or 0) * 1000)}"]
        at = (time.perf_counter(), server_tree_cpu(postmaster or 0), machine_busy_cpu())
        reports = await asyncio.wait_for(
            asyncio.gather(
                *(
                    _node(modules, "work", url, jobs, [*point.args(), *budget])
                    for _ in range(point.processes)
                )
            ),
            timeout=(budget_s or 3600) + STOP_GRACE_S,
        )
        # over the processes' lifetime (node start to exit), a little longer than the drain
        now = (time.perf_counter(), server_tree_cpu(postmaster or 0), machine_busy_cpu())
    drained = combine(reports, jobs)
    ran = sum(r["ran"] for r in reports)
    if ran < drained.jobs:
        raise RuntimeError(f"graphile {point.label()}: {drained.jobs} jobs gone, {ran} run")
    wall, pg, busy = (b - a for a, b in zip(at, now, strict=True))
    cpu = cores(reports, pg / wall if postmaster else None, busy / wall)
    return GraphileDrain(drained, cpu, str(prepared["version"]))


def cores(reports: Sequence[dict[str, Any]], pg: float | None, busy: float) -> Cpu:
    """node's cores (each process's own CPU over its drain, over the drain's wall time) beside
    PostgreSQL's and the whole machine's, measured around the processes by the bench."""
    wall = max(r["finished_at_ms"] for r in reports) - min(r["started_at_ms"] for r in reports)
    node = sum(r["cpu_ms"] for r in reports) / wall
    return Cpu(server=node, pg=pg, loadgen=0.0, others=max(0.0, busy - node - (pg or 0)))


async def measure(
    dbs: Databases,
    setup: GraphileSetup,
    service: ServiceSetup,
    log_dir: Path,
    say: Say,
) -> GraphileResults:
    modules = install(say)
    ours = SweepResults()
    graphile: Sweep[GraphilePoint] = Sweep()
    version = ""
    # graphile runs without its per-job info lines, so ours does too
    quiet = dataclasses.replace(service, log_level="WARNING")
    for round_ in range(1, setup.rounds + 1):
        await defaults_bench.sweep_round(
            dbs, quiet, setup.ours, setup.jobs, log_dir, say, round_, ours
        )
        for point in setup.sweep:
            run = await drain(dbs, modules, point, setup.jobs, service.budget_s)
            graphile.add(point, run.drained)
            version = run.version
            d, cpu = run.drained, run.cpu
            how = "" if d.finished else ", budget spent"
            say(
                f"drain, round {round_}, graphile-worker {point.label()}: "
                f"{d.per_second:,.0f} jobs/s ({d.jobs:,} jobs in {d.seconds:.1f}s{how}; "
                f"node {cpu.server:.2f}, postgres {cpu.pg or 0:.2f} cores)"
            )
    return GraphileResults(ours, graphile, version)


def sweep_table(results: GraphileResults) -> str:
    heading = (
        f"graphile-worker {results.version}: processes x concurrency, lq = localQueue.size, "
        "cb = completeJobBatchDelay ms"
    )
    graphile = results.graphile.table(
        "graphile-worker", GraphilePoint.label, [results.graphile_tuned]
    )
    return "\n".join([defaults_bench.sweep_table(results.ours), heading, graphile])
