"""The aiohttp application: `create_app(settings)`.

Thin handlers over resources that live in `cleanup_ctx`: the store, the group committer, the
worker (with its HTTP session and Bot API clients) and the in-process maintenance loop. The
worker runs as a background task of the app, so a `worker` role is the same app without the
webhook route, still serving health and metrics."""

import asyncio
import contextlib
import functools
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from botgateway.contract.janitor import JanitorResult
from botgateway.queue import (
    DatabaseUnavailable,
    DeadLetter,
    Deferred,
    Finished,
    NewJob,
    QueueError,
    QueueSettings,
    Store,
    Succeeded,
    Worker,
    WorkerConfig,
)
from botgateway.telegram import TelegramClient

from .bots import BotConfig
from .chatkey import chat_key
from .errors import ServiceStopping
from .handlers import Dispatcher, HandlerContext
from .ingest import BadUpdate, GroupCommitter, parse_update
from .metrics import CONTENT_TYPE, UNKNOWN_BOT, Metrics
from .settings import ServiceSettings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

Maintenance = Callable[
    [Store, QueueSettings, asyncio.Event, Callable[[JanitorResult], None]],
    Coroutine[Any, Any, None],
]
"""The in-process janitor loop, handed in by the composition root (the service may not import
the janitor package)."""

SETTINGS = web.AppKey("settings", ServiceSettings)
BOTS = web.AppKey("bots", dict[str, BotConfig])
METRICS = web.AppKey("metrics", Metrics)
STOPPING = web.AppKey("stopping", asyncio.Event)
STORE = web.AppKey("store", Store)
INGEST = web.AppKey("ingest", GroupCommitter)
WORKER = web.AppKey("worker", Worker)


def create_app(
    settings: ServiceSettings,
    *,
    maintenance: Maintenance | None = None,
    metrics: Metrics | None = None,
) -> web.Application:
    # auto_decompress off: bodies are taken as sent (Telegram never compresses them), so a
    # compressed body is refused with 415 instead of being inflated by the HTTP parser.
    app = web.Application(
        client_max_size=settings.max_body_bytes, handler_args={"auto_decompress": False}
    )
    app[SETTINGS] = settings
    app[BOTS] = {bot.slug: bot for bot in settings.bots}
    app[METRICS] = metrics or Metrics()
    app[STOPPING] = asyncio.Event()
    app.cleanup_ctx.append(_store_ctx)
    if settings.runs_webhook:
        app.cleanup_ctx.append(_ingest_ctx)
        app.router.add_post("/webhook/{slug}", webhook)
    if settings.runs_worker:
        app.cleanup_ctx.append(_worker_ctx)
        if maintenance is not None:
            app.cleanup_ctx.append(_maintenance_ctx(maintenance))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    app.on_shutdown.append(_begin_stopping)
    return app


# -- resources ----------------------------------------------------------------------------


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # min_size=0: the pool connects on demand, so the service starts (answering 503, not
    # ready) while the database is away and recovers by itself when it returns.
    store = await Store.open(
        settings.queue.database, min_size=0, max_size=settings.database_pool_size
    )
    try:
        await store.ping()
    except QueueError as exc:
        log.error("database unreachable at start; answering 503 until it is back: %s", exc)
    app[STORE] = store
    yield
    await store.close()


async def _ingest_ctx(app: web.Application) -> AsyncIterator[None]:
    ingest = GroupCommitter(app[STORE], on_batch=app[METRICS].ingest_batch.observe)
    app[INGEST] = ingest
    yield
    await ingest.close()


async def _worker_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    metrics = app[METRICS]
    connector = aiohttp.TCPConnector(limit=max(100, settings.worker_concurrency * 2))
    async with aiohttp.ClientSession(connector=connector) as http:

        def context(bot: BotConfig) -> HandlerContext:
            # each client makes its own SendLimiter: Telegram's limits are per bot
            client = TelegramClient(http, settings.telegram_api_base, bot.token)
            return HandlerContext(bot=bot, http=http, telegram=client)

        dispatcher = Dispatcher.for_bots(settings.bots, context)
        config = WorkerConfig.from_settings(
            settings.queue,
            concurrency=settings.worker_concurrency,
            shutdown_grace=settings.shutdown_grace,
            poll_interval=settings.poll_interval,
            bots=frozenset(bot.slug for bot in settings.bots),
        )

        success_level = logging.INFO if settings.log_each_job else logging.DEBUG

        def observe(finished: Finished) -> None:
            metrics.job_finished(finished)
            _log_job(finished, success_level=success_level)

        worker = Worker(app[STORE], dispatcher, config, observer=observe)
        app[WORKER] = worker
        task = asyncio.create_task(_supervise(worker, app[STOPPING]), name="worker")
        log.info(
            "worker started",
            extra={"owner": worker.owner, "concurrency": config.concurrency},
        )
        yield
        app[STOPPING].set()
        await task
        log.info("worker stopped", extra={"processed": worker.processed})


async def _supervise(worker: Worker, stop: asyncio.Event) -> None:
    """Run the worker until stopped; an unexpected crash is logged and the worker restarted,
    so one odd driver error cannot silently end processing in a serving pod."""
    while True:
        try:
            await worker.run(stop)
        except Exception:
            log.exception("worker crashed; restarting it")
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def _maintenance_ctx(
    maintenance: Maintenance,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(
            maintenance(app[STORE], app[SETTINGS].queue, app[STOPPING], app[METRICS].janitor_round),
            name="maintenance",
        )
        yield
        app[STOPPING].set()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


async def _begin_stopping(app: web.Application) -> None:
    """Shutdown starts: not ready any more, and the worker starts draining right away."""
    app[STOPPING].set()


def _log_job(finished: Finished, *, success_level: int) -> None:
    """One line per attempt, saying what the worker did with the job: the recorded decision,
    never a guess from the handler's outcome."""
    job, outcome, decision = finished.job, finished.outcome, finished.decision
    if isinstance(outcome, Succeeded) and not log.isEnabledFor(success_level):
        return  # the usual case: no fields to build for a line nobody sees
    fields: dict[str, object] = {
        "bot": job.bot_slug,
        "update_id": job.update_id,
        "job_id": job.id,
        "handler": job.handler_type,
        "attempt": job.attempts,
        "ms": round(finished.seconds * 1000, 1),
    }
    if isinstance(outcome, Succeeded):
        log.log(success_level, "job done", extra=fields)
        return
    if isinstance(outcome, Deferred):
        fields["delay_s"] = outcome.delay.total_seconds()
        log.info("job deferred by a rate limit; its attempt is kept", extra=fields)
        return
    fields["error"] = outcome.error
    if outcome.retry_after is not None:
        fields["retry_after_s"] = outcome.retry_after.total_seconds()
    if decision is None:
        log.warning("job failed; the failure was not recorded (the worker said why)", extra=fields)
    elif isinstance(decision, DeadLetter):
        fields["reason"] = "permanent" if decision.permanent else "attempts_used"
        log.error("job dead-lettered", extra=fields)
    else:
        retry_at = datetime.now(UTC) + decision.delay
        fields["retry_in_s"] = round(decision.delay.total_seconds(), 3)
        fields["retry_at"] = retry_at.isoformat(timespec="seconds")
        if decision.capped_retry_after is None:
            log.warning("job failed; will retry at %s", fields["retry_at"], extra=fields)
            return
        log.warning(
            "job failed; will retry at %s: the Retry-After asked for %.0fs, capped by "
            "QUEUE_MAX_RETRY_AFTER",
            fields["retry_at"],
            decision.capped_retry_after.total_seconds(),
            extra=fields,
        )


# -- views --------------------------------------------------------------------------------


def _answer(
    request: web.Request, bot: str, status: int, text: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    request.app[METRICS].request(bot, status)
    return web.Response(
        body=_answer_body(status, text),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


async def _send_and_close(request: web.Request, response: web.Response) -> web.Response:
    """Send this answer, then close the connection. A stalled body may never arrive, so
    aiohttp's usual lingering read of the rest (10 s more, after our own timeout) would only
    hold the socket: `Connection: close` alone does not skip it, closing the protocol does,
    and the transport still flushes what was written."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.protocol is not None:
        request.protocol.force_close()
    return response


@functools.lru_cache(maxsize=256)
def _answer_body(status: int, text: str) -> bytes:
    """Encoded once per distinct answer: the 200 for every stored update is the same bytes."""
    return json.dumps({"ok": status == 200, "description": text}).encode("utf-8")


def _secret_matches(expected: str, given: list[str]) -> bool:
    """Exactly one secret header, equal to the bot's secret, compared in constant time.

    Several headers are refused rather than picking one: which of them a proxy or the app
    would read is not something a check should depend on. Header values arrive as text decoded
    with surrogateescape, so non-ASCII bytes encode back to themselves instead of raising."""
    if len(given) != 1:
        return False
    return hmac.compare_digest(
        expected.encode("utf-8"), given[0].encode("utf-8", errors="surrogateescape")
    )


_PLAIN_JSON = frozenset({"application/json", "application/json; charset=utf-8"})
"""What Telegram sends: taken without parsing the header or looking for codings."""


def _content_refusal(request: web.Request) -> str | None:
    """Why the body's declared type or coding is not one we take, or None."""
    headers = request.headers
    if (
        headers.get(hdrs.CONTENT_TYPE) in _PLAIN_JSON
        and hdrs.CONTENT_ENCODING not in headers
        and hdrs.TRANSFER_ENCODING not in headers
    ):
        return None
    charset = request.charset
    if request.content_type != "application/json" or (
        charset is not None and charset.lower() not in ("utf-8", "utf8")
    ):
        return "Content-Type must be application/json"
    if _codings(request, hdrs.CONTENT_ENCODING) - {"identity"}:
        return "Content-Encoding is not supported: send the body uncompressed"
    if _codings(request, hdrs.TRANSFER_ENCODING) - {"chunked"}:
        return "Transfer-Encoding other than chunked is not supported"
    return None


def _codings(request: web.Request, header: str) -> set[str]:
    return {
        coding.strip().lower()
        for value in request.headers.getall(header, [])
        for coding in value.split(",")
        if coding.strip()
    }


async def _read_body(request: web.Request, limit: int, timeout_s: float) -> bytes | None:
    """The whole body, or None as soon as it grows over `limit` (what was read is dropped;
    the rest is never buffered). TimeoutError when it stops arriving for `timeout_s`.

    An update usually arrives with its headers: that case takes no timer and no await."""
    content = request.content
    body = bytearray(content.read_nowait())
    if len(body) > limit:
        return None
    if content.at_eof():
        return bytes(body)
    async with asyncio.timeout(timeout_s):
        while chunk := await content.readany():
            body.extend(chunk)
            if len(body) > limit:
                return None
    return bytes(body)


async def webhook(request: web.Request) -> web.Response:
    """The DESIGN §3 table, top to bottom. Nothing reaches the queue unless every check passed."""
    app = request.app
    slug = request.match_info["slug"]
    bot = app[BOTS].get(slug)
    if bot is None:
        return _answer(request, UNKNOWN_BOT, 404, "unknown bot")
    if bot.webhook_secret is not None and not _secret_matches(
        bot.webhook_secret, request.headers.getall(SECRET_HEADER, [])
    ):
        return _answer(request, slug, 401, "missing or wrong secret token")
    refusal = _content_refusal(request)
    if refusal is not None:
        return _answer(request, slug, 415, refusal)
    limit = app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return _answer(request, slug, 413, f"body over {limit} bytes")
    try:
        raw = await _read_body(request, limit, app[SETTINGS].body_timeout.total_seconds())
    except TimeoutError:
        answer = _answer(request, slug, 408, "request body not received in time")
        return await _send_and_close(request, answer)
    except (ConnectionError, HttpProcessingError) as exc:
        # The client went away or broke the framing mid-body: there is no whole request to
        # answer, and nothing is stored. Not an error of ours, so no traceback.
        log.info("request body incomplete: %s", type(exc).__name__, extra={"bot": slug})
        return _answer(request, slug, 400, "request body incomplete")
    if raw is None:
        return _answer(request, slug, 413, f"body over {limit} bytes")
    try:
        update = parse_update(raw)
    except BadUpdate as exc:
        return _answer(request, slug, 400, str(exc))
    job = NewJob(
        bot_slug=slug,
        handler_type=bot.handler.type,
        update_id=update.update_id,
        payload=update.text,
        chat_key=chat_key(update.body) if bot.chat_ordering else None,
    )
    try:
        await app[INGEST].submit(job)
    except (DatabaseUnavailable, ServiceStopping) as exc:
        log.warning("update not stored: %s", exc, extra={"bot": slug})
        retry_after = {"Retry-After": str(app[SETTINGS].retry_after_seconds)}
        return _answer(request, slug, 503, "try again later", retry_after)
    except QueueError as exc:
        log.error("update refused by the database: %s", exc, extra={"bot": slug})
        return _answer(request, slug, 500, "could not store the update")
    return _answer(request, slug, 200, "stored")


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    if request.app[STOPPING].is_set():
        return web.Response(status=503, text="stopping\n")
    try:
        await request.app[STORE].ping()
    except QueueError:
        return web.Response(status=503, text="database unreachable\n")
    return web.Response(text="ready\n")


async def metrics_view(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    store = request.app[STORE]
    try:
        async with asyncio.timeout(5):
            stats = await store.stats()
            rounds = await store.last_janitor_rounds()
    except (QueueError, TimeoutError):
        metrics.queue_read(None)
    else:
        metrics.queue_read(stats, rounds)
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})
