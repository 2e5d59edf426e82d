"""Per-chat ordering: on, one chat's updates run one at a time in update order while other
chats proceed; off, one chat's updates run in parallel."""

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.backend import Answer, Backend, Received
from tests.support.service import (
    count,
    forward_bot,
    post,
    running,
    settings_for,
    text_update,
    wait_until,
)

pytestmark = pytest.mark.integration

CHAT_A = -1001111111111
CHAT_B = 222


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    b = Backend()
    await b.start()
    yield b
    await b.stop()


def hold_chat_a(backend: Backend) -> asyncio.Event:
    """Chat A's requests stay in flight until the returned event is set."""
    release = asyncio.Event()

    def answer(received: Received) -> Answer:
        chat = received.json["message"]["chat"]["id"]
        return Answer(200, hold=release if chat == CHAT_A else None)

    backend.answer_for = answer
    return release


async def test_ordering_on_runs_one_chat_in_order_while_others_proceed(
    database_url: str, backend: Backend
) -> None:
    release = hold_chat_a(backend)
    settings = settings_for(database_url, forward_bot("ord", backend.url, chat_ordering=True))
    async with running(settings) as svc, aiohttp.ClientSession() as http:
        for update in (
            text_update(1, CHAT_A, "a1"),
            text_update(2, CHAT_A, "a2"),
            text_update(3, CHAT_A, "a3"),
            text_update(4, CHAT_B, "b1"),
            text_update(5, CHAT_B, "b2"),
        ):
            assert (await post(http, f"{svc.url}/webhook/ord", update)).status == 200
        # chat B is done although chat A's first update is still running
        await wait_until(lambda: {4, 5} <= set(backend.update_ids()), message="chat B handled")
        await wait_until(lambda: count(database_url, "update_id IN (4, 5) AND status = 'done'"))
        assert [i for i in backend.update_ids() if i <= 3] == [1]
        release.set()
        await wait_until(lambda: count(database_url, "status = 'done'"), message="all done")
        await wait_until(lambda: len(backend.received) == 5)
    assert [i for i in backend.update_ids() if i <= 3] == [1, 2, 3]


async def test_ordering_on_keeps_order_across_a_retry(database_url: str, backend: Backend) -> None:
    backend.script(Answer(500), Answer(200), Answer(200))
    settings = settings_for(database_url, forward_bot("ord", backend.url, chat_ordering=True))
    async with running(settings) as svc, aiohttp.ClientSession() as http:
        for i in (1, 2):
            assert (
                await post(http, f"{svc.url}/webhook/ord", text_update(i, CHAT_A))
            ).status == 200
        await wait_until(lambda: _done(database_url, 2), message="both done")
    assert backend.update_ids() == [1, 1, 2]


async def _done(database_url: str, n: int) -> bool:
    return await count(database_url, "status = 'done'") == n


async def test_ordering_off_runs_one_chat_in_parallel(database_url: str, backend: Backend) -> None:
    release = hold_chat_a(backend)
    settings = settings_for(database_url, forward_bot("par", backend.url, chat_ordering=False))
    async with running(settings) as svc, aiohttp.ClientSession() as http:
        for i in (1, 2, 3):
            update = text_update(i, CHAT_A)
            assert (await post(http, f"{svc.url}/webhook/par", update)).status == 200
        await wait_until(lambda: backend.in_flight == 3, message="three in flight at once")
        release.set()
        await wait_until(lambda: _done(database_url, 3), message="all done")
    assert backend.max_in_flight == 3
