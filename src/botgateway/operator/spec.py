"""The BotGateway resource as typed, immutable values, parsed once from the custom resource.

The API server validates and defaults the spec (see `crd.py`); the parser applies the same
defaults again so the builders can be exercised with minimal specs in unit tests, and refuses
what the schema cannot express with a `SpecError` that names the field.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botgateway.contract import (
    ContractError,
    HandlerConfig,
    SecretKeyRef,
    parse_handler,
    secret_problem,
    secrets_of,
)
from botgateway.contract.limits import SLUG, SLUG_PATTERN, WEBHOOK_SECRET, WEBHOOK_SECRET_RULE

from .env_fields import parse_env
from .errors import SpecError

GROUP = "botgateway.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "BotGateway"
PLURAL = "botgateways"

DEFAULT_TOKEN_KEY = "token"
DEFAULT_DATABASE_KEY = "DATABASE_URL"
DEFAULT_DIRECT_KEY = "DATABASE_DIRECT_URL"


@dataclass(frozen=True)
class Bot:
    slug: str
    token: SecretKeyRef
    handler: HandlerConfig
    webhook_secret: SecretKeyRef | None = None
    allowed_updates: tuple[str, ...] | None = None
    chat_ordering: bool = False


@dataclass(frozen=True)
class Ingress:
    host: str
    class_name: str | None = None
    tls_secret_name: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Webhook:
    register: bool = True
    max_connections: int = 40
    drop_pending_updates: bool = False
    public_base_url: str | None = None


@dataclass(frozen=True)
class Scaling:
    """Fixed `replicas`, or automatic between `min_replicas` and `max_replicas`."""

    replicas: int | None = 1
    min_replicas: int = 1
    max_replicas: int = 1
    pending_jobs_per_replica: int = 100
    scale_down_stabilization_seconds: int = 300

    @property
    def automatic(self) -> bool:
        return self.replicas is None

    def clamp(self, replicas: int) -> int:
        """`replicas` brought within [min_replicas, max_replicas]."""
        return min(max(replicas, self.min_replicas), self.max_replicas)


@dataclass(frozen=True)
class Janitor:
    """The CronJob's own fields; its retention and stuck timeout are `env` fields."""

    enabled: bool = True
    schedule: str = "*/15 * * * *"
    starting_deadline_seconds: int = 300
    active_deadline_seconds: int = 600
    ttl_seconds_after_finished: int = 3600


@dataclass(frozen=True)
class BotGatewaySpec:
    name: str
    namespace: str
    database: SecretKeyRef
    bots: tuple[Bot, ...]
    direct_database: SecretKeyRef | None = None
    """A URL that bypasses the pooler, for the workers' LISTEN (database.directSecretRef)."""
    image: str | None = None
    image_pull_policy: str | None = None
    ingress: Ingress | None = None
    webhook: Webhook = Webhook()
    env: Mapping[str, str] = field(default_factory=dict)
    """Environment of the gateway's containers from the spec's fields (`env_fields.py`)."""
    scaling: Scaling = Scaling()
    janitor: Janitor = Janitor()
    resources: Mapping[str, Any] = field(default_factory=dict)
    queue_backlog_seconds: int = 300

    @property
    def public_base_url(self) -> str | None:
        """Where Telegram reaches the gateway: the explicit base URL, else the Ingress host."""
        if self.webhook.public_base_url:
            return self.webhook.public_base_url.rstrip("/")
        if self.ingress is not None:
            return f"https://{self.ingress.host}"
        return None

    def webhook_url(self, slug: str) -> str | None:
        base = self.public_base_url
        return f"{base}/webhook/{slug}" if base else None

    @property
    def generated_secret_slugs(self) -> tuple[str, ...]:
        """Bots whose webhook secret the operator generates and keeps in a Secret."""
        return tuple(b.slug for b in self.bots if b.webhook_secret is None)


def parse_spec(name: str, namespace: str, spec: Mapping[str, Any]) -> BotGatewaySpec:
    """Typed spec from the custom resource's `spec`; `SpecError` names the offending field."""
    database = _mapping(spec.get("database"), "spec.database")
    bots_raw = spec.get("bots")
    if not isinstance(bots_raw, list) or not bots_raw:
        raise SpecError("spec.bots: at least one bot is required")
    bots = tuple(_bot(_mapping(b, f"spec.bots[{i}]"), i) for i, b in enumerate(bots_raw))
    slugs = [b.slug for b in bots]
    duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
    if duplicates:
        raise SpecError(f"spec.bots: slugs must be unique (repeated: {', '.join(duplicates)})")
    ingress_raw = spec.get("ingress")
    return BotGatewaySpec(
        name=name,
        namespace=namespace,
        database=_secret_ref(
            _mapping(database.get("secretRef"), "spec.database.secretRef"),
            "spec.database.secretRef",
            DEFAULT_DATABASE_KEY,
        ),
        bots=bots,
        direct_database=(
            _secret_ref(
                _mapping(database["directSecretRef"], "spec.database.directSecretRef"),
                "spec.database.directSecretRef",
                DEFAULT_DIRECT_KEY,
            )
            if database.get("directSecretRef")
            else None
        ),
        image=_opt_str(spec.get("image")),
        image_pull_policy=_opt_str(spec.get("imagePullPolicy")),
        ingress=_ingress(_mapping(ingress_raw, "spec.ingress")) if ingress_raw else None,
        webhook=_webhook(_mapping(spec.get("webhook") or {}, "spec.webhook")),
        env=parse_env(spec),
        scaling=_scaling(_mapping(spec.get("scaling") or {}, "spec.scaling")),
        janitor=_janitor(_mapping(spec.get("janitor") or {}, "spec.janitor")),
        resources=dict(_mapping(spec.get("resources") or {}, "spec.resources")),
        queue_backlog_seconds=_int(
            spec.get("queueBacklogSeconds", BotGatewaySpec.queue_backlog_seconds),
            "queueBacklogSeconds",
        ),
    )


def _bot(raw: Mapping[str, Any], index: int) -> Bot:
    where = f"spec.bots[{index}]"
    slug = raw.get("slug")
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise SpecError(f"{where}.slug: must match {SLUG_PATTERN}, got {slug!r}")
    try:
        handler = parse_handler(raw.get("handler"), form="resource")
    except ContractError as exc:
        raise SpecError(f"{where}.{exc.field}: {exc.problem}") from None
    secret_raw = raw.get("webhookSecretRef")
    allowed = raw.get("allowedUpdates")
    return Bot(
        slug=slug,
        token=_secret_ref(
            _mapping(raw.get("tokenSecretRef"), f"{where}.tokenSecretRef"),
            f"{where}.tokenSecretRef",
            DEFAULT_TOKEN_KEY,
        ),
        handler=handler,
        webhook_secret=(
            _secret_ref(
                _mapping(secret_raw, f"{where}.webhookSecretRef"),
                f"{where}.webhookSecretRef",
                "webhookSecret",
            )
            if secret_raw
            else None
        ),
        allowed_updates=tuple(str(u) for u in allowed) if isinstance(allowed, list) else None,
        chat_ordering=bool(raw.get("chatOrdering", False)),
    )


def _secret_ref(raw: Mapping[str, Any], where: str, default_key: str) -> SecretKeyRef:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}.name: required")
    key = raw.get("key") or default_key
    return SecretKeyRef(name=name, key=str(key))


def _ingress(raw: Mapping[str, Any]) -> Ingress:
    host = raw.get("host")
    if not isinstance(host, str) or not host:
        raise SpecError("spec.ingress.host: required")
    annotations = _mapping(raw.get("annotations") or {}, "spec.ingress.annotations")
    return Ingress(
        host=host,
        class_name=_opt_str(raw.get("className")),
        tls_secret_name=_opt_str(raw.get("tlsSecretName")),
        annotations={str(k): str(v) for k, v in annotations.items()},
    )


def _webhook(raw: Mapping[str, Any]) -> Webhook:
    return Webhook(
        register=bool(raw.get("register", Webhook.register)),
        max_connections=_int(
            raw.get("maxConnections", Webhook.max_connections), "webhook.maxConnections"
        ),
        drop_pending_updates=bool(raw.get("dropPendingUpdates", Webhook.drop_pending_updates)),
        public_base_url=_opt_str(raw.get("publicBaseUrl")),
    )


def _scaling(raw: Mapping[str, Any]) -> Scaling:
    per_replica = _int(
        raw.get("pendingJobsPerReplica", Scaling.pending_jobs_per_replica),
        "scaling.pendingJobsPerReplica",
    )
    window = _int(
        raw.get("scaleDownStabilizationSeconds", Scaling.scale_down_stabilization_seconds),
        "scaling.scaleDownStabilizationSeconds",
    )
    if per_replica < 1:
        raise SpecError("spec.scaling.pendingJobsPerReplica: must be at least 1")
    automatic = "minReplicas" in raw or "maxReplicas" in raw
    if automatic and "replicas" in raw:
        raise SpecError("spec.scaling: set either replicas or minReplicas/maxReplicas, not both")
    fixed: int | None = None
    if automatic:
        lo = _int(raw.get("minReplicas", 1), "scaling.minReplicas")
        hi = _int(raw.get("maxReplicas", lo), "scaling.maxReplicas")
        if lo > hi:
            raise SpecError(f"spec.scaling: minReplicas ({lo}) must be <= maxReplicas ({hi})")
    else:
        fixed = lo = hi = _int(raw.get("replicas", 1), "scaling.replicas")
    return Scaling(
        replicas=fixed,
        min_replicas=lo,
        max_replicas=hi,
        pending_jobs_per_replica=per_replica,
        scale_down_stabilization_seconds=window,
    )


def _janitor(raw: Mapping[str, Any]) -> Janitor:
    return Janitor(
        enabled=bool(raw.get("enabled", Janitor.enabled)),
        schedule=str(raw.get("schedule", Janitor.schedule)),
        starting_deadline_seconds=_int(
            raw.get("startingDeadlineSeconds", Janitor.starting_deadline_seconds),
            "janitor.startingDeadlineSeconds",
        ),
        active_deadline_seconds=_int(
            raw.get("activeDeadlineSeconds", Janitor.active_deadline_seconds),
            "janitor.activeDeadlineSeconds",
        ),
        ttl_seconds_after_finished=_int(
            raw.get("ttlSecondsAfterFinished", Janitor.ttl_seconds_after_finished),
            "janitor.ttlSecondsAfterFinished",
        ),
    )


def validate_webhook_secret(slug: str, secret: str) -> None:
    """Telegram accepts 1-256 characters of A-Z, a-z, 0-9, `_` and `-` as a secret token."""
    if not WEBHOOK_SECRET.match(secret):
        raise SpecError(f"bot {slug}: the webhook secret must be {WEBHOOK_SECRET_RULE}")


def handler_secret_refs(bot: Bot) -> dict[str, SecretKeyRef]:
    """The Secret keys the bot's handler names (a signing key, header values), by field."""
    refs: dict[str, SecretKeyRef] = {}
    for name, ref in secrets_of(bot.handler).items():
        if not isinstance(ref, SecretKeyRef):  # a resource names no files or variables
            raise TypeError(f"{name}: not a Secret reference")
        refs[name] = ref
    return refs


def validate_handler_secret(bot: Bot, field: str, value: str) -> None:
    """A signing key or header value read from its Secret, checked as the gateway will."""
    problem = secret_problem(field, value)
    if problem is not None:
        ref = handler_secret_refs(bot)[field]
        raise SpecError(f"bot {bot.slug}: {field} (Secret {ref.name}, key {ref.key}) {problem}")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"{where}: required (an object)")
    return value


def _opt_str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"spec.{where}: must be a whole number, got {value!r}")
    return value
