"""`botgateway serve` as a real process: SIGTERM with jobs in flight loses nothing and leaves
nothing running; tokens and secrets never reach its logs."""

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import serve_process
from tests.support.backend import Answer, Backend
from tests.support.serve_process import ServeProcess
from tests.support.service import count, post, rows, text_update, wait_until

pytestmark = pytest.mark.integration

TOKEN = "987654:SuperSecretToken_xyz"
SECRET = "hook-secret-abc"


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    b = Backend()
    await b.start()
    yield b
    await b.stop()


async def start_serve(
    tmp_path: Path, database_url: str, backend_url: str, grace: str
) -> ServeProcess:
    bots_yaml = (
        "bots:\n"
        "  - slug: support\n"
        f"    token: '{TOKEN}'\n"
        f"    webhookSecret: {SECRET}\n"
        "    handler:\n"
        "      type: forward\n"
        f"      url: {backend_url}\n"
        "      timeoutSeconds: 30\n"
    )
    env = {
        "QUEUE_BACKOFF": "100ms",
        "WORKER_CONCURRENCY": "4",
        "WORKER_SHUTDOWN_GRACE": grace,
        "LOG_LEVEL": "DEBUG",
    }
    return await serve_process.start_serve(tmp_path, database_url, bots_yaml, env=env, role="all")


async def test_sigterm_with_jobs_in_flight_loses_nothing(
    tmp_path: Path, database_url: str, backend: Backend
) -> None:
    backend.answer_for = lambda _: Answer(200, delay=1.0)
    serve = await start_serve(tmp_path, database_url, backend.url, grace="10s")
    n = 12
    async with aiohttp.ClientSession() as http:
        for i in range(1, n + 1):
            response = await post(
                http, f"{serve.url}/webhook/support", text_update(i, i), secret=SECRET
            )
            assert response.status == 200
    await wait_until(lambda: backend.in_flight == 4, message="four jobs in flight")
    serve.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert await serve.wait(timeout=20) == 0, serve.log
    assert time.monotonic() - started < 10
    jobs = await rows(database_url)
    assert len(jobs) == n, "nothing lost"
    assert {j["status"] for j in jobs} <= {"done", "pending"}, "nothing left running"
    done = {j["update_id"] for j in jobs if j["status"] == "done"}
    assert set(backend.update_ids()) == done, "every job that ran to the end is done"
    assert len(done) >= 4
    assert all(j["attempts"] == 0 for j in jobs if j["status"] == "pending")
    assert TOKEN not in serve.log
    assert SECRET not in serve.log
    assert "stopping intake" in serve.log


async def test_sigterm_hands_back_jobs_that_outlive_the_grace(
    tmp_path: Path, database_url: str, backend: Backend
) -> None:
    stuck = asyncio.Event()
    backend.answer_for = lambda _: Answer(200, hold=stuck)
    serve = await start_serve(tmp_path, database_url, backend.url, grace="1s")
    try:
        async with aiohttp.ClientSession() as http:
            for i in (1, 2):
                response = await post(
                    http, f"{serve.url}/webhook/support", text_update(i, i), secret=SECRET
                )
                assert response.status == 200
        await wait_until(lambda: backend.in_flight == 2, message="two jobs in flight")
        serve.process.send_signal(signal.SIGTERM)
        assert await serve.wait(timeout=15) == 0, serve.log
    finally:
        stuck.set()
    assert await count(database_url, "status = 'pending'") == 2
    assert await count(database_url, "status = 'running'") == 0
    # our shutdown is not the jobs' fault: their attempts are given back, and the log says so
    assert await count(database_url, "attempts = 0 AND isolated") == 2
    assert serve.log.count("job interrupted by the shutdown after") == 2, serve.log
