"""`wrk` as the ingest load generator: a C generator that needs a fraction of a core for what
the Python one (`loadgen.py`) saturates a core with, so a 2-core machine measures the server.

`wrk/webhook.lua` builds each request (a real-shaped update with a unique `update_id`, disjoint
ranges per thread, the secret header) and prints one JSON line in `done()`; `parse` reads it.
Every run is a short warm-up run (thrown away) then the measured run, each with its own ids.
"""

import asyncio
import json
import resource
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "webhook.lua"
INSTALL_HINT = "apt-get install wrk (Debian/Ubuntu), brew install wrk (macOS)"
IDS_PER_RUN = 50_000_000
"""update ids each wrk run may use, split between its threads (far more than a run sends)."""
TIMEOUT_S = 10


@dataclass(frozen=True)
class Setting:
    """wrk's threads and connections: what a user of wrk tunes."""

    threads: int
    connections: int

    @property
    def label(self) -> str:
        return f"-t{self.threads} -c{self.connections}"


def parse_settings(text: str) -> tuple[Setting, ...]:
    """`1x64,2x128` -> threads x connections each."""
    settings = []
    for item in text.split(","):
        threads, _, connections = item.strip().partition("x")
        setting = Setting(int(threads), int(connections))
        if setting.threads < 1 or setting.connections < setting.threads:
            raise ValueError(f"{item!r}: needs 1 <= threads <= connections")
        settings.append(setting)
    return tuple(settings)


@dataclass(frozen=True)
class WrkResult:
    seconds: float
    requests: int
    """Answers received (any status)."""
    sent: int
    non_2xx: int
    """wrk counts answers with a status >= 400 (there are no redirects here)."""
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    @property
    def req_per_s(self) -> float:
        """Successful answers per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def parse(stdout: str) -> WrkResult:
    """The figures of the `{"wrk": ...}` line `webhook.lua` prints at the end of wrk's output."""
    lines = [line for line in stdout.splitlines() if line.startswith('{"wrk"')]
    if not lines:
        raise ValueError('no {"wrk": ...} line in wrk\'s output (was webhook.lua loaded?)')
    raw = json.loads(lines[-1])["wrk"]
    errors = raw["errors"]
    latency = raw["latency_us"]
    return WrkResult(
        seconds=raw["duration_us"] / 1e6,
        requests=raw["requests"],
        sent=raw["sent"],
        non_2xx=errors["status"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
    )


def find() -> str | None:
    return shutil.which("wrk")


def command(
    wrk: str, url: str, setting: Setting, seconds: float, first_id: int, secret: str
) -> list[str]:
    return [
        wrk,
        f"-t{setting.threads}",
        f"-c{setting.connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={TIMEOUT_S}s",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        str(first_id),
        str(IDS_PER_RUN // setting.threads),
        secret,
    ]


def children_cpu() -> float:
    """CPU seconds of this process's children that exited and were waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Run:
    result: WrkResult
    output: str
    cpu_s: float
    """wrk's own CPU seconds (all its threads), read once it exited."""


async def run(
    wrk: str,
    url: str,
    setting: Setting,
    seconds: float,
    first_id: int,
    secret: str,
    on_start: Callable[[int], None] = lambda pid: None,
) -> Run:
    """One wrk run to its end. `on_start(pid)` is called as soon as it runs (the bench starts
    its CPU meter there)."""
    cpu_before = children_cpu()
    proc = await asyncio.create_subprocess_exec(
        *command(wrk, url, setting, seconds, first_id, secret),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    on_start(proc.pid)
    try:
        out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited {proc.returncode}:\n{text}")
    return Run(parse(text), text, children_cpu() - cpu_before)
