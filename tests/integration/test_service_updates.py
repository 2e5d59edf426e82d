"""Real-shaped updates of many kinds: each accepted once and forwarded unchanged.

The payload column is jsonb, so PostgreSQL normalises key order and whitespace: "unchanged"
means the forwarded body parses to the same JSON value as the one Telegram sent."""

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.backend import Backend
from tests.support.service import count, forward_bot, post, running, settings_for, wait_until
from tests.support.updates import UPDATES

pytestmark = pytest.mark.integration


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    b = Backend()
    await b.start()
    yield b
    await b.stop()


@pytest.mark.parametrize("kind", sorted(UPDATES))
async def test_update_is_accepted_once_and_forwarded_json_equal(
    database_url: str, backend: Backend, kind: str
) -> None:
    update = UPDATES[kind]
    raw = json.dumps(update, ensure_ascii=False).encode("utf-8")
    settings = settings_for(database_url, forward_bot("fw", backend.url))
    async with running(settings) as svc, aiohttp.ClientSession() as http:
        first = await post(http, f"{svc.url}/webhook/fw", raw)
        again = await post(http, f"{svc.url}/webhook/fw", raw)
        assert (first.status, again.status) == (200, 200)
        await wait_until(lambda: count(database_url, "status = 'done'"), message="job done")
    assert await count(database_url) == 1
    [received] = backend.received
    assert received.json == update
    assert received.headers["X-Botgateway-Update-Id"] == str(update["update_id"])
    # the text survives byte for byte inside the JSON (no escaping of emoji or RTL runs)
    assert json.loads(received.body.decode("utf-8")) == json.loads(raw.decode("utf-8"))


async def test_gateways_with_different_bots_share_one_database(
    database_url: str, backend: Backend
) -> None:
    """Each worker claims only the jobs of its own bots: neither dead-letters the other's."""
    first = settings_for(database_url, forward_bot("first", backend.url))
    second = settings_for(database_url, forward_bot("second", backend.url))
    async with running(first) as one, aiohttp.ClientSession() as http:
        for update_id in range(1, 21):
            assert (
                await post(http, f"{one.url}/webhook/first", {"update_id": update_id})
            ).status == 200
        async with running(second) as two:
            for update_id in range(1, 21):
                answer = await post(http, f"{two.url}/webhook/second", {"update_id": update_id})
                assert answer.status == 200

            async def all_done() -> bool:
                return await count(database_url, "status IN ('done', 'dead')") == 40

            await wait_until(all_done, message="40 jobs settled")
    assert await count(database_url, "status = 'dead'") == 0
    by_bot = sorted((r.headers["X-Botgateway-Bot"], r.update_id) for r in backend.received)
    assert by_bot == sorted((bot, i) for bot in ("first", "second") for i in range(1, 21))
