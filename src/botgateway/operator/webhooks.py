"""Webhook registration as a pure decision: does what Telegram reports match what we want?

getWebhookInfo never returns the secret token, so the operator also remembers a digest of what
it last registered (in status); a secret change shows up as a digest mismatch.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .spec import BotGatewaySpec


@dataclass(frozen=True)
class DesiredWebhook:
    slug: str
    url: str
    secret_token: str
    allowed_updates: tuple[str, ...] | None
    max_connections: int
    drop_pending_updates: bool

    def digest(self, token: str) -> str:
        """Identifies token + settings + secret without revealing any of them."""
        material = json.dumps(
            [
                token,
                self.url,
                self.secret_token,
                sorted(self.allowed_updates) if self.allowed_updates is not None else None,
                self.max_connections,
            ]
        )
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    def set_webhook_params(self) -> dict[str, Any]:
        """setWebhook's parameters. No allowed_updates means all (Telegram keeps the previous
        list when the field is omitted, so an empty list is sent instead)."""
        return {
            "url": self.url,
            "secret_token": self.secret_token,
            "allowed_updates": list(self.allowed_updates or []),
            "max_connections": self.max_connections,
            "drop_pending_updates": self.drop_pending_updates,
        }


@dataclass(frozen=True)
class WebhookInfo:
    url: str
    pending_update_count: int = 0
    max_connections: int | None = None
    allowed_updates: tuple[str, ...] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None

    @classmethod
    def from_api(cls, result: Mapping[str, Any]) -> "WebhookInfo":
        allowed = result.get("allowed_updates")
        return cls(
            url=str(result.get("url") or ""),
            pending_update_count=int(result.get("pending_update_count") or 0),
            max_connections=(
                int(result["max_connections"]) if result.get("max_connections") else None
            ),
            allowed_updates=tuple(allowed) if isinstance(allowed, list) else None,
            last_error_date=(
                int(result["last_error_date"]) if result.get("last_error_date") else None
            ),
            last_error_message=(
                str(result["last_error_message"]) if result.get("last_error_message") else None
            ),
        )


# Top-level names reserved never to resolve on the Internet (RFC 2606, RFC 6761). A public URL
# there is an example nobody edited: Telegram could never deliver to it, and registering it would
# move a real bot's webhook away from wherever it works now.
PLACEHOLDER_DOMAINS = ("invalid", "example", "localhost")


def placeholder_refusal(spec: BotGatewaySpec) -> str | None:
    """Why the webhooks must not be registered (the public URL's host is a placeholder), or None."""
    base = spec.public_base_url
    host = (urlsplit(base).hostname or "").rstrip(".").lower() if base else ""
    domain = host.rsplit(".", 1)[-1]
    if domain not in PLACEHOLDER_DOMAINS:
        return None
    field = "spec.webhook.publicBaseUrl" if spec.webhook.public_base_url else "spec.ingress.host"
    return (
        f"public URL {base}: {host} is a placeholder (.{domain} never resolves, so Telegram could "
        f"not deliver there); set {field} to your public host name. setWebhook was not called"
    )


def desired_webhook(spec: BotGatewaySpec, slug: str, secret_token: str) -> DesiredWebhook | None:
    """None when the gateway has no public URL (no Ingress host, no webhook.publicBaseUrl)."""
    url = spec.webhook_url(slug)
    if url is None:
        return None
    bot = next(b for b in spec.bots if b.slug == slug)
    return DesiredWebhook(
        slug=slug,
        url=url,
        secret_token=secret_token,
        allowed_updates=bot.allowed_updates,
        max_connections=spec.webhook.max_connections,
        drop_pending_updates=spec.webhook.drop_pending_updates,
    )


def webhook_drift(
    desired: DesiredWebhook, info: WebhookInfo, *, token: str, registered_digest: str | None
) -> list[str]:
    """Why setWebhook is needed (empty: Telegram already has exactly what we want)."""
    reasons: list[str] = []
    if info.url != desired.url:
        reasons.append(f"url is {info.url!r}, want {desired.url!r}")
    if info.max_connections is not None and info.max_connections != desired.max_connections:
        reasons.append(f"max_connections is {info.max_connections}, want {desired.max_connections}")
    if (
        desired.allowed_updates is not None
        and info.allowed_updates is not None
        and sorted(info.allowed_updates) != sorted(desired.allowed_updates)
    ):
        reasons.append(
            f"allowed_updates is {sorted(info.allowed_updates)}, "
            f"want {sorted(desired.allowed_updates)}"
        )
    if registered_digest != desired.digest(token):
        reasons.append("secret token or settings not yet registered by the operator")
    return reasons


def check_period(slug: str, interval: timedelta) -> timedelta:
    """Each bot's own period, within ±25% of `interval` (a stable function of the slug), so the
    checks of many bots drift apart instead of all falling due on the same pass."""
    fraction = int.from_bytes(hashlib.sha256(slug.encode()).digest()[:4], "big") / 2**32
    return interval * (0.75 + 0.5 * fraction)


def staggered_last_check(slug: str, now: datetime, interval: timedelta) -> datetime:
    """A made-up last check for a webhook registered before this operator process started:
    the first checks after a restart fall due over one period instead of all at once (the
    check time is not kept in status, where it would be a write per check)."""
    fraction = int.from_bytes(hashlib.sha256(b"phase:" + slug.encode()).digest()[:4], "big")
    return now - check_period(slug, interval) * (fraction / 2**32)


def check_due(
    slug: str,
    *,
    last_checked: datetime | None,
    registered: bool,
    now: datetime,
    interval: timedelta,
) -> bool:
    """getWebhookInfo now? Always for a webhook not (or not as wanted) registered; otherwise once
    per period, so 1,000 bots at a 10m interval cost under 2 Bot API calls a second."""
    if not registered or last_checked is None:
        return True
    return now >= last_checked + check_period(slug, interval)
