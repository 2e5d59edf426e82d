"""The DESIGN §3 HTTP table, row by row: the answer, and that nothing was enqueued for a 4xx."""

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from botgateway.janitor import run_once
from botgateway.queue import QueueSettings, Store
from botgateway.service.runner import RunningService
from tests.support.service import (
    SECRET,
    bot,
    count,
    post,
    rows,
    running,
    settings_for,
    text_update,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[RunningService]:
    # webhook role only: rows stay in the table for the assertions
    settings = settings_for(
        database_url,
        bot("open"),
        bot("guarded", webhook_secret=SECRET),
        bot("ordered", chat_ordering=True),
        role="webhook",
        max_body_bytes=4096,
    )
    async with running(settings) as svc:
        yield svc


def hook(service: RunningService, slug: str) -> str:
    return f"{service.url}/webhook/{slug}"


async def test_valid_update_is_answered_200_after_its_row_is_committed(
    service: RunningService, http: aiohttp.ClientSession, database_url: str
) -> None:
    update = text_update(1001, 42)
    response = await post(http, hook(service, "open"), update)
    assert response.status == 200
    stored = await rows(database_url)
    assert [(r["bot_slug"], r["update_id"], r["status"]) for r in stored] == [
        ("open", 1001, "pending")
    ]
    # payload is jsonb: key order and whitespace are normalised, so compare parsed JSON
    assert json.loads(stored[0]["payload"]) == update
    assert stored[0]["handler_type"] == "discard"


async def test_duplicate_update_is_200_and_stored_once(
    service: RunningService, http: aiohttp.ClientSession, database_url: str
) -> None:
    update = text_update(7, 42)
    first = await post(http, hook(service, "open"), update)
    second = await post(http, hook(service, "open"), update)
    assert (first.status, second.status) == (200, 200)
    assert await count(database_url) == 1


async def test_right_secret_is_accepted(
    service: RunningService, http: aiohttp.ClientSession, database_url: str
) -> None:
    response = await post(http, hook(service, "guarded"), text_update(1, 1), secret=SECRET)
    assert response.status == 200
    assert await count(database_url) == 1


async def test_unknown_slug_is_404(
    service: RunningService, http: aiohttp.ClientSession, database_url: str
) -> None:
    response = await post(http, hook(service, "nobody"), text_update(1, 1))
    assert response.status == 404
    assert await count(database_url) == 0


@pytest.mark.parametrize("wrong", [None, "s3cret-tokeN", "s3cret-token-", "", "x"])
async def test_missing_or_wrong_secret_is_401(
    service: RunningService, http: aiohttp.ClientSession, database_url: str, wrong: str | None
) -> None:
    response = await post(http, hook(service, "guarded"), text_update(1, 1), secret=wrong)
    assert response.status == 401
    assert await count(database_url) == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b'{"update_id": NaN}', id="nan"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"message": {}}', id="update-id-missing"),
        pytest.param(b'{"update_id": "5"}', id="update-id-string"),
        pytest.param(b'{"update_id": true}', id="update-id-bool"),
        pytest.param(b'{"update_id": 5.0}', id="update-id-float"),
        pytest.param(b'{"update_id": null}', id="update-id-null"),
        pytest.param(b'{"update_id": 99999999999999999999}', id="update-id-out-of-range"),
        pytest.param(b'{"update_id": 1, "x": "nul\\u0000"}', id="nul-character"),
    ],
)
async def test_bad_body_is_400(
    service: RunningService, http: aiohttp.ClientSession, database_url: str, body: bytes
) -> None:
    response = await post(http, hook(service, "open"), body)
    assert response.status == 400
    assert await count(database_url) == 0


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", None, "application/json; charset=latin-1"],
)
async def test_wrong_content_type_is_415(
    service: RunningService,
    http: aiohttp.ClientSession,
    database_url: str,
    content_type: str | None,
) -> None:
    response = await post(http, hook(service, "open"), text_update(1, 1), content_type=content_type)
    assert response.status == 415
    assert await count(database_url) == 0


async def test_json_with_charset_is_accepted(
    service: RunningService, http: aiohttp.ClientSession, database_url: str
) -> None:
    response = await post(
        http,
        hook(service, "open"),
        text_update(1, 1),
        content_type="application/json; charset=utf-8",
    )
    assert response.status == 200
    assert await count(database_url) == 1


async def test_body_over_the_limit_is_413(
    service: RunningService, http: aiohttp.ClientSession, database_url: str
) -> None:
    update = text_update(1, 1, text="x" * 5000)
    response = await post(http, hook(service, "open"), update)
    assert response.status == 413
    assert await count(database_url) == 0


async def test_chunked_body_over_the_limit_is_413(
    service: RunningService, http: aiohttp.ClientSession, database_url: str
) -> None:
    payload = json.dumps(text_update(1, 1, text="x" * 5000)).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 1000):
            yield payload[i : i + 1000]

    async with http.post(
        hook(service, "open"), data=chunks(), headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 413
    assert await count(database_url) == 0


async def test_default_body_limit_is_one_mebibyte(database_url: str) -> None:
    settings = settings_for(database_url, bot("open"), role="webhook")
    assert settings.max_body_bytes == 1024 * 1024
    async with running(settings) as svc, aiohttp.ClientSession() as http:
        near = text_update(1, 1, text="x" * (1024 * 1024 - 500))
        over = text_update(2, 1, text="x" * (1024 * 1024))
        assert (await post(http, hook(svc, "open"), near)).status == 200
        assert (await post(http, hook(svc, "open"), over)).status == 413
    assert await count(database_url) == 1


def _dead_database_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://nobody@127.0.0.1:{port}/nothing"


async def test_database_unavailable_is_503_with_retry_after() -> None:
    settings = settings_for(_dead_database_url(), bot("open"), role="webhook")
    async with running(settings) as svc, aiohttp.ClientSession() as http:
        response = await post(http, hook(svc, "open"), text_update(1, 1))
        assert response.status == 503
        assert int(response.headers["Retry-After"]) > 0
        async with http.get(f"{svc.url}/readyz") as ready:
            assert ready.status == 503
        async with http.get(f"{svc.url}/healthz") as healthy:
            assert healthy.status == 200


async def test_healthz_and_readyz(service: RunningService, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{service.url}/healthz") as healthy:
        assert healthy.status == 200
    async with http.get(f"{service.url}/readyz") as ready:
        assert ready.status == 200


async def test_metrics_are_prometheus_text(
    service: RunningService, http: aiohttp.ClientSession
) -> None:
    await post(http, hook(service, "open"), text_update(1, 1))
    await post(http, hook(service, "nobody"), text_update(1, 1))
    async with http.get(f"{service.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    assert 'botgateway_webhook_requests_total{bot="open",status="200"} 1.0' in text
    assert 'botgateway_webhook_requests_total{bot="(unknown)",status="404"} 1.0' in text
    assert 'botgateway_queue_jobs{bot="open",status="pending"} 1.0' in text
    assert "botgateway_queue_oldest_pending_seconds" in text
    assert "botgateway_database_up 1.0" in text
    assert "botgateway_job_duration_seconds" in text
    assert "botgateway_janitor_runs_total" in text


async def test_metrics_show_the_last_cronjob_janitor_round_from_the_database(
    service: RunningService, http: aiohttp.ClientSession, database_url: str
) -> None:
    """`janitor --once` runs in a CronJob's pod that nobody scrapes; every gateway shows it."""
    store = await Store.connect(database_url, max_size=2)
    try:
        result = await run_once(store, QueueSettings(database_url=database_url))
    finally:
        await store.close()
    async with http.get(f"{service.url}/metrics") as response:
        text = await response.text()
    samples = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("botgateway_janitor_last_round")
    }
    stamp = samples['botgateway_janitor_last_round_timestamp_seconds{runner="once"}']
    assert abs(stamp - time.time()) < 60
    assert samples['botgateway_janitor_last_round_duration_seconds{runner="once"}'] == (
        pytest.approx(result.seconds)
    )
    for action in ("recovered", "dead_lettered", "purged"):
        name = f'botgateway_janitor_last_round_jobs{{action="{action}",runner="once"}}'
        assert samples[name] == 0


async def test_concurrent_requests_are_group_committed(
    service: RunningService, http: aiohttp.ClientSession, database_url: str
) -> None:
    n = 200
    responses = await asyncio.gather(
        *(post(http, hook(service, "open"), text_update(i, i)) for i in range(1, n + 1))
    )
    assert all(r.status == 200 for r in responses)
    assert await count(database_url) == n
    from botgateway.service.app import METRICS

    histogram = service.app[METRICS].ingest_batch
    batches = histogram.collect()[0]
    total = next(s.value for s in batches.samples if s.name.endswith("_sum"))
    inserts = next(s.value for s in batches.samples if s.name.endswith("_count"))
    assert total == n
    assert inserts < n / 2, f"{n} updates took {inserts} inserts"


async def test_chat_key_is_stored_only_for_bots_with_chat_ordering(
    service: RunningService, http: aiohttp.ClientSession, database_url: str
) -> None:
    await post(http, hook(service, "ordered"), text_update(1, -1001234567890))
    await post(http, hook(service, "open"), text_update(1, -1001234567890))
    keys = {r["bot_slug"]: r["chat_key"] for r in await rows(database_url)}
    assert keys == {"ordered": "-1001234567890", "open": None}


async def test_service_survives_garbage(
    service: RunningService, http: aiohttp.ClientSession, database_url: str
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    writer.write(b"POST /webhook/open HTTP/1.1\r\nContent-Length: zz\r\n\r\n\x00\x01garbage")
    await writer.drain()
    await reader.read()
    writer.close()
    response = await post(http, hook(service, "open"), text_update(1, 1))
    assert response.status == 200
