"""The forward handler against a local backend: status rules, retries and Retry-After."""

from collections.abc import AsyncIterator

import aiohttp
import pytest

from botgateway.service.runner import RunningService
from tests.support.backend import Answer, Backend
from tests.support.service import forward_bot, post, rows, running, settings_for, text_update

pytestmark = pytest.mark.integration


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    b = Backend()
    await b.start()
    yield b
    await b.stop()


async def job_row(database_url: str, update_id: int) -> dict[str, object]:
    found = [dict(r) for r in await rows(database_url) if r["update_id"] == update_id]
    return found[0] if found else {}


async def settled(database_url: str, update_id: int, status: str) -> bool:
    return (await job_row(database_url, update_id)).get("status") == status


async def run_one(
    database_url: str,
    backend: Backend,
    http: aiohttp.ClientSession,
    *answers: Answer,
    expect: str,
    timeout: float = 5.0,
) -> dict[str, object]:
    from tests.support.service import wait_until

    backend.script(*answers)
    settings = settings_for(database_url, forward_bot("fw", backend.url, timeout=timeout))
    svc: RunningService
    async with running(settings) as svc:
        assert (await post(http, f"{svc.url}/webhook/fw", text_update(5, 42))).status == 200
        await wait_until(lambda: settled(database_url, 5, expect), message=f"job {expect}")
    return await job_row(database_url, 5)


async def test_2xx_is_done_and_carries_the_headers(
    database_url: str, backend: Backend, http: aiohttp.ClientSession
) -> None:
    job = await run_one(database_url, backend, http, Answer(204), expect="done")
    assert job["attempts"] == 1
    [request] = backend.received
    assert request.headers["X-Botgateway-Bot"] == "fw"
    assert request.headers["X-Botgateway-Update-Id"] == "5"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == text_update(5, 42)


async def test_500_then_200_is_retried_then_done(
    database_url: str, backend: Backend, http: aiohttp.ClientSession
) -> None:
    job = await run_one(
        database_url, backend, http, Answer(500, body="boom"), Answer(200), expect="done"
    )
    assert job["attempts"] == 2
    assert len(backend.received) == 2


async def test_404_is_dead_at_once(
    database_url: str, backend: Backend, http: aiohttp.ClientSession
) -> None:
    job = await run_one(database_url, backend, http, Answer(404, body="no route"), expect="dead")
    assert job["attempts"] == 1
    assert "HTTP 404" in str(job["last_error"])
    assert len(backend.received) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 410, 422])
async def test_other_4xx_are_dead_at_once(
    database_url: str, backend: Backend, http: aiohttp.ClientSession, status: int
) -> None:
    job = await run_one(database_url, backend, http, Answer(status), expect="dead")
    assert job["attempts"] == 1


@pytest.mark.parametrize("status", [408, 502, 503])
async def test_408_and_5xx_are_retried(
    database_url: str, backend: Backend, http: aiohttp.ClientSession, status: int
) -> None:
    job = await run_one(database_url, backend, http, Answer(status), Answer(200), expect="done")
    assert job["attempts"] == 2


async def test_timeout_is_retried(
    database_url: str, backend: Backend, http: aiohttp.ClientSession
) -> None:
    job = await run_one(
        database_url, backend, http, Answer(200, delay=2.0), Answer(200), expect="done", timeout=0.3
    )
    assert job["attempts"] == 2


async def test_429_with_retry_after_is_not_retried_sooner(
    database_url: str, backend: Backend, http: aiohttp.ClientSession
) -> None:
    job = await run_one(
        database_url,
        backend,
        http,
        Answer(429, headers={"Retry-After": "2"}),
        Answer(200),
        expect="done",
    )
    assert job["attempts"] == 2
    first, second = backend.received
    # the queue's backoff here is 100 ms; the backend's Retry-After wins
    assert second.at - first.at >= 1.9


async def test_connection_refused_is_retried(database_url: str) -> None:
    from tests.support.service import wait_until

    dead = Backend()
    url = await dead.start()
    await dead.stop()
    settings = settings_for(database_url, forward_bot("fw", url), max_attempts=2)
    async with running(settings) as svc, aiohttp.ClientSession() as http:
        assert (await post(http, f"{svc.url}/webhook/fw", text_update(5, 42))).status == 200
        await wait_until(lambda: settled(database_url, 5, "dead"), message="attempts used up")
    job = await job_row(database_url, 5)
    assert job["attempts"] == 2
    assert "unreachable" in str(job["last_error"])
