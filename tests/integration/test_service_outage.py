"""A database outage mid-traffic: 503 during, 200 after (no restart of the service), and every
update that was answered 200 is processed."""

import asyncio
import itertools
from collections.abc import Iterator
from datetime import timedelta

import aiohttp
import pytest

from botgateway.wiring import janitor_maintenance
from tests.support.postgres import TestPostgres
from tests.support.service import bot, post, rows, running, settings_for, text_update, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def restartable(postgres: TestPostgres) -> Iterator[TestPostgres]:
    if not postgres.can_restart:
        pytest.skip(
            "the outage test stops and starts the embedded PostgreSQL; TEST_DATABASE_URL is set"
        )
    yield postgres
    postgres.start()


async def test_database_outage_mid_traffic(restartable: TestPostgres, database_url: str) -> None:
    # A claim can commit on the server while its answer is lost with the connection; that job
    # stays `running` under a lease nobody renews until the janitor takes it back. A short
    # stuck timeout and the in-process janitor loop (as `serve` runs it) let the test see it.
    settings = settings_for(
        database_url,
        bot("load"),
        stuck_timeout=timedelta(seconds=2),
        janitor_interval=timedelta(milliseconds=500),
    )
    answers: dict[int, int] = {}
    ids = itertools.count(1)
    stop = asyncio.Event()

    async with (
        running(settings, maintenance=janitor_maintenance) as svc,
        aiohttp.ClientSession() as http,
    ):

        async def sender() -> None:
            while not stop.is_set():
                update_id = next(ids)
                if update_id > 20_000:
                    return
                try:
                    response = await post(
                        http, f"{svc.url}/webhook/load", text_update(update_id, update_id % 7)
                    )
                    answers[update_id] = response.status
                except aiohttp.ClientError:
                    answers[update_id] = -1
                await asyncio.sleep(0.005)

        def since(status: int, after: int) -> bool:
            return any(k > after and v == status for k, v in list(answers.items()))

        senders = [asyncio.create_task(sender()) for _ in range(4)]
        try:
            await wait_until(lambda: since(200, 0), message="traffic flowing")
            await asyncio.to_thread(restartable.stop)
            mark = max(answers)
            await wait_until(lambda: since(503, mark), message="503 during the outage")
            async with http.get(f"{svc.url}/readyz") as ready:
                assert ready.status == 503
            await asyncio.to_thread(restartable.start)
            mark = max(answers)
            await wait_until(lambda: since(200, mark), message="200 after", timeout=30)
            async with http.get(f"{svc.url}/readyz") as ready:
                assert ready.status == 200
        finally:
            stop.set()
            await asyncio.gather(*senders)
        accepted = {k for k, v in answers.items() if v == 200}

        async def all_processed() -> bool:
            done = {r["update_id"] for r in await rows(database_url) if r["status"] == "done"}
            return accepted <= done

        await wait_until(all_processed, message="every 200-answered update done", timeout=60)
    assert set(answers.values()) <= {200, 503}
    assert 503 in answers.values()
