"""A small process supervisor: runs `botgateway` subprocesses, captures every line they write,
restarts the ones that die (as Kubernetes restarts a crashed container) and SIGKILLs on request."""

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

BANNER = re.compile(r"serving on http://[0-9.]+:(\d+)")
RESTART_DELAY_S = 0.2


@dataclass(frozen=True)
class LogLine:
    process: str
    stream: str
    text: str


class LogBook:
    """Every line every process wrote, kept in memory for the checks and in files for people."""

    def __init__(self, directory: Path | None = None) -> None:
        self.lines: list[LogLine] = []
        self.directory = directory
        self._files: dict[str, TextIO] = {}
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def add(self, process: str, stream: str, text: str) -> None:
        self.lines.append(LogLine(process, stream, text))
        if self.directory is not None:
            name = f"{process.replace('#', '.')}.{stream}.log"
            if name not in self._files:
                self._files[name] = (self.directory / name).open("a", encoding="utf-8")
            self._files[name].write(text + "\n")

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def containing(self, needle: str) -> list[LogLine]:
        return [line for line in self.lines if needle in line.text]

    def of(self, process: str) -> list[LogLine]:
        return [line for line in self.lines if line.process == process]


@dataclass
class Managed:
    """One supervised command; restarted after it dies unless the supervisor is stopping."""

    name: str
    argv: Sequence[str]
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    exits: list[int] = field(default_factory=list)
    port: int | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the current incarnation printed its serving banner."""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


@dataclass(frozen=True)
class Kill:
    name: str
    pid: int
    at: float
    """time.monotonic() of the kill."""
    jobs_held: int
    """Running jobs leased to that process just before the kill (an observation, racy)."""


class Supervisor:
    def __init__(self, logs: LogBook) -> None:
        self.logs = logs
        self.managed: dict[str, Managed] = {}
        self.kills: list[Kill] = []
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    def spawn(self, name: str, argv: Sequence[str], env: dict[str, str]) -> Managed:
        managed = Managed(name, list(argv), env)
        self.managed[name] = managed
        self._tasks.append(asyncio.create_task(self._keep_running(managed), name=f"sup-{name}"))
        return managed

    async def _keep_running(self, managed: Managed) -> None:
        while not self._stopping:
            managed.ready.clear()
            process = await asyncio.create_subprocess_exec(
                *managed.argv,
                env=managed.env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            managed.process = process
            managed.starts += 1
            incarnation = f"{managed.name}#{managed.starts}"
            assert process.stdout is not None
            assert process.stderr is not None
            readers = [
                asyncio.create_task(self._read(managed, incarnation, "stdout", process.stdout)),
                asyncio.create_task(self._read(managed, incarnation, "stderr", process.stderr)),
            ]
            code = await process.wait()
            await asyncio.gather(*readers)
            managed.exits.append(code)
            if self._stopping:
                return
            await asyncio.sleep(RESTART_DELAY_S)

    async def _read(
        self, managed: Managed, incarnation: str, stream: str, pipe: asyncio.StreamReader
    ) -> None:
        while raw := await pipe.readline():
            text = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.logs.add(incarnation, stream, text)
            if not managed.ready.is_set() and (match := BANNER.search(text)):
                managed.port = int(match.group(1))
                managed.ready.set()

    def kill(self, managed: Managed, *, jobs_held: int = 0) -> Kill:
        """SIGKILL the current incarnation; the supervisor starts the next one."""
        assert managed.process is not None
        assert managed.process.returncode is None
        pid = managed.process.pid
        os.kill(pid, signal.SIGKILL)
        kill = Kill(managed.name, pid, time.monotonic(), jobs_held)
        self.kills.append(kill)
        return kill

    def alive(self, managed: Managed) -> bool:
        return (
            managed.process is not None
            and managed.process.returncode is None
            and managed.ready.is_set()
        )

    async def stop(self, *, grace: float = 30.0) -> dict[str, int | None]:
        """SIGTERM everything (the graceful stop), SIGKILL what outlives the grace. Returns each
        process's last exit status."""
        self._stopping = True
        for managed in self.managed.values():
            if managed.process is not None and managed.process.returncode is None:
                # An incarnation still starting has no SIGTERM handler yet and would just die
                # of the signal: let it come up first, so every stop is the graceful one.
                await _first_of(managed.ready.wait(), managed.process.wait(), timeout=grace)
                with contextlib.suppress(ProcessLookupError):
                    managed.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*self._tasks), grace)
        except TimeoutError:
            for managed in self.managed.values():
                if managed.process is not None and managed.process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        managed.process.kill()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        return {name: (m.exits[-1] if m.exits else None) for name, m in self.managed.items()}


async def _first_of(*waits: Coroutine[Any, Any, Any], timeout: float) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()


def botgateway_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "botgateway.cli", *args]


async def run_once(
    argv: Sequence[str], env: dict[str, str], logs: LogBook, name: str, *, timeout: float = 120
) -> tuple[int, str]:
    """Run a command to the end; its lines go to the log book. Returns (status, stdout)."""
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    stdout = out.decode("utf-8", errors="replace")
    for stream, text in (("stdout", stdout), ("stderr", err.decode("utf-8", errors="replace"))):
        for line in text.splitlines():
            logs.add(name, stream, line)
    assert process.returncode is not None
    return process.returncode, stdout
