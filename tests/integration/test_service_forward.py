"""The forward handler against a local backend: status rules, retries and Retry-After."""

import logging
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from tests.support.backend import Answer, Backend
from tests.support.service import (
    forward_bot,
    handle_one_update,
    job_row,
    post,
    rows,
    running,
    settings_for,
    text_update,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    b = Backend()
    await b.start()
    yield b
    await b.stop()


async def settled(database_url: str, update_id: int, status: str) -> bool:
    return (await job_row(database_url, update_id)).get("status") == status


async def run_one(
    database_url: str,
    backend: Backend,
    http: aiohttp.ClientSession,
    *answers: Answer,
    expect: str,
    timeout: float = 5.0,
    **overrides: object,
) -> dict[str, object]:
    backend.script(*answers)
    bot = forward_bot("fw", backend.url, timeout=timeout)
    return await handle_one_update(database_url, http, bot, expect=expect, **overrides)


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


A_YEAR_AHEAD = "Wed, 01 Dec 2027 00:00:00 GMT"
JobLines = Callable[[object], list[logging.LogRecord]]


@pytest.fixture
def job_lines(caplog: pytest.LogCaptureFixture) -> JobLines:
    """What botgateway logged about one job, by its id."""
    caplog.set_level(logging.INFO, logger="botgateway")
    return lambda job_id: [r for r in caplog.records if getattr(r, "job_id", None) == job_id]


async def test_a_retry_after_a_year_ahead_is_capped_and_logged(
    database_url: str, backend: Backend, http: aiohttp.ClientSession, job_lines: JobLines
) -> None:
    """QUEUE_MAX_RETRY_AFTER (1h by default) bounds what a backend can ask for."""
    from tests.support.service import wait_until

    backend.script(Answer(503, headers={"Retry-After": A_YEAR_AHEAD}))
    settings = settings_for(database_url, forward_bot("fw", backend.url))
    async with running(settings) as svc:
        assert (await post(http, f"{svc.url}/webhook/fw", text_update(5, 42))).status == 200
        await wait_until(lambda: _has_failed_once(database_url), message="the first attempt failed")
    [(job_id, waits)] = await rows(
        database_url,
        "SELECT id, extract(epoch FROM next_retry_at - now())::float8 FROM gateway_jobs",
    )
    assert 3500 < waits <= 3600, f"the job waits {waits:.0f}s, not the capped hour"
    [capped] = job_lines(job_id)
    assert capped.levelno == logging.WARNING
    assert "capped by QUEUE_MAX_RETRY_AFTER" in capped.getMessage()
    assert capped.retry_after_s > 3600 * 24 * 300  # type: ignore[attr-defined]
    assert capped.retry_in_s == 3600  # type: ignore[attr-defined]


async def _has_failed_once(database_url: str) -> bool:
    job = await job_row(database_url, 5)
    return job.get("status") == "pending" and job.get("last_error") is not None


async def test_the_last_attempt_logs_a_dead_lettering_not_a_retry(
    database_url: str, backend: Backend, http: aiohttp.ClientSession, job_lines: JobLines
) -> None:
    job = await run_one(
        database_url, backend, http, Answer(503), Answer(503), expect="dead", max_attempts=2
    )
    assert job["attempts"] == 2
    lines = job_lines(job["id"])
    assert [(r.attempt, r.levelno) for r in lines] == [  # type: ignore[attr-defined]
        (1, logging.WARNING),
        (2, logging.ERROR),
    ]
    retry, dead = lines
    assert retry.getMessage().startswith("job failed; will retry at ")
    assert dead.getMessage() == "job dead-lettered"
    assert (dead.bot, dead.reason) == ("fw", "attempts_used")  # type: ignore[attr-defined]
    assert "HTTP 503" in dead.error  # type: ignore[attr-defined]
    assert 'botgateway_jobs_dead_lettered_total{bot="fw",reason="attempts_used"} 1.0' in str(
        job["metrics"]
    )


async def test_a_permanent_failure_logs_a_dead_lettering(
    database_url: str, backend: Backend, http: aiohttp.ClientSession, job_lines: JobLines
) -> None:
    job = await run_one(database_url, backend, http, Answer(404), expect="dead")
    [dead] = job_lines(job["id"])
    assert (dead.getMessage(), dead.levelno) == ("job dead-lettered", logging.ERROR)
    assert dead.reason == "permanent"  # type: ignore[attr-defined]
    assert 'botgateway_jobs_dead_lettered_total{bot="fw",reason="permanent"} 1.0' in str(
        job["metrics"]
    )
