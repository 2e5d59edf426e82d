"""`botgateway dev` as a real child process, as a newcomer runs it: its output read line by line,
and its embedded PostgreSQL found by the postmaster.pid in its data directory."""

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from botgateway.service.devdb import pid_alive, postmaster_pid
from tests.support.service import wait_until


class DevProcess:
    def __init__(self, process: asyncio.subprocess.Process, data_dir: Path | None) -> None:
        self.process = process
        self.data_dir = data_dir
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.lines.append(line.decode())

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def postmaster(self) -> int | None:
        """The pid of the embedded PostgreSQL's server while one runs in the data directory."""
        assert self.data_dir is not None
        return postmaster_pid(self.data_dir / "pgdata")

    async def running(self, timeout: float = 60) -> None:
        """Wait for the banner (or fail with what dev said)."""
        await wait_until(
            lambda: "Press Ctrl-C" in self.output or self.process.returncode is not None,
            timeout=timeout,
            message="the dev banner",
        )
        assert "Press Ctrl-C" in self.output, self.output

    def line_with(self, text: str) -> str:
        return next(line.strip() for line in self.lines if text in line)

    async def exit_code(self, timeout: float = 30) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await self._reader
        return code

    async def signal(self, sig: signal.Signals, timeout: float = 30) -> int:
        self.process.send_signal(sig)
        return await self.exit_code(timeout)

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.exit_code()


async def start_dev(
    *args: str, data_dir: Path | None, env: dict[str, str] | None = None
) -> DevProcess:
    """`botgateway dev --port 0 ARGS`; with `data_dir` the embedded PostgreSQL lives there and
    DATABASE_URL is removed from the environment."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("BOTGATEWAY_CONFIG", None)
    argv = ["dev", "--port", "0", *args]
    if data_dir is not None:
        full_env.pop("DATABASE_URL", None)
        argv += ["--data-dir", str(data_dir)]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "botgateway.cli",
        *argv,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    return DevProcess(process, data_dir)


async def gone(pid: int, timeout: float = 30) -> bool:
    """Whether process `pid` has ended within `timeout` (False when it is still running)."""
    with contextlib.suppress(AssertionError):
        await wait_until(lambda: not pid_alive(pid), timeout=timeout, message=f"pid {pid} to end")
    return not pid_alive(pid)


def stop_postmaster(pid: int | None) -> None:
    """Clean up after a failed test: an immediate shutdown of a server it left running."""
    if pid is not None and pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
