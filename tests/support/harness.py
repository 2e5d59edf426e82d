"""One running service shared by many checks: its own event loop, driven from sync tests.

Hypothesis examples and table rows run one after another against the same service and database,
which function-scoped async fixtures cannot offer. Each check compares the row count before and
after, so sharing the table is safe. `raw()` speaks bytes over a socket, for requests no HTTP
client would send."""

import asyncio
import json
import re
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import asyncpg

from botgateway.service.bots import BotConfig
from botgateway.service.runner import RunningService
from tests.support.postgres import TestPostgres
from tests.support.service import bot, settings_for

T = TypeVar("T")

SECRET = "s3cret-token"
LIMIT = 16384
"""The body limit of the shared service: small, so limit rows stay cheap."""

_STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3})", re.MULTILINE)


@dataclass(frozen=True)
class RawAnswer:
    statuses: list[int]
    """Every status line seen on the connection, in order (a lying Content-Length can make the
    server answer the leftover bytes as a second request)."""
    data: bytes
    closed: bool
    """The server closed the connection (EOF) rather than us timing out."""

    @property
    def status(self) -> int | None:
        return self.statuses[0] if self.statuses else None


def http_request(
    body: bytes = b"",
    *,
    method: str = "POST",
    path: str = "/webhook/open",
    headers: list[tuple[str, str]] | None = None,
    content_type: str | None = "application/json",
    content_length: int | str | None = "auto",
    close: bool = True,
) -> bytes:
    """An HTTP/1.1 request as bytes. `content_length="auto"` sends the true length, None none,
    an int that (possibly lying) value. `headers` go out verbatim, after the defaults."""
    lines = [f"{method} {path} HTTP/1.1", "Host: gateway.test"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if content_length == "auto":
        lines.append(f"Content-Length: {len(body)}")
    elif content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    if close:
        lines.append("Connection: close")
    head = "\r\n".join(lines).encode("latin-1")
    for name, value in headers or []:
        head += f"\r\n{name}: ".encode("latin-1") + value.encode("utf-8", "surrogateescape")
    return head + b"\r\n\r\n" + body


def _complete_answers(data: bytes) -> int:
    """How many whole final answers (head and Content-Length body; not 1xx) `data` holds."""
    done = 0
    while (end := data.find(b"\r\n\r\n")) >= 0:
        head = data[:end].lower()
        length = re.search(rb"\r\ncontent-length: *(\d+)", head)
        size = end + 4 + (int(length.group(1)) if length else 0)
        if len(data) < size:
            break
        done += 0 if head.startswith((b"http/1.1 1", b"http/1.0 1")) else 1
        data = data[size:]
    return done


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


class ServiceHarness:
    def __init__(self, loop: asyncio.AbstractEventLoop, service: RunningService, url: str) -> None:
        self.loop = loop
        self.service = service
        self.database_url = url
        self._conn: asyncpg.Connection | None = None
        self._http: aiohttp.ClientSession | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    @property
    def port(self) -> int:
        return self.service.port

    def url(self, slug: str = "open") -> str:
        return f"{self.service.url}/webhook/{slug}"

    async def _db(self) -> asyncpg.Connection:
        if self._conn is None:
            self._conn = await asyncpg.connect(self.database_url)
        return self._conn

    async def count(self, update_id: int | None = None, slug: str | None = None) -> int:
        """Rows in gateway_jobs: all of them, or those of one update (of one bot)."""
        conn = await self._db()
        if update_id is None:
            return int(await conn.fetchval("SELECT count(*) FROM gateway_jobs"))
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM gateway_jobs WHERE update_id = $1"
                " AND ($2::text IS NULL OR bot_slug = $2)",
                update_id,
                slug,
            )
        )

    async def jsonb_accepts(self, text: str) -> bool:
        """Whether PostgreSQL itself stores `text` as jsonb: the fuzz tests' oracle."""
        conn = await self._db()
        try:
            await conn.fetchval("SELECT $1::text::jsonb IS NOT NULL", text)
        except (asyncpg.PostgresError, ValueError, UnicodeError):
            return False
        return True

    async def raw(
        self,
        request: bytes,
        *,
        half_close: bool = False,
        timeout: float = 10.0,
        answers: int | None = None,
        after_continue: bytes | None = None,
    ) -> RawAnswer:
        """Send bytes, then read until the server closes, `answers` whole answers arrived, or
        `timeout` passed. `after_continue` is sent once the server answered `100 Continue`
        (the request must carry `Expect: 100-continue`): by then the handler is reading the
        body, so those bytes reach it rather than the request parser."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        data = b""
        closed = False
        try:
            writer.write(request)
            await writer.drain()
            if after_continue is not None:
                async with asyncio.timeout(timeout):
                    while b"100 Continue\r\n\r\n" not in data:
                        chunk = await reader.read(65536)
                        if not chunk:
                            break
                        data += chunk
                writer.write(after_continue)
                await writer.drain()
            if half_close:
                writer.write_eof()
            async with asyncio.timeout(timeout):
                while chunk := await reader.read(65536):
                    data += chunk
                    if answers is not None and _complete_answers(data) >= answers:
                        break
                else:
                    closed = True
        except TimeoutError:
            pass
        except ConnectionResetError:
            closed = True
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()
        return RawAnswer([int(s) for s in _STATUS.findall(data)], data, closed)

    async def post(
        self,
        body: bytes,
        *,
        slug: str = "open",
        headers: dict[str, str] | None = None,
    ) -> int:
        if self._http is None:
            self._http = aiohttp.ClientSession(skip_auto_headers=("Content-Type",))
        async with self._http.post(self.url(slug), data=body, headers=headers or {}) as response:
            await response.read()
            return response.status

    async def accepts_a_valid_update(self, update_id: int) -> bool:
        body = json.dumps({"update_id": update_id, "message": {"text": "still up"}}).encode()
        before = await self.count(update_id)
        status = await self.post(body, headers={"Content-Type": "application/json"})
        return status == 200 and before == 0 and await self.count(update_id) == 1

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._conn is not None:
            await self._conn.close()


def harness_bots() -> tuple[BotConfig, ...]:
    return (
        bot("open"),
        bot("guarded", webhook_secret=SECRET),
        bot("ordered", chat_ordering=True),
    )


@contextmanager
def shared_service(postgres: TestPostgres, **overrides: Any) -> Iterator[ServiceHarness]:
    """A webhook-only service (rows stay put) on a fresh database, on a private event loop."""
    loop = asyncio.new_event_loop()
    try:
        url = loop.run_until_complete(postgres.create_database())
        settings = settings_for(
            url, *harness_bots(), role="webhook", **{"max_body_bytes": LIMIT, **overrides}
        )
        service = RunningService(settings)
        loop.run_until_complete(service.start())
        harness = ServiceHarness(loop, service, url)
        try:
            yield harness
        finally:
            loop.run_until_complete(harness.close())
            loop.run_until_complete(service.stop())
            loop.run_until_complete(postgres.drop_database(url))
    finally:
        loop.close()
