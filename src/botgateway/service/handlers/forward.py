"""`forward`: POST the update to the bot's backend.

2xx is done. Timeouts, connection errors, 5xx, 408 and 429 are retried, honouring the backend's
`Retry-After`; any other answer (other 4xx, or a redirect we will not follow with a POST) can
never succeed by retrying, so the job goes straight to dead."""

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import aiohttp

from botgateway.contract import ForwardConfig
from botgateway.queue import Failed, Job, Outcome, Succeeded

from .base import HandlerContext, JobHandler

RETRYABLE = frozenset({408, 429})
BODY_EXCERPT = 300


def create(context: HandlerContext) -> JobHandler:
    spec = context.bot.handler
    if not isinstance(spec, ForwardConfig):
        raise TypeError(f"a forward handler needs a ForwardConfig, got {spec!r}")
    url = spec.url
    timeout = aiohttp.ClientTimeout(total=spec.timeout_seconds)
    session = context.http

    async def forward(job: Job) -> Outcome:
        headers = {
            "Content-Type": "application/json",
            "X-Botgateway-Bot": job.bot_slug,
            "X-Botgateway-Update-Id": str(job.update_id),
        }
        try:
            async with session.post(
                url,
                data=job.payload.encode("utf-8"),
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
