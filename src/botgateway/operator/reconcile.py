"""One pass over a BotGateway: read its Secrets, apply its children, keep its webhooks registered,
observe its queue, and say what happened in status.

Every decision is taken by the pure modules (spec, builders, scaling, webhooks, conditions);
this module does the I/O around them and is driven by the kopf handlers in `handlers.py`.
"""

import asyncio
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from botgateway.queue import DatabaseUnavailable, QueueError, Store
from botgateway.telegram import TelegramError

from . import conditions as cond
from .builders import ChildInputs, Manifest, Names, build_children, referenced_secrets, secret_key
from .conditions import Condition, merge_conditions
from .errors import KubeError, MissingSecret, SpecError
from .kube import Kube, secret_entry
from .scaling import Recommendation, decide_replicas
from .settings import OperatorSettings
from .spec import BotGatewaySpec, parse_spec, validate_webhook_secret
from .telegram import BotApi
from .webhooks import desired_webhook, webhook_drift

log = logging.getLogger(__name__)

# Optional children: deleted when the spec stops asking for them.
_OPTIONAL = (
    ("v1", "Secret", "webhook_secret"),
    ("networking.k8s.io/v1", "Ingress", "ingress"),
    ("batch/v1", "CronJob", "janitor"),
)


@dataclass
class Memory:
    """What the operator remembers about one BotGateway between passes (seeded from status, so
    a restarted operator neither re-registers webhooks nor forgets its scaling window)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    registered: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    history: tuple[Recommendation, ...] = ()
    replicas: int | None = None
    absent: set[str] = field(default_factory=set)
    deleting: bool = False

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> "Memory":
        mem = cls()
        for hook in status.get("webhooks") or ():
            if isinstance(hook, Mapping) and hook.get("registeredDigest"):
                mem.registered[str(hook["slug"])] = str(hook["registeredDigest"])
        scaling = status.get("scaling") or {}
        history: list[Recommendation] = []
        for rec in scaling.get("recommendations") or ():
            try:
                at = datetime.fromisoformat(str(rec["time"]).replace("Z", "+00:00"))
                history.append(Recommendation(at, int(rec["replicas"])))
            except (KeyError, TypeError, ValueError):
                continue
        mem.history = tuple(history)
        if isinstance(status.get("replicas"), int):
            mem.replicas = status["replicas"]
        return mem


class Runtime:
    """The operator's shared state: settings, API clients, per-object memory."""

    def __init__(self, settings: OperatorSettings, kube: Kube, bot_api: BotApi) -> None:
        self.settings = settings
        self.kube = kube
        self.bot_api = bot_api
        self._memories: dict[str, Memory] = {}

    def memory(self, uid: str, status: Mapping[str, Any]) -> Memory:
        if uid not in self._memories:
            self._memories[uid] = Memory.from_status(status)
        return self._memories[uid]

    def forget(self, uid: str) -> None:
        self._memories.pop(uid, None)

    async def close(self) -> None:
        await self.bot_api.close()
        await self.kube.close()


@dataclass
class SyncResult:
    """The status fields to write, and whether (and why) to try again sooner than the timer."""

    status: dict[str, Any]
    retry: str | None = None
    permanent: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


async def sync(
    rt: Runtime, body: kopf.Body, *, observe: bool, now: datetime | None = None
) -> SyncResult:
    """Reconcile one BotGateway. `observe` adds the queue (status.queue, scaling)."""
    now = now or _now()
    meta = body["metadata"]
    name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
    generation = meta.get("generation")
    status: Mapping[str, Any] = body.get("status") or {}
    mem = rt.memory(uid, status)
    existing: Sequence[Mapping[str, Any]] = status.get("conditions") or []

    def outcome(
        updates: Sequence[Condition], extra: Mapping[str, Any] | None = None, **kw: str | None
    ) -> SyncResult:
        fields: dict[str, Any] = {"observedGeneration": generation, **(extra or {})}
        fields["conditions"] = merge_conditions(existing, updates, now=now, generation=generation)
        return SyncResult(fields, **kw)

    async with mem.lock:
        if mem.deleting or meta.get("deletionTimestamp"):
            # Being deleted: the finalizer owns it now; re-registering would undo its work.
            return SyncResult({})
        try:
            spec = parse_spec(name, namespace, body.get("spec") or {})
        except SpecError as exc:
            return outcome(
                [Condition.false(cond.READY, "InvalidSpec", str(exc))], permanent=str(exc)
            )
        try:
            values, generated = await _read_secrets(rt.kube, spec)
        except MissingSecret as exc:
            message = f"{exc}; retrying"
            return outcome([Condition.false(cond.READY, "SecretMissing", message)], retry=message)
        except SpecError as exc:
            message = f"{exc}; fix the Secret, retrying"
            return outcome([Condition.false(cond.READY, "InvalidSecret", message)], retry=message)
        except KubeError as exc:
            return outcome(
                [Condition.false(cond.READY, "KubernetesError", str(exc))], retry=str(exc)
            )
        for bot in spec.bots:
            mem.tokens[bot.slug] = values[secret_key(bot.token)]

        extra: dict[str, Any] = {}
        updates: list[Condition] = []
        replicas = _remembered_replicas(spec, mem)
        if observe:
            queue_fields, queue_condition, pending = await _observe_queue(rt, spec, values)
            # Unreadable queue: no numbers rather than stale ones (None deletes the field).
            extra["queue"] = queue_fields or None
            updates.append(queue_condition)
            if pending is not None:
                decision = decide_replicas(
                    pending, spec.scaling, current=mem.replicas, history=mem.history, now=now
                )
                mem.history = decision.history
                replicas = decision.replicas
                extra["scaling"] = {
                    "recommended": decision.recommended,
                    "reason": decision.reason,
                    "recommendations": [
                        {"time": cond.timestamp(r.at), "replicas": r.replicas}
                        for r in decision.history
                    ],
                }
        elif cond.find(existing, cond.QUEUE_HEALTHY) is None:
            updates.append(
                Condition.unknown(cond.QUEUE_HEALTHY, "NotYetObserved", "queue not read yet")
            )

        inputs = ChildInputs(
            image=rt.settings.default_image,
            replicas=replicas,
            secret_values=values,
            generated_secrets=generated,
        )
        try:
            deployment, children = await _apply_children(rt.kube, body, spec, inputs, mem)
        except KubeError as exc:
            updates.append(Condition.false(cond.READY, "ApplyFailed", str(exc)))
            return outcome(updates, extra, retry=str(exc))
        if mem.replicas is not None and mem.replicas != replicas:
            kopf.info(
                body,
                reason="Scaled",
                message=f"replicas {mem.replicas} -> {replicas}: "
                f"{extra.get('scaling', {}).get('reason', 'spec changed')}",
            )
        mem.replicas = replicas
        extra["replicas"] = replicas
        updates.append(_available(deployment))

        hooks, hook_condition, failures = await _sync_webhooks(
            rt, body, spec, mem, values, generated
        )
        updates.append(hook_condition)
        extra["webhooks"] = hooks
        if failures:
            message = f"{children} children applied; webhook registration failed: {failures}"
            updates.append(Condition.false(cond.READY, "WebhookNotRegistered", message))
            return outcome(updates, extra, retry=failures)
        registered = (
            f"{len(spec.bots)} webhook(s) registered" if spec.webhook.register else "no webhooks"
        )
        updates.append(
            Condition.true(
                cond.READY,
                "Reconciled",
                f"{children} children applied at generation {generation}; {registered}",
            )
        )
        return outcome(updates, extra)


def _remembered_replicas(spec: BotGatewaySpec, mem: Memory) -> int:
    scaling = spec.scaling
    if scaling.replicas is not None:
        return scaling.replicas
    return scaling.clamp(mem.replicas if mem.replicas is not None else scaling.min_replicas)


async def _read_secrets(kube: Kube, spec: BotGatewaySpec) -> tuple[dict[str, str], dict[str, str]]:
    """Every referenced Secret value, and the generated webhook secrets (kept once made)."""
    values: dict[str, str] = {}
    read: dict[str, dict[str, str] | None] = {}  # each Secret once per pass
    for ref in referenced_secrets(spec):
        if ref.name not in read:
            read[ref.name] = await kube.read_secret(spec.namespace, ref.name)
        values[secret_key(ref)] = secret_entry(read[ref.name], spec.namespace, ref.name, ref.key)
    for bot in spec.bots:
        if bot.webhook_secret is not None:
            validate_webhook_secret(bot.slug, values[secret_key(bot.webhook_secret)])
    generated: dict[str, str] = {}
    if spec.generated_secret_slugs:
        stored = await kube.read_secret(spec.namespace, Names(spec.name).webhook_secret) or {}
        for slug in spec.generated_secret_slugs:
            value = stored.get(slug, "")
            try:
                validate_webhook_secret(slug, value)
            except SpecError:
                value = secrets.token_urlsafe(32)
            generated[slug] = value
    return values, generated


async def _apply_children(
    kube: Kube, owner: kopf.Body, spec: BotGatewaySpec, inputs: ChildInputs, mem: Memory
) -> tuple[Mapping[str, Any], int]:
    """Apply every child (owned by the BotGateway); delete optional ones no longer wanted
    (once: `mem.absent` remembers what is known to be gone)."""
    children = build_children(spec, inputs)
    deployment: Mapping[str, Any] = {}
    for child in children:
        kopf.adopt(child, owner=owner)
        applied = await kube.apply(child)
        if child["kind"] == "Deployment":
            deployment = applied
    wanted = {(c["kind"], c["metadata"]["name"]) for c in children}
    names = Names(spec.name)
    for api_version, kind, attr in _OPTIONAL:
        child_name = getattr(names, attr)
        if (kind, child_name) in wanted:
            mem.absent.discard(kind)
        elif kind not in mem.absent:
            await kube.delete(api_version, kind, spec.namespace, child_name)
            mem.absent.add(kind)
    return deployment, len(children)


def _available(deployment: Mapping[str, Any]) -> Condition:
    """Mirror of the Deployment's Available condition (pods ready), separate from Ready."""
    for c in (deployment.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Available":
            return Condition(
                cond.AVAILABLE,
                str(c.get("status", "Unknown")),
                str(c.get("reason") or "Deployment"),
                str(c.get("message") or ""),
            )
    return Condition.unknown(
        cond.AVAILABLE, "NoDeploymentStatus", "the Deployment has not reported availability yet"
    )


async def _observe_queue(
    rt: Runtime, spec: BotGatewaySpec, values: Mapping[str, str]
) -> tuple[dict[str, Any], Condition, int | None]:
    """Queue depth of this gateway's bots; the condition says whether the queue is healthy."""
    dsn = values[secret_key(spec.database)]
    try:
        store = await Store.connect(
            dsn, min_size=1, max_size=1, connect_timeout=rt.settings.database_timeout_seconds
        )
    except DatabaseUnavailable as exc:
        return {}, Condition.false(cond.QUEUE_HEALTHY, "DatabaseUnavailable", str(exc)), None
    except QueueError as exc:
        return {}, Condition.false(cond.QUEUE_HEALTHY, "DatabaseError", str(exc)), None
    try:
        stats = await store.stats()
    except DatabaseUnavailable as exc:
        return {}, Condition.false(cond.QUEUE_HEALTHY, "DatabaseUnavailable", str(exc)), None
    except QueueError as exc:
        message = f"{exc} (has `botgateway migrate` run? the gateway pods run it at start)"
        return {}, Condition.false(cond.QUEUE_HEALTHY, "QueryFailed", message), None
    finally:
        await store.close()
    slugs = [b.slug for b in spec.bots]
    pending = sum(stats.count("pending", s) for s in slugs)
    running = sum(stats.count("running", s) for s in slugs)
    dead = sum(stats.count("dead", s) for s in slugs)
    oldest = max((stats.oldest_pending_seconds(s) for s in slugs), default=0.0)
    fields = {
        "pending": pending,
        "running": running,
        "dead": dead,
        "oldestPendingSeconds": int(oldest),
    }
    summary = f"{pending} pending, {running} running, {dead} dead"
    if oldest > spec.queue_backlog_seconds:
        condition = Condition.false(
            cond.QUEUE_HEALTHY,
            "Backlog",
            f"oldest pending job is {int(oldest)}s old (limit {spec.queue_backlog_seconds}s); "
            + summary,
        )
    else:
        condition = Condition.true(cond.QUEUE_HEALTHY, "Healthy", summary)
    return fields, condition, pending


async def _sync_webhooks(
    rt: Runtime,
    body: kopf.Body,
    spec: BotGatewaySpec,
    mem: Memory,
    values: Mapping[str, str],
    generated: Mapping[str, str],
) -> tuple[list[dict[str, Any]], Condition, str]:
    """getWebhookInfo for each bot; setWebhook only where it drifted."""
    if not spec.webhook.register:
        return (
            [],
            Condition.false(
                cond.WEBHOOK_REGISTERED, "RegistrationDisabled", "spec.webhook.register is false"
            ),
            "",
        )
    await _forget_removed_bots(rt, body, spec, mem)
    entries: list[dict[str, Any]] = []
    failures: list[str] = []
    changed: list[str] = []
    for bot in spec.bots:
        token = values[secret_key(bot.token)]
        secret = (
            values[secret_key(bot.webhook_secret)] if bot.webhook_secret else generated[bot.slug]
        )
        desired = desired_webhook(spec, bot.slug, secret)
        if desired is None:
            failures.append(f"bot {bot.slug}: no public URL (set ingress or webhook.publicBaseUrl)")
            continue
        entry: dict[str, Any] = {"slug": bot.slug, "url": desired.url}
        try:
            info = await rt.bot_api.get_webhook_info(token)
            reasons = webhook_drift(
                desired, info, token=token, registered_digest=mem.registered.get(bot.slug)
            )
            if reasons:
                await rt.bot_api.set_webhook(token, desired)
                mem.registered[bot.slug] = desired.digest(token)
                changed.append(bot.slug)
                kopf.info(
                    body,
                    reason="WebhookRegistered",
                    message=f"bot {bot.slug}: setWebhook ({'; '.join(reasons)})",
                )
            entry["registered"] = True
            entry["pendingUpdateCount"] = info.pending_update_count
            if info.last_error_message:
                entry["lastErrorMessage"] = info.last_error_message
                entry["lastErrorDate"] = info.last_error_date
        except TelegramError as exc:
            failures.append(f"bot {bot.slug}: {exc}")
            entry["registered"] = False
            entry["error"] = str(exc)
        if bot.slug in mem.registered:
            entry["registeredDigest"] = mem.registered[bot.slug]
        entries.append(entry)
    if failures:
        return (
            entries,
            Condition.false(cond.WEBHOOK_REGISTERED, "TelegramError", "; ".join(failures)),
            "; ".join(failures),
        )
    message = f"{len(entries)} webhook(s) match the spec"
    if changed:
        message += f"; registered now: {', '.join(changed)}"
    return entries, Condition.true(cond.WEBHOOK_REGISTERED, "Registered", message), ""


async def _forget_removed_bots(
    rt: Runtime, body: kopf.Body, spec: BotGatewaySpec, mem: Memory
) -> None:
    """A bot removed from the spec: delete its webhook if it still points here (best effort:
    only while the operator remembers the token; Telegram would otherwise get 404s)."""
    current = {b.slug for b in spec.bots}
    for slug in [s for s in mem.registered if s not in current]:
        token = mem.tokens.get(slug)
        if token:
            try:
                info = await rt.bot_api.get_webhook_info(token)
                if info.url and info.url == spec.webhook_url(slug):
                    await rt.bot_api.delete_webhook(token)
                    kopf.info(body, reason="WebhookDeleted", message=f"bot {slug}: removed")
            except TelegramError as exc:
                log.warning("bot %s was removed but its webhook stays: %s", slug, exc)
                continue
        mem.registered.pop(slug, None)
        mem.tokens.pop(slug, None)


async def finalize(rt: Runtime, body: kopf.Body) -> list[str]:
    """deleteWebhook for each bot whose webhook still points at this gateway.

    Returns the failures (empty when done). A bot whose token Secret is gone is skipped with a
    warning unless the operator still remembers its token.
    """
    meta = body["metadata"]
    mem = rt.memory(meta["uid"], body.get("status") or {})
    async with mem.lock:  # waits for a timer pass in flight, which then stops for good
        mem.deleting = True
        try:
            spec = parse_spec(meta["name"], meta["namespace"], body.get("spec") or {})
        except SpecError:
            return []
        if not spec.webhook.register:
            return []
        return await _delete_webhooks(rt, spec, mem)


async def _delete_webhooks(rt: Runtime, spec: BotGatewaySpec, mem: Memory) -> list[str]:
    failures: list[str] = []
    for bot in spec.bots:
        try:
            token = await rt.kube.secret_value(spec.namespace, bot.token.name, bot.token.key)
        except (MissingSecret, KubeError) as exc:
            token = mem.tokens.get(bot.slug, "")
            if not token:
                log.warning("bot %s: cannot delete its webhook: %s", bot.slug, exc)
                continue
        url = spec.webhook_url(bot.slug)
        try:
            info = await rt.bot_api.get_webhook_info(token)
            if info.url and info.url != url:
                log.info("bot %s: webhook now points elsewhere; left alone", bot.slug)
                continue
            if info.url:
                await rt.bot_api.delete_webhook(token)
                log.info("bot %s: webhook deleted", bot.slug)
        except TelegramError as exc:
            failures.append(f"bot {bot.slug}: {exc}")
    return failures


__all__ = ["Manifest", "Memory", "Runtime", "SyncResult", "finalize", "sync"]
