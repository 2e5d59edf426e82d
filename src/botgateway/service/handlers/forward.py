"""`forward`: POST the update to the bot's backend.

2xx is done. Timeouts, connection errors, 5xx, 408 and 429 are retried, honouring the backend's
`Retry-After`; any other answer (other 4xx, or a redirect we will not follow with a POST) can
never succeed by retrying, so the job goes straight to dead.

Every request names botgateway in `User-Agent`, carries the bot's static `headers`, and, with
`signing`, the signature headers of `signing.py`."""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import aiohttp

from botgateway import USER_AGENT
from botgateway.contract import ForwardConfig, SecretSource, SecretValue
from botgateway.contract.forward_options import parse_signing_keys
from botgateway.queue import Failed, Job, Outcome, Succeeded

from .base import HandlerContext, JobHandler
from .signing import signature_headers

RETRYABLE = frozenset({408, 429})
BODY_EXCERPT = 300


def create(context: HandlerContext, *, clock: Callable[[], float] = time.time) -> JobHandler:
    spec = context.bot.handler
    if not isinstance(spec, ForwardConfig):
        raise TypeError(f"a forward handler needs a ForwardConfig, got {spec!r}")
    url = spec.url
    timeout = aiohttp.ClientTimeout(total=spec.timeout_seconds)
    session = context.http
    keys = parse_signing_keys(_read(spec.signing.secret)) if spec.signing else ()
    static = {header.name: _read(header.value) for header in spec.headers}

    async def forward(job: Job) -> Outcome:
        body = job.payload.encode("utf-8")
        headers = {
            **static,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Botgateway-Bot": job.bot_slug,
            "X-Botgateway-Update-Id": str(job.update_id),
            **signature_headers(keys, int(clock()), body),
        }
        try:
            async with session.post(
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                if 200 <= response.status < 300:
                    return Succeeded()
                excerpt = (await response.text(errors="replace"))[:BODY_EXCERPT]
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                return classify(response.status, excerpt, retry_after)
        except TimeoutError:
            return Failed(f"backend timed out after {spec.timeout_seconds:g}s")
        except aiohttp.ClientError as exc:
            return Failed(f"backend unreachable: {type(exc).__name__}: {exc}")

    return forward


def _read(secret: SecretValue) -> str:
    """A secret the bots file loader has read (`service/bots.py`)."""
    if not isinstance(secret, SecretSource) or secret.kind != "value":
        raise TypeError("the forward handler needs its secrets read first (load_bots does)")
    return secret.value


def classify(status: int, body: str, retry_after: timedelta | None) -> Failed:
    """A non-2xx answer as a job outcome (pure, so the rules are tested without a network)."""
    error = f"backend answered HTTP {status}" + (f": {body.strip()}" if body.strip() else "")
    if status >= 500 or status in RETRYABLE:
        return Failed(error, retry_after=retry_after)
    return Failed(error, permanent=True)


def parse_retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """`Retry-After` as seconds or as an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delay = when - (now or datetime.now(UTC))
    return max(delay, timedelta(0))
