"""One pass over a BotGateway: read its Secrets, apply its children, keep its webhooks registered,
observe its queue, and say what happened in status.

Every decision is taken by the pure modules (spec, builders, scaling, webhooks, conditions);
this module does the I/O around them and is driven by the kopf handlers in `handlers.py`.
"""

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf

from botgateway.queue import DatabaseUnavailable, QueueError, SchemaMissing

from . import conditions as cond
from .builders import ChildInputs, Manifest, Names, build_children, referenced_secrets, secret_key
from .conditions import Condition, merge_conditions
from .connection_budget import budget_status, connection_budget, pooler_of
from .errors import KubeError, MissingSecret, SpecError
from .kube import secret_entry
from .memory import Memory
from .ports import Events, KopfEvents, KubeApi, QueueReader, WebhookApi
from .queue_report import QueueReport, not_migrated, queue_report, unreadable
from .scaling import ScalingDecision, decide_replicas
from .settings import OperatorSettings
from .spec import (
    BotGatewaySpec,
    handler_secret_refs,
    parse_spec,
    validate_handler_secret,
    validate_webhook_secret,
)
from .webhook_sync import REGISTRATION_DISABLED, delete_webhooks, sync_webhooks, webhook_secrets
from .webhooks import placeholder_refusal

log = logging.getLogger(__name__)

# Optional children: deleted when the spec stops asking for them.
_OPTIONAL = (
    ("v1", "Secret", "webhook_secret"),
    ("networking.k8s.io/v1", "Ingress", "ingress"),
    ("batch/v1", "CronJob", "janitor"),
)


class Runtime:
    """The operator's shared state: settings, its edges (real or fake), per-object memory."""

    def __init__(
        self,
        settings: OperatorSettings,
        kube: KubeApi,
        bot_api: WebhookApi,
        queue: QueueReader,
        events: Events | None = None,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.bot_api = bot_api
        self.queue = queue
        self.events: Events = events or KopfEvents()
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
            report = await _observe_queue(rt, spec, values[secret_key(spec.database)])
            # Unreadable queue: no numbers rather than stale ones (None deletes the field).
            extra["queue"] = report.fields or None
            updates.append(report.condition)
            extra["connections"], budget = budget_status(connection_budget(spec), report.limits)
            updates.append(budget)
            if report.due is not None:
                # The last janitor round stays true while the database cannot be read.
                extra["janitor"] = report.janitor
                decision = decide_replicas(
                    report.due, spec.scaling, current=mem.replicas, history=mem.history, now=now
                )
                mem.history = decision.history
                replicas = decision.replicas
                extra["scaling"] = _scaling_status(decision)
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
            rt.events.info(
                body,
                reason="Scaled",
                message=f"replicas {mem.replicas} -> {replicas}: "
                f"{extra.get('scaling', {}).get('reason', 'spec changed')}",
            )
        mem.replicas = replicas
        extra["replicas"] = replicas
        updates.append(_available(deployment))

        applied = f"{children} children applied at generation {generation}"
        # Said at once, pod or no pod: the one edit an example needs must not go unnoticed.
        placeholder = placeholder_refusal(spec) if spec.webhook.register else None
        if placeholder:
            updates.append(Condition.false(cond.WEBHOOK_REGISTERED, "PlaceholderHost", placeholder))
        if not _answering(deployment):
            # Telegram would post to an address nobody answers yet (and back off): register
            # once a gateway pod is available, and only then say Ready.
            message = f"{applied}; no gateway pod is available yet, webhooks wait for one"
            if (
                spec.webhook.register
                and not placeholder
                and cond.find(existing, cond.WEBHOOK_REGISTERED) is None
            ):
                updates.append(
                    Condition.unknown(cond.WEBHOOK_REGISTERED, "WaitingForGateway", message)
                )
            updates.append(Condition.false(cond.READY, "GatewayUnavailable", message))
            return outcome(updates, extra, retry="waiting for an available gateway pod")
        if not spec.webhook.register:
            updates.append(REGISTRATION_DISABLED)
            updates.append(Condition.true(cond.READY, "Reconciled", f"{applied}; no webhooks"))
            return outcome(updates, {**extra, "webhooks": []})
        if placeholder:
            message = f"{applied}; {placeholder}"
            updates.append(Condition.false(cond.READY, "WebhookNotRegistered", message))
            return outcome(updates, {**extra, "webhooks": []})

        hooks = await sync_webhooks(
            rt.bot_api,
            rt.events,
            body,
            spec,
            mem,
            webhook_secrets(spec, values, generated),
            now=now,
            interval=timedelta(seconds=rt.settings.webhook_check_seconds),
        )
        updates.append(hooks.condition)
        extra["webhooks"] = hooks.entries
        if hooks.failures:
            failures = "; ".join(hooks.failures)
            message = f"{applied}; webhook registration failed: {failures}"
            updates.append(Condition.false(cond.READY, "WebhookNotRegistered", message))
            return outcome(updates, extra, retry=failures)
        message = f"{applied}; {len(spec.bots)} webhook(s) registered"
        updates.append(Condition.true(cond.READY, "Reconciled", message))
        return outcome(updates, extra)


def _scaling_status(decision: ScalingDecision) -> dict[str, Any]:
    """Only the recommendations that hold a scale-down are kept: the last one is always "now",
    and writing it would change status on every pass."""
    return {
        "recommended": decision.recommended,
        "reason": decision.reason,
        "recommendations": [
            {"time": cond.timestamp(r.at), "replicas": r.replicas}
            for r in decision.history
            if r.replicas > decision.recommended
        ],
    }


def _answering(deployment: Mapping[str, Any]) -> bool:
    """At least one gateway pod is available (ready for minReadySeconds) to answer Telegram."""
    available = (deployment.get("status") or {}).get("availableReplicas") or 0
    return isinstance(available, int) and available > 0


def _remembered_replicas(spec: BotGatewaySpec, mem: Memory) -> int:
    scaling = spec.scaling
    if scaling.replicas is not None:
        return scaling.replicas
    return scaling.clamp(mem.replicas if mem.replicas is not None else scaling.min_replicas)


async def _read_secrets(
    kube: KubeApi, spec: BotGatewaySpec
) -> tuple[dict[str, str], dict[str, str]]:
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
        for field, ref in handler_secret_refs(bot).items():
            validate_handler_secret(bot, field, values[secret_key(ref)])
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
    kube: KubeApi, owner: kopf.Body, spec: BotGatewaySpec, inputs: ChildInputs, mem: Memory
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


async def _observe_queue(rt: Runtime, spec: BotGatewaySpec, dsn: str) -> QueueReport:
    """Queue depth of this gateway's bots; a missing schema is "not migrated yet", not a fault."""
    try:
        snapshot = await rt.queue.read(dsn, pooler_of(spec))
    except DatabaseUnavailable as exc:
        return unreadable("DatabaseUnavailable", str(exc))
    except SchemaMissing as exc:
        return not_migrated(str(exc))
    except QueueError as exc:
        return unreadable("QueryFailed", str(exc))
    return queue_report(snapshot, [b.slug for b in spec.bots], spec.queue_backlog_seconds)


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
        return await delete_webhooks(rt.kube, rt.bot_api, spec, mem)


__all__ = ["Manifest", "Memory", "Runtime", "SyncResult", "finalize", "sync"]
