"""The Bot API side of a pass: each bot's webhook checked when due (`webhooks.check_due`), set
only where it drifted, removed for bots that left the spec or a deleted BotGateway."""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import kopf

from botgateway.telegram import TelegramError

from . import conditions as cond
from .builders import secret_key
from .conditions import Condition
from .errors import KubeError, MissingSecret
from .kube import secret_entry
from .memory import Memory
from .ports import Events, KubeApi, WebhookApi
from .spec import BotGatewaySpec
from .webhooks import (
    DesiredWebhook,
    check_due,
    desired_webhook,
    staggered_last_check,
    webhook_drift,
)

log = logging.getLogger(__name__)


@dataclass
class WebhookSync:
    entries: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def condition(self) -> Condition:
        if self.failures:
            return Condition.false(
                cond.WEBHOOK_REGISTERED, "TelegramError", "; ".join(self.failures)
            )
        message = f"{len(self.entries)} webhook(s) match the spec"
        if self.changed:
            message += f"; registered now: {', '.join(self.changed)}"
        return Condition.true(cond.WEBHOOK_REGISTERED, "Registered", message)


REGISTRATION_DISABLED = Condition.false(
    cond.WEBHOOK_REGISTERED, "RegistrationDisabled", "spec.webhook.register is false"
)


async def sync_webhooks(
    api: WebhookApi,
    events: Events,
    body: kopf.Body,
    spec: BotGatewaySpec,
    mem: Memory,
    secrets: Mapping[str, str],
    *,
    now: datetime,
    interval: timedelta,
) -> WebhookSync:
    """`secrets`: each bot's webhook secret by slug (given or generated)."""
    await forget_removed_bots(api, events, body, spec, mem)
    result = WebhookSync()
    for bot in spec.bots:
        token = mem.tokens[bot.slug]
        desired = desired_webhook(spec, bot.slug, secrets[bot.slug])
        if desired is None:
            result.failures.append(
                f"bot {bot.slug}: no public URL (set ingress or webhook.publicBaseUrl)"
            )
            continue
        registered = mem.registered.get(bot.slug) == desired.digest(token)
        previous = mem.hooks.get(bot.slug)
        if registered and previous is not None and bot.slug not in mem.checked:
            # Registered by an earlier operator process: resume the pace, spread out.
            mem.checked[bot.slug] = staggered_last_check(bot.slug, now, interval)
        due = check_due(
            bot.slug,
            last_checked=mem.checked.get(bot.slug),
            registered=registered,
            now=now,
            interval=interval,
        )
        if not due and previous is not None:
            result.entries.append(previous)
            continue
        entry = await _check(api, events, body, desired, token, mem, result, now)
        mem.hooks[bot.slug] = entry
        result.entries.append(entry)
    return result


async def _check(
    api: WebhookApi,
    events: Events,
    body: kopf.Body,
    desired: DesiredWebhook,
    token: str,
    mem: Memory,
    result: WebhookSync,
    now: datetime,
) -> dict[str, Any]:
    slug = desired.slug
    entry: dict[str, Any] = {"slug": slug, "url": desired.url}
    try:
        info = await api.get_webhook_info(token)
        reasons = webhook_drift(
            desired, info, token=token, registered_digest=mem.registered.get(slug)
        )
        if reasons:
            await api.set_webhook(token, desired)
            mem.registered[slug] = desired.digest(token)
            result.changed.append(slug)
            events.info(
                body,
                reason="WebhookRegistered",
                message=f"bot {slug}: setWebhook ({'; '.join(reasons)})",
            )
        mem.checked[slug] = now
        entry["registered"] = True
        entry["pendingUpdateCount"] = info.pending_update_count
        if info.last_error_message:
            entry["lastErrorMessage"] = info.last_error_message
            entry["lastErrorDate"] = info.last_error_date
    except TelegramError as exc:
        result.failures.append(f"bot {slug}: {exc}")
        entry["registered"] = False
        entry["error"] = str(exc)
    if slug in mem.registered:
        entry["registeredDigest"] = mem.registered[slug]
    return entry


async def forget_removed_bots(
    api: WebhookApi, events: Events, body: kopf.Body, spec: BotGatewaySpec, mem: Memory
) -> None:
    """A bot removed from the spec: delete its webhook if it still points here (best effort:
    only while the operator remembers the token; Telegram would otherwise get 404s)."""
    current = {b.slug for b in spec.bots}
    for slug in [s for s in mem.registered if s not in current]:
        token = mem.tokens.get(slug)
        if token:
            try:
                info = await api.get_webhook_info(token)
                if info.url and info.url == spec.webhook_url(slug):
                    await api.delete_webhook(token)
                    events.info(body, reason="WebhookDeleted", message=f"bot {slug}: removed")
            except TelegramError as exc:
                log.warning("bot %s was removed but its webhook stays: %s", slug, exc)
                continue
        mem.forget_bot(slug)


async def delete_webhooks(
    kube: KubeApi, api: WebhookApi, spec: BotGatewaySpec, mem: Memory
) -> list[str]:
    """deleteWebhook for each bot whose webhook still points here; the failures."""
    failures: list[str] = []
    for bot in spec.bots:
        try:
            data = await kube.read_secret(spec.namespace, bot.token.name)
            token = secret_entry(data, spec.namespace, bot.token.name, bot.token.key)
        except (MissingSecret, KubeError) as exc:
            token = mem.tokens.get(bot.slug, "")
            if not token:
                log.warning("bot %s: cannot delete its webhook: %s", bot.slug, exc)
                continue
        url = spec.webhook_url(bot.slug)
        try:
            info = await api.get_webhook_info(token)
            if info.url and info.url != url:
                log.info("bot %s: webhook now points elsewhere; left alone", bot.slug)
                continue
            if info.url:
                await api.delete_webhook(token)
                log.info("bot %s: webhook deleted", bot.slug)
        except TelegramError as exc:
            failures.append(f"bot {bot.slug}: {exc}")
    return failures


def webhook_secrets(
    spec: BotGatewaySpec, values: Mapping[str, str], generated: Mapping[str, str]
) -> dict[str, str]:
    """Each bot's webhook secret by slug: its own Secret's, else the generated one."""
    return {
        b.slug: values[secret_key(b.webhook_secret)] if b.webhook_secret else generated[b.slug]
        for b in spec.bots
    }
