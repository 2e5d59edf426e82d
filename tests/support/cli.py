"""Run `botgateway` as a user would: a separate process, with an environment."""

import asyncio
import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


async def botgateway(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Ran:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "botgateway.cli",
        *args,
        env=os.environ | (env or {}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())
