"""Request signing end to end: the gateway forwards to a backend that checks every request with
the README's own snippet (`botgateway.reference.snippets.verify_signature`, the file the README
shows), answering 401 to anything it refuses."""

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from botgateway import USER_AGENT
from botgateway.reference.snippets.verify_signature import (
    TOLERANCE_SECONDS,
    ReplayGuard,
    authentic,
)
from botgateway.service.bots import BotConfig, parse_bots
from tests.support.backend import Answer, Backend, Received
from tests.support.service import TOKEN, handle_one_update, text_update

pytestmark = pytest.mark.integration

KEY = "current-" + "k" * 32
OLD_KEY = "previous-" + "o" * 32


class VerifyingBackend(Backend):
    """A backend that knows `keys` and refuses what the snippet refuses; `skew` moves its
    clock (a request kept and sent again later)."""

    def __init__(self, *keys: str) -> None:
        super().__init__()
        self.keys = [k.encode() for k in keys]
        self.guard = ReplayGuard()
        self.skew = 0.0
        self.answer_for = self._verify

    def _verify(self, received: Received) -> Answer:
        now = time.time() + self.skew
        if authentic(received.headers, received.body, self.keys, self.guard, now=now):
            return Answer(200)
        return Answer(401, body="bad signature")


@pytest.fixture
async def backend() -> AsyncIterator[VerifyingBackend]:
    b = VerifyingBackend(KEY)
    await b.start()
    yield b
    await b.stop()


def signing_bot(url: str, signing_key: str) -> BotConfig:
    """The bot as an operator would write it: the key and the Authorization value from
    variables, never in the bots file."""
    document = {
        "bots": [
            {
                "slug": "fw",
                "token": TOKEN,
                "handler": {
                    "type": "forward",
                    "url": url,
                    "signing": {"secretEnv": "SIGNING_KEY"},
                    "headers": [
                        {"name": "Authorization", "valueEnv": "BACKEND_AUTHORIZATION"},
                        {"name": "X-Tenant", "value": "acme"},
                    ],
                },
            }
        ]
    }
    env = {"SIGNING_KEY": signing_key, "BACKEND_AUTHORIZATION": "Bearer backend-t0ken"}
    [bot] = parse_bots(document, env)
    return bot


async def forward_one(
    database_url: str, backend: Backend, http: aiohttp.ClientSession, signing_key: str, expect: str
) -> dict[str, object]:
    bot = signing_bot(backend.url, signing_key)
    return await handle_one_update(database_url, http, bot, expect=expect)


async def test_the_backend_accepts_what_the_gateway_signs(
    database_url: str, backend: VerifyingBackend, http: aiohttp.ClientSession
) -> None:
    job = await forward_one(database_url, backend, http, KEY, expect="done")
    assert job["attempts"] == 1
    [request] = backend.received
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("botgateway/")
    assert request.headers["Authorization"] == "Bearer backend-t0ken"
    assert request.headers["X-Tenant"] == "acme"
    assert request.json == text_update(5, 42)


async def test_a_wrong_key_gets_401_and_the_job_is_dead_at_once(
    database_url: str, backend: VerifyingBackend, http: aiohttp.ClientSession
) -> None:
    job = await forward_one(database_url, backend, http, "wrong-" + "w" * 32, expect="dead")
    assert job["attempts"] == 1
    assert "HTTP 401: bad signature" in str(job["last_error"])


async def test_a_backend_that_knows_only_the_old_key_accepts_during_rotation(
    database_url: str, http: aiohttp.ClientSession
) -> None:
    backend = VerifyingBackend(OLD_KEY)
    await backend.start()
    try:
        job = await forward_one(database_url, backend, http, f"{KEY}\n{OLD_KEY}", expect="done")
    finally:
        await backend.stop()
    assert job["attempts"] == 1


async def replay(http: aiohttp.ClientSession, url: str, captured: Received) -> int:
    """Send a captured request again, as someone who saw it on the way would."""
    names = ("Content-Type", "X-Botgateway-Timestamp", "X-Botgateway-Signature")
    headers = {name: captured.headers[name] for name in names}
    async with http.post(url, data=captured.body, headers=headers) as response:
        return response.status


async def test_a_replayed_request_is_refused(
    database_url: str, backend: VerifyingBackend, http: aiohttp.ClientSession
) -> None:
    await forward_one(database_url, backend, http, KEY, expect="done")
    [captured] = backend.received
    # at once, inside the window: the backend has seen this signature
    assert await replay(http, backend.url, captured) == 401
    # later, at a backend that has not seen it (another replica, a restart): too old
    backend.guard = ReplayGuard()
    backend.skew = TOLERANCE_SECONDS + 1
    assert await replay(http, backend.url, captured) == 401
    # the same request in time is accepted there: what refused it above was its age
    backend.skew = 0
    assert await replay(http, backend.url, captured) == 200
