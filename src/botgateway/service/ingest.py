"""Durable ingest: validate an update, then group-commit it.

Concurrent webhook requests are coalesced into one `Store.enqueue_many` (one multi-row INSERT);
each request is answered only after the statement holding its row committed."""

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from botgateway.queue import DatabaseUnavailable, Inserter, NewJob, QueueError, Store

from .errors import ServiceStopping

log = logging.getLogger(__name__)

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""PostgreSQL's jsonb refuses NUL characters and lone surrogates in strings."""
NUMERIC_MAX_INTEGER_DIGITS = 131072
NUMERIC_MAX_SCALE = 16383
"""PostgreSQL's numeric (which holds every jsonb number) keeps up to 131072 digits before the
decimal point and 16383 after it; a number outside that is refused by the INSERT."""
NUMERIC_MAX_EXPONENT = (2**31 - 1) // 2
"""numeric's input refuses an exponent beyond INT_MAX / 2 either way, even on zero."""
_NUMBER = re.compile(r"-?(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?")


class BadUpdate(ValueError):
    """The body is not an update we can store; the message says why (answered 400)."""


class Update(NamedTuple):
    """A checked webhook body (a named tuple, as `NewJob` is: one per request)."""

    update_id: int
    body: dict[str, Any]
    text: str
    """The body as received, decoded; stored as jsonb."""


def _refuse_constant(name: str) -> Any:
    raise BadUpdate(f"{name} is not valid JSON")


def _float(token: str) -> float:
    """A JSON number with a fraction or an exponent, refused when jsonb cannot hold it."""
    if not _numeric_fits(token):
        raise BadUpdate("body holds a number PostgreSQL's jsonb cannot hold")
    return float(token)


def _numeric_fits(token: str) -> bool:
    match = _NUMBER.fullmatch(token)
    if match is None:  # the JSON scanner only hands over numbers; be safe anyway
        return False
    whole, fraction, exponent_text = match.group(1), match.group(2) or "", match.group(3)
    exponent = 0
    if exponent_text is not None:
        significant = exponent_text.lstrip("+-").lstrip("0") or "0"
        if len(significant) > 12:
            return False
        exponent = -int(significant) if exponent_text.startswith("-") else int(significant)
        if abs(exponent) > NUMERIC_MAX_EXPONENT:
            return False
    if len(fraction) - exponent > NUMERIC_MAX_SCALE:
        return False
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return True  # zero: its exponent only sets the scale, checked above
    # the power of ten of the leading nonzero digit
    leading = len(whole) - 1 - (len(whole + fraction) - len(digits)) + exponent
    return leading < NUMERIC_MAX_INTEGER_DIGITS


_FAST_DECODER = msgspec.json.Decoder(float_hook=_float)
"""Reads the bodies we accept: 2.1 µs for a text message against 6.4 for the standard
library's decoder (timeit). It accepts no JSON the standard library refuses; where it refuses,
`_DECODER` reads the body again, to say why in its words or to accept what msgspec refuses
outright and the checks below judge (a lone surrogate)."""
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_float)
"""Built once: `json.loads` with these hooks would build a decoder (and its scanner) for every
update, a third of the parse."""


def parse_update(raw: bytes) -> Update:
    """Parse and check a webhook body; raise `BadUpdate` for anything we must not enqueue."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadUpdate("body is not UTF-8") from None
    try:
        body = _FAST_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        body = _decode_or_say_why(text)
    if not isinstance(body, dict):
        raise BadUpdate("body is not a JSON object")
    update_id = body.get("update_id")
    if update_id is None:
        raise BadUpdate("update_id is missing")
    if isinstance(update_id, bool) or not isinstance(update_id, int):
        raise BadUpdate("update_id is not an integer")
    if not BIGINT_MIN <= update_id <= BIGINT_MAX:
        raise BadUpdate("update_id is out of range")
    # NUL and lone surrogates can only arrive as \u escapes: skip the walk when there are none.
    if "\\u" in text and _has_unstorable(body):
        raise BadUpdate("body holds a NUL character or a lone surrogate")
    return Update(update_id, body, text)


def _decode_or_say_why(text: str) -> Any:
    """The standard library's reading of a body msgspec refused: its value, or why not."""
    try:
        return _DECODER.decode(text)
    except BadUpdate:
        raise
    except RecursionError:
        raise BadUpdate("body is not JSON we can read: nested too deeply") from None
    except ValueError as exc:
        # JSONDecodeError says where (never what); an integer over Python's digit limit says so
        raise BadUpdate(f"body is not JSON we can read: {str(exc)[:200]}") from None


def _has_unstorable(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return True
        elif isinstance(item, dict):
            for key, child in item.items():
                if _UNSTORABLE.search(key):
                    return True
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
    return False


_Waiter = tuple[NewJob, "asyncio.Future[bool]"]

EVEN_OUT_FROM = 16
"""Queues shorter than this go into one insert whole: at low load an update never waits a turn."""


def next_batch_size(waiting: int, previous: int, max_batch: int) -> int:
    """How many of the `waiting` updates the next insert takes, after one of `previous` rows.

    With one flush at a time the batches drift into alternating small and large (about 8 and 48
    at 64 connections): while the large one commits the process runs out of requests to parse,
    and idles. Taking only half the step up from the last batch evens them out; the rest goes
    in the next insert, a round trip later. Measured with `python -m tests.bench --only
    service`, mean of the rounds: 16.4k req/s at `wrk -c64` against 14.9k taking the queue whole,
    18.8k against 18.3k at `-c128`, with no change in p99 at 1,000 updates/s (4.0-4.5 ms).
    """
    take = waiting
    if waiting >= EVEN_OUT_FROM and waiting > previous:
        take = (waiting + previous + 1) // 2
    return min(take, max_batch)


class GroupCommitter:
    """Coalesces concurrent `submit`s into multi-row inserts.

    The first request starts a flush at once; requests arriving while a flush runs wait for the
    next one, so the batch grows with the load and an idle gateway adds no delay. One flush at a
    time by default: two overlapping made smaller batches, and each request cost the process 57-58
    µs of CPU instead of 54-56 under `wrk` (best 16,287 against 17,759 req/s, `python -m
    tests.bench --only service`), with no gain in latency (p99 4.5 against 4.0 ms at 1,000
    updates/s). A flush keeps one connection while inserts follow each other (`Store.inserter`):
    parse, group and insert cost 23.8 µs of CPU per update instead of 27.6 through the pool
    (`python -m tests.bench.ingest_path`: 32-row inserts; medians of 12 rounds of each version,
    run in turn).
    """

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 1000,
        max_inflight: int = 1,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._store = store
        self._max_batch = max_batch
        self._max_inflight = max_inflight
        self._on_batch = on_batch
        self._waiting: list[_Waiter] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self._closed = False

    async def submit(self, job: NewJob) -> bool:
        """Returns once the job is committed: True when new, False for a redelivery.
        Raises DatabaseUnavailable / QueueError when the batch could not be stored."""
        if self._closed:
            raise ServiceStopping("the service is shutting down")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, future))
        if len(self._flushers) < self._max_inflight:
            task = asyncio.create_task(self._flush(), name="ingest-flush")
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)  # also when cancelled before it ran
        # No shield needed: a cancelled caller cancels only its future; the job stays in the
        # batch and is committed all the same (the flush skips futures that are done).
        return await future

    @property
    def closed(self) -> bool:
        """True once `close` began: new submissions are refused."""
        return self._closed

    async def close(self) -> None:
        """Refuse new submissions and wait for what was accepted to be committed."""
        self._closed = True
        while self._flushers:
            await asyncio.gather(*list(self._flushers), return_exceptions=True)

    async def _flush(self) -> None:
        try:
            while self._waiting:
                try:
                    async with self._store.inserter() as inserter:
                        await self._insert_waiting(inserter)
                except DatabaseUnavailable as exc:  # no connection to insert with
                    batch, self._waiting = self._waiting, []
                    _fail(batch, exc)
        finally:
            # Leave the set in the same step as the last look at the queue: a request queued
            # after that look must find room to start the next flush.
            self._flushers.discard(asyncio.current_task())

    async def _insert_waiting(self, inserter: Inserter) -> None:
        """Insert what waits, batch after batch, over one connection; returns when nothing
        waits or the connection failed (the next batch then takes a fresh one)."""
        previous = 0
        while self._waiting:
            take = next_batch_size(len(self._waiting), previous, self._max_batch)
            previous = take
            batch = self._waiting[:take]
            del self._waiting[:take]
            try:
                await self._commit(inserter, batch)
            except DatabaseUnavailable as exc:
                _fail(batch, exc)
                return
            except Exception as exc:  # never leave a request waiting on a dead flush
                log.exception("group insert failed unexpectedly")
                _fail(batch, DatabaseUnavailable(f"enqueue: {type(exc).__name__}: {exc}"))
            except BaseException:
                _fail(batch, ServiceStopping("the service is shutting down"))
                raise

    async def _commit(self, inserter: Inserter, batch: list[_Waiter]) -> None:
        unique: dict[tuple[str, int], NewJob] = {}
        for job, _ in batch:
            unique.setdefault((job.bot_slug, job.update_id), job)
        try:
            stored = await inserter.enqueue_many(list(unique.values()))
        except DatabaseUnavailable:
            raise
        except QueueError as exc:
            if len(unique) == 1:
                _fail(batch, exc)
                return
            log.warning(
                "a group insert failed; storing its updates one by one",
                extra={"error": str(exc), "batch": len(unique)},
            )
            await self._one_by_one(inserter, batch)
            return
        if self._on_batch is not None:
            self._on_batch(len(unique))
        claimed: set[tuple[str, int]] = set()
        for job, future in batch:
            key = (job.bot_slug, job.update_id)
            new = key in stored and key not in claimed
            claimed.add(key)
            if not future.done():
                future.set_result(new)

    async def _one_by_one(self, inserter: Inserter, batch: list[_Waiter]) -> None:
        """Isolate a row the database refuses, so it cannot fail its neighbours."""
        for job, future in batch:
            try:
                new = await inserter.enqueue(job)
            except QueueError as exc:
                _refuse(future, exc)
            else:
                if not future.done():
                    future.set_result(new)


def _refuse(future: "asyncio.Future[bool]", exc: Exception) -> None:
    """Fail a request's wait. The exception is marked seen at once, so a request that went
    away leaves no "never retrieved" warning; one still waiting gets it all the same. (A done
    callback per future did this at 0.6 µs per update, failed or not.)"""
    if not future.done():
        future.set_exception(exc)
        future.exception()


def _fail(batch: list[_Waiter], exc: Exception) -> None:
    for _, future in batch:
        _refuse(future, exc)
