"""`botgateway serve` as a real child process, for what an in-process service cannot show
(its own memory, its exit): started with a bots file, waited for until it listens."""

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from tests.support.waiting import eventually


class ServeProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.url = ""
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            text = line.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(text)
            if not self.url and "serving on" in text:
                self.url = json.loads(text)["message"].split("serving on ", 1)[1].split()[0]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def status_kib(self, field: str) -> int:
        """A `kB` field of /proc/<pid>/status, e.g. VmHWM (peak resident set) or VmRSS."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"{field} not in /proc/{self.pid}/status")

    async def wait(self, timeout: float) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await self._reader
        return code

    async def stop(self, timeout: float = 20) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.wait(timeout)


async def start_serve(
    tmp_path: Path,
    database_url: str,
    bots_yaml: str,
    *,
    env: dict[str, str] | None = None,
    role: str = "webhook",
    host: str | None = "127.0.0.1",
) -> ServeProcess:
    """`host=None` leaves --host out (serve's default)."""
    config = tmp_path / "bots.yaml"
    config.write_text(bots_yaml)
    full_env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BOTGATEWAY_CONFIG": str(config),
        "LOG_FORMAT": "json",
        **(env or {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "botgateway.cli",
        "serve",
        *(["--host", host] if host is not None else []),
        "--port",
        "0",
        "--role",
        role,
        env=full_env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    serve = ServeProcess(process)

    async def listening() -> bool:
        return bool(serve.url) or process.returncode is not None

    try:
        await eventually(listening, timeout=30, what="serve to listen")
    except AssertionError:
        process.kill()
        await process.wait()
        raise AssertionError(f"serve did not start:\n{serve.log}") from None
    if not serve.url:
        raise AssertionError(f"serve exited {process.returncode}:\n{serve.log}")
    return serve
