"""`botgateway dev` as a newcomer runs it: a banner with a curl line that posts an update and
shows it processed; Ctrl-C stops cleanly. With DATABASE_URL set it uses that database."""

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.support.service import count, wait_until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("database", ["DATABASE_URL", "embedded"])
async def test_dev_prints_a_working_curl_line_and_stops_on_ctrl_c(
    database_url: str, tmp_path: Path, database: str
) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("BOTGATEWAY_CONFIG", None)
    args = ["dev", "--port", "0"]
    if database == "embedded":
        del env["DATABASE_URL"]
        args += ["--data-dir", str(tmp_path / "dev")]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "botgateway.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines: list[str] = []

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            lines.append(line.decode())

    reader = asyncio.create_task(read())
    try:
        await wait_until(lambda: any("Press Ctrl-C" in line for line in lines), timeout=30)
        curl = next(line.strip() for line in lines if line.strip().startswith("curl "))
        shell = await asyncio.create_subprocess_shell(
            curl, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await asyncio.wait_for(shell.communicate(), 30)
        text = output.decode()
        assert shell.returncode == 0, text
        assert '"ok": true' in text
        stats = text.splitlines()[-1].split()  # the (all) row of `botgateway jobs stats`
        assert stats[0] == "(all)", text
        assert stats[3] == "1", text
        if database == "DATABASE_URL":
            await wait_until(lambda: count(database_url, "status = 'done'"), message="done")
        else:
            assert str(tmp_path / "dev" / "pgdata") in "".join(lines)
        await wait_until(lambda: any("job done" in line for line in lines), message="log line")
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await reader
    assert any("stopped" in line for line in lines)
    assert "Traceback" not in "".join(lines)
