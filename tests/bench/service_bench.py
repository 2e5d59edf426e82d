"""The running service measured from outside: webhook ingest against two baselines, webhook-to-
handler latency at a steady rate, and a drain through the service's own worker.

Every server runs in its own process (`service_server`), and so does the load generator
(`loadgen`), on loopback; the same load generator and settings (connections, duration, pool
size) are used against every server. Each measurement gets a fresh database.
"""

import asyncio
import contextlib
import dataclasses
import importlib.util
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp

from . import queue_bench, wrk_loadgen
from .databases import Databases, count, settle
from .loadgen import percentile
from .service_server import SECRET
from .workload import BOT_SLUG, Drained

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 30.0
POLL_S = 0.1
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- CPU accounting -------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def process_cpu(pid: int) -> float:
    """CPU seconds used by one process so far (0 when it is gone or this is not Linux)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def server_tree_cpu(postmaster: int) -> float:
    """CPU seconds of PostgreSQL: the postmaster, its reaped children, and its live ones."""
    fields = _stat_fields(postmaster)
    if fields is None:
        return 0.0
    total = sum(int(f) for f in fields[11:15])
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        child = _stat_fields(int(entry.name))
        if child is not None and int(child[1]) == postmaster:
            total += int(child[11]) + int(child[12])
    return total / CLK_TCK


def machine_busy_cpu() -> float:
    """CPU seconds every CPU of the machine spent busy so far (all processes, the kernel)."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / CLK_TCK


@dataclass(frozen=True)
class Cpu:
    """Cores used over a window (1.0 = one core busy the whole time)."""

    server: float
    pg: float | None
    loadgen: float
    others: float
    """Everything else on the machine (other work sharing it, the kernel): noise to report."""


class CpuMeter:
    """CPU of the server process, PostgreSQL, the load generator and the rest of the machine
    between `start()` and `stop()`."""

    def __init__(self, server_pid: int, postmaster: int | None) -> None:
        self._server = server_pid
        self._pg = postmaster
        self.loadgen_pid = 0
        self._at: tuple[float, ...] | None = None
        self.result = Cpu(0.0, None, 0.0, 0.0)

    def _sample(self) -> tuple[float, ...]:
        return (
            time.perf_counter(),
            process_cpu(self._server),
            server_tree_cpu(self._pg) if self._pg else 0.0,
            process_cpu(self.loadgen_pid) if self.loadgen_pid else 0.0,
            machine_busy_cpu(),
        )

    def start(self) -> None:
        self._at = self._sample()

    def stop(self, loadgen_cpu_s: float | None = None) -> None:
        """`loadgen_cpu_s`: the load generator's CPU seconds over the window when it was read
        another way (a generator that has exited can no longer be sampled by its pid)."""
        if self._at is None:
            return
        now = self._sample()
        wall = now[0] - self._at[0]
        server, pg, loadgen, busy = (
            (b - a) / wall for a, b in zip(self._at[1:], now[1:], strict=True)
        )
        if loadgen_cpu_s is not None:
            loadgen = loadgen_cpu_s / wall
        self.result = Cpu(
            server=server,
            pg=pg if self._pg else None,
            loadgen=loadgen,
            others=max(0.0, busy - server - pg - loadgen),
        )


@dataclass(frozen=True)
class ServiceSetup:
    connections: int = 64
    """The Python load generator's connections (the latency run; ingest when wrk is missing)."""
    loadgen: str = "auto"
    """Ingest's load generator: `wrk`, `python` (`loadgen.py`), or `auto` (wrk when installed,
    else the Python one, said in one line: the figures then measure the generator)."""
    wrk_settings: tuple[wrk_loadgen.Setting, ...] = (
        wrk_loadgen.Setting(1, 64),
        wrk_loadgen.Setting(2, 128),
    )
    """wrk's threads x connections swept in every round, the same for every server; each
    server's best counts."""
    warmup_s: float = 1.0
    seconds: float = 5.0
    """Measured window of each ingest round (after the warm-up)."""
    rounds: int = 3
    """Ingest runs per server, interleaved (bare, naive, service, bare, ...); each server's best
    round counts, so a burst of other work on the machine does not decide a ratio."""
    latency_rate: float = 1000.0
    latency_seconds: float = 10.0
    drain_jobs: int = 50_000
    budget_s: float | None = 60.0
    pool_size: int = 10
    """DATABASE_POOL_SIZE for the service, and the naive baseline's pool: the service's default."""
    worker_concurrency: int | None = 512
    """WORKER_CONCURRENCY for the service (None: unset, its default). 512, the best of a sweep
    on a 2-core machine before workers claimed ahead of their free slots (then 32 made a
    `discard` drain a strict claim -> complete -> claim chain of round trips); `--only defaults`
    measures the default against the sweep."""
    event_loop: str = "auto"
    """BOTGATEWAY_EVENT_LOOP for every server (service and baselines alike)."""
    log_level: str = "INFO"
    """The service's LOG_LEVEL, as deployed (INFO logs one line per finished job)."""
    profile: bool = False
    """Record each service run with py-spy into the log directory."""


@dataclass(frozen=True)
class Load:
    """One closed-loop run against one server."""

    name: str
    req_per_s: float
    ok: int
    cpu: Cpu
    rounds: tuple[float, ...] = ()
    """req/s of every run (each round's runs, one per load generator setting), in order (this
    Load is the best of them)."""
    setting: str = ""
    """The load generator and its settings (`wrk -t1 -c64`, `python -c64`)."""
    client_p99_ms: float | None = None
    """The generator's request latency p99 (closed loop: grows with the connections)."""

    @property
    def server_cpu_us_per_req(self) -> float:
        return self.cpu.server / self.req_per_s * 1e6 if self.req_per_s else 0.0


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int
    achieved_rate: float
    client_p99_ms: float
    cpu: Cpu


@dataclass(frozen=True)
class ServiceResults:
    ingest: "Ingested"
    latency: Latency
    drain: Drained
    drain_cpu: Cpu


Say = Callable[[str], None]


# -- processes ------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    pid: int
    url: str
    log: Path

    @property
    def webhook(self) -> str:
        return f"{self.url}/webhook/{BOT_SLUG}"

    async def stats(self) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.url}/bench/stats") as response,
        ):
            response.raise_for_status()
            result: dict[str, Any] = await response.json()
            return result

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def open_log(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("wb")


@contextlib.asynccontextmanager
async def started(
    name: str, kind: str, args: Sequence[str], log_dir: Path, env: dict[str, str] | None = None
) -> AsyncIterator[Server]:
    """A server process, stopped with SIGTERM (then killed) when the block ends."""
    log = log_dir / f"{name}.log"
    with open_log(log) as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bench.service_server",
            kind,
            *args,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
        )
    server: Server | None = None
    try:
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        if not line:
            tail = Server(name, proc.pid, "", log).log_tail()
            raise RuntimeError(f"{name}: the server did not start; its log ends:\n{tail}")
        port = json.loads(line)["port"]
        server = Server(name, proc.pid, f"http://127.0.0.1:{port}", log)
        yield server
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def run_loadgen(
    mode: str,
    server: Server,
    setup: ServiceSetup,
    extra: Sequence[str],
    meter: CpuMeter,
    log_dir: Path,
    tag: str,
) -> dict[str, Any]:
    """Run the load generator to its end; the meter runs over its measured window."""
    args = [
        mode,
        "--url",
        server.webhook,
        "--secret",
        SECRET,
        "--connections",
        str(setup.connections),
        *extra,
    ]
    with open_log(log_dir / f"{tag}-loadgen.log") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bench.loadgen",
            *args,
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
        )
    meter.loadgen_pid = proc.pid
    assert proc.stdout is not None
    result: dict[str, Any] | None = None
    profiler: asyncio.subprocess.Process | None = None
    try:
        async for line in proc.stdout:
            message = json.loads(line)
            if message.get("event") == "window-start":
                meter.start()
                if setup.profile:
                    seconds = setup.latency_seconds if mode == "paced" else setup.seconds
                    profiler = await _profile(server, seconds, log_dir / tag)
            elif message.get("event") == "window-end":
                meter.stop()
            elif "result" in message:
                result = message["result"]
        await proc.wait()
        if profiler is not None:
            await profiler.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"{tag}: the load generator failed (exit {proc.returncode})")
    non_ok = {k: v for k, v in result["answers"].items() if k != "200"}
    if non_ok:
        raise RuntimeError(
            f"{tag}: answers other than 200: {non_ok}; server log ends:\n" + server.log_tail()
        )
    return result


async def _profile(server: Server, seconds: float, out: Path) -> asyncio.subprocess.Process:
    """py-spy over a window, as collapsed stacks (`<out>.profile.txt`, one line per stack:
    frames;...;frames count) to be read with any flame graph tool."""
    py_spy = Path(sys.executable).parent / "py-spy"
    return await asyncio.create_subprocess_exec(
        str(py_spy),
        "record",
        "--nonblocking",
        "--pid",
        str(server.pid),
        "--duration",
        str(max(1, round(seconds))),
        "--format",
        "raw",
        "--output",
        f"{out}.profile.txt",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


# -- measurements ---------------------------------------------------------------------------


def service_env(setup: ServiceSetup) -> dict[str, str]:
    # An empty WORKER_CONCURRENCY reads as unset: the default, whatever the bench's own env says.
    concurrency = setup.worker_concurrency
    return {
        "DATABASE_POOL_SIZE": str(setup.pool_size),
        "WORKER_CONCURRENCY": "" if concurrency is None else str(concurrency),
        "LOG_LEVEL": setup.log_level,
        "BOTGATEWAY_EVENT_LOOP": setup.event_loop,
    }


def cores(load: Load) -> str:
    cpu = load.cpu
    pg = f", postgres {cpu.pg:.2f}" if cpu.pg is not None else ""
    return (
        f"cores: server {cpu.server:.2f}{pg}, loadgen {cpu.loadgen:.2f}, "
        f"rest of the machine {cpu.others:.2f}; server {load.server_cpu_us_per_req:.0f} us/req"
    )


def describe(load: Load) -> str:
    rounds = ", ".join(f"{r:,.0f}" for r in load.rounds)
    return (
        f"ingest, {load.name}: {load.req_per_s:,.0f} req/s with {load.setting}, best of "
        f"[{rounds}] ({cores(load)})"
    )


def choose_loadgen(preference: str, wrk: str | None) -> tuple[str | None, str | None]:
    """The wrk to run (None: the Python generator), and a line to print when wrk was wanted
    but is missing. `auto` falls back rather than failing so that `make bench` still runs its
    other parts on a machine without wrk; the line and the rows' labels say what was used."""
    if preference == "python":
        return None, None
    if wrk is not None:
        return wrk, None
    if preference == "wrk":
        raise RuntimeError(f"--loadgen wrk: wrk is not installed ({wrk_loadgen.INSTALL_HINT})")
    return None, (
        f"wrk not found, install it for ingest figures that measure the server "
        f"({wrk_loadgen.INSTALL_HINT}); falling back to the Python load generator, which "
        "uses a whole core on a small machine"
    )


def ingest_settings(setup: ServiceSetup, wrk: str | None) -> int:
    """How many load generator settings each round sweeps."""
    return len(setup.wrk_settings) if wrk else 1


def best_load(measured: Sequence[Load]) -> Load:
    """The best run of one server, carrying the req/s of every run in order."""
    best = max(measured, key=lambda load: load.req_per_s)
    return dataclasses.replace(best, rounds=tuple(m.req_per_s for m in measured))


def sweep_table(runs: dict[str, list[Load]]) -> str:
    """Per server and load generator setting: its best req/s and that run's server CPU per
    request."""
    settings = list(dict.fromkeys(load.setting for loads in runs.values() for load in loads))
    width = max(len(name) for name in runs)
    lines = [f"{'':{width}}  " + "  ".join(f"{s:>22}" for s in settings)]
    for name, loads in runs.items():
        cells = []
        for setting in settings:
            at = [load for load in loads if load.setting == setting]
            if not at:
                cells.append(f"{'-':>22}")
                continue
            top = max(at, key=lambda load: load.req_per_s)
            cell = f"{top.req_per_s:,.0f}/s {top.server_cpu_us_per_req:.0f}us"
            cells.append(f"{cell:>22}")
        lines.append(f"{name:{width}}  " + "  ".join(cells))
    return "\n".join(lines)


async def closed_round(
    server: Server,
    setup: ServiceSetup,
    postmaster: int | None,
    log_dir: Path,
    n: int,
    setting: int = 0,
) -> Load:
    """Round `n` against one server, with the `setting`-th of the load generator's settings
    (each round and setting sends its own update ids)."""
    wrk, _ = choose_loadgen(setup.loadgen, wrk_loadgen.find())
    tag = f"{server.name}-{n}"
    if wrk is not None:
        block = n * ingest_settings(setup, wrk) + setting
        chosen = setup.wrk_settings[setting]
        return await _wrk_round(
            wrk, server, setup, postmaster, log_dir, f"{tag}-{setting}", chosen, block
        )
    meter = CpuMeter(server.pid, postmaster)
    closed = [
        "--warmup",
        str(setup.warmup_s),
        "--seconds",
        str(setup.seconds),
        "--first-id",
        str(n * 100_000_000 + 1),
    ]
    result = await run_loadgen("closed", server, setup, closed, meter, log_dir, tag)
    label = f"python -c{setup.connections}"
    return Load(server.name, result["req_per_s"], result["ok"], meter.result, setting=label)


async def _wrk_round(
    wrk: str,
    server: Server,
    setup: ServiceSetup,
    postmaster: int | None,
    log_dir: Path,
    tag: str,
    setting: wrk_loadgen.Setting,
    block: int,
) -> Load:
    """A warm-up run, then the measured one, with the CPU of every process over it; `block`
    numbers the update ids it sends."""
    first_id = block * 2 * wrk_loadgen.IDS_PER_RUN + 1
    warmup = await wrk_loadgen.run(wrk, server.webhook, setting, setup.warmup_s, first_id, SECRET)
    meter = CpuMeter(server.pid, postmaster)
    profiler = await _profile(server, setup.seconds, log_dir / tag) if setup.profile else None
    run = await wrk_loadgen.run(
        wrk,
        server.webhook,
        setting,
        setup.seconds,
        first_id + wrk_loadgen.IDS_PER_RUN,
        SECRET,
        on_start=lambda _: meter.start(),
    )
    meter.stop(loadgen_cpu_s=run.cpu_s)
    if profiler is not None:
        await profiler.wait()
    (log_dir / f"{tag}-wrk.log").write_text(warmup.output + run.output)
    result = run.result
    for measured in (warmup.result, result):
        if measured.non_2xx or measured.socket_errors:
            raise RuntimeError(
                f"{tag}: {measured.non_2xx} answers >= 400 and {measured.socket_errors} socket "
                f"errors; server log ends:\n{server.log_tail()}"
            )
    return Load(
        server.name,
        result.req_per_s,
        result.ok,
        meter.result,
        setting=f"wrk {setting.label}",
        client_p99_ms=result.p99_ms,
    )


@dataclass(frozen=True)
class Ingested:
    """Each server's best ingest run."""

    bare: Load
    naive: Load
    service: Load
    aiogram: Load | None
    """None when aiogram is not installed (the bench extra has it)."""
    loadgen: str
    """`wrk` or `python`: what drove ingest."""


async def ingest(dbs: Databases, setup: ServiceSetup, log_dir: Path, say: Say) -> Ingested:
    """bare aiohttp, the naive one-INSERT-per-request handler, aiogram 3 and the service's
    webhook, all started at once (idle while another is measured) and measured in interleaved
    rounds; every round runs each of the load generator's settings against every server."""
    postmaster = dbs.postmaster_pid()
    wrk, why_not = choose_loadgen(setup.loadgen, wrk_loadgen.find())
    if why_not:
        say(why_not)
    has_aiogram = importlib.util.find_spec("aiogram") is not None
    if not has_aiogram:
        say("aiogram is not installed (pip install 'aiogram>=3', in the bench extra): skipped")
    async with contextlib.AsyncExitStack() as stack:
        naive_url = await stack.enter_async_context(dbs.fresh())
        service_url = await stack.enter_async_context(dbs.fresh())
        naive_args = ["--database-url", naive_url, "--pool-size", str(setup.pool_size)]
        service_args = ["--database-url", service_url, "--role", "webhook"]
        loop = {"BOTGATEWAY_EVENT_LOOP": setup.event_loop}
        kinds = [("bare-aiohttp", "bare", [], loop), ("naive-insert", "naive", naive_args, loop)]
        if has_aiogram:
            kinds.append(("aiogram", "aiogram", [], loop))
        kinds.append(("service-webhook", "service", service_args, service_env(setup)))
        servers = [
            await stack.enter_async_context(started(name, kind, args, log_dir, env))
            for name, kind, args, env in kinds
        ]
        runs: dict[str, list[Load]] = {server.name: [] for server in servers}
        for n in range(setup.rounds):
            for k in range(ingest_settings(setup, wrk)):
                for server in servers:
                    load = await closed_round(server, setup, postmaster, log_dir, n, k)
                    runs[server.name].append(load)
                    say(
                        f"  round {n + 1}, {load.setting}, {load.name}: "
                        f"{load.req_per_s:,.0f} req/s ({cores(load)})"
                    )
        best = {name: best_load(measured) for name, measured in runs.items()}
        say("ingest sweep, best req/s and server CPU per request:\n" + sweep_table(runs))
        for load in best.values():
            say(describe(load))
        for url, name in ((naive_url, "naive-insert"), (service_url, "service-webhook")):
            await _check_stored(url, sum(m.ok for m in runs[name]), name)
        if has_aiogram:
            await _check_handled(servers[2], sum(m.ok for m in runs["aiogram"]))
    return Ingested(
        bare=best["bare-aiohttp"],
        naive=best["naive-insert"],
        service=best["service-webhook"],
        aiogram=best.get("aiogram"),
        loadgen="wrk" if wrk else "python",
    )


async def _check_handled(server: Server, answered: int) -> None:
    """aiogram answers before it dispatches: every accepted update must reach the handler."""
    deadline = time.perf_counter() + SETTLE_TIMEOUT_S
    while (handled := (await server.stats())["handled"]) < answered:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"aiogram: answered {answered} x 200 but handled {handled}")
        await asyncio.sleep(POLL_S)


async def _check_stored(url: str, answered: int, name: str) -> None:
    stored = await count(url, "SELECT count(*) FROM gateway_jobs")
    if stored < answered:
        raise RuntimeError(f"{name}: answered {answered} x 200 but stored {stored} rows")


async def latency(dbs: Databases, setup: ServiceSetup, log_dir: Path) -> Latency:
    """Open-loop updates at a steady rate into the service (webhook and worker in one process,
    the worker running `bench-record`); per update, the 200 to the handler's start."""
    async with dbs.fresh() as url:
        args = ["--database-url", url, "--role", "all", "--handler", "bench-record", "--record"]
        env = service_env(setup)
        async with started("service-latency", "service", args, log_dir, env) as server:
            meter = CpuMeter(server.pid, dbs.postmaster_pid())
            paced = [
                "--rate",
                str(setup.latency_rate),
                "--warmup",
                "1",
                "--seconds",
                str(setup.latency_seconds),
            ]
            result = await run_loadgen(
                "paced", server, setup, paced, meter, log_dir, "service-latency"
            )
            stats = await _all_handled(server)
    measured_from = int(result["measured_from_id"])
    samples = sorted(
        ms for update_id, ms in stats["latency_ms"].items() if int(update_id) >= measured_from
    )
    if len(samples) != result["ok"]:
        raise RuntimeError(f"latency: {result['ok']} answered but {len(samples)} handled")
    return Latency(
        p50_ms=percentile(samples, 50),
        p99_ms=percentile(samples, 99),
        max_ms=samples[-1],
        samples=len(samples),
        achieved_rate=result["achieved_rate"],
        client_p99_ms=result["client_p99_ms"],
        cpu=meter.result,
    )


async def _all_handled(server: Server) -> dict[str, Any]:
    deadline = time.perf_counter() + SETTLE_TIMEOUT_S
    while True:
        stats = await server.stats()
        if stats["started"] >= stats["answered"]:
            return stats
        if time.perf_counter() > deadline:
            raise RuntimeError(f"latency: only {stats['started']}/{stats['answered']} handled")
        await asyncio.sleep(POLL_S)


async def drain(dbs: Databases, setup: ServiceSetup, log_dir: Path) -> tuple[Drained, Cpu]:
    """A pre-enqueued backlog through `botgateway serve --role worker` with `discard`, timed
    inside the server from just before it starts until the worker has completed every job."""
    jobs = setup.drain_jobs
    async with dbs.fresh() as url:
        await queue_bench.fill(url, jobs)
        await settle(url)
        args = ["--database-url", url, "--role", "worker", "--drain-jobs", str(jobs)]
        args += ["--budget", str(setup.budget_s or 0)]
        env = service_env(setup)
        async with started("service-drain", "service", args, log_dir, env) as server:
            meter = CpuMeter(server.pid, dbs.postmaster_pid())
            meter.start()
            profiler = None
            if setup.profile:
                profiler = await _profile(server, 5, log_dir / "service-drain")
            deadline = time.perf_counter() + (setup.budget_s or 3600) + SETTLE_TIMEOUT_S
            while "drain" not in (stats := await server.stats()):
                if time.perf_counter() > deadline:
                    raise RuntimeError("drain: the service never reported its drain")
                await asyncio.sleep(POLL_S)
            meter.stop()
            if profiler is not None:
                await profiler.wait()
        result = stats["drain"]
        done = await count(url, queue_bench.DONE_COUNT_SQL)
    if result["finished"] and done != jobs:
        raise RuntimeError(f"drain: expected {jobs} done jobs, found {done}")
    return Drained(result["jobs"], result["seconds"], finished=result["finished"]), meter.result


def _cores(cpu: Cpu) -> str:
    pg = f", postgres {cpu.pg:.2f}" if cpu.pg is not None else ""
    return f"cores: server {cpu.server:.2f}{pg}, rest of the machine {cpu.others:.2f}"


async def measure(dbs: Databases, setup: ServiceSetup, log_dir: Path, say: Say) -> ServiceResults:
    ingested = await ingest(dbs, setup, log_dir, say)
    lat = await latency(dbs, setup, log_dir)
    say(
        f"latency at {lat.achieved_rate:,.0f} updates/s: 200 -> handler p50 {lat.p50_ms:.1f} ms, "
        f"p99 {lat.p99_ms:.1f} ms, max {lat.max_ms:.1f} ms over {lat.samples:,} updates "
        f"(client round trip p99 {lat.client_p99_ms:.1f} ms; {_cores(lat.cpu)})"
    )
    drained, drain_cpu = await drain(dbs, setup, log_dir)
    how = "all" if drained.finished else "budget spent after"
    say(
        f"drain, service (worker role, discard): {drained.per_second:,.0f} jobs/s "
        f"({how} {drained.jobs:,} jobs in {drained.seconds:.1f}s; {_cores(drain_cpu)})"
    )
    return ServiceResults(ingested, lat, drained, drain_cpu)
