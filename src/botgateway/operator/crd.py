"""The BotGateway CustomResourceDefinition, from this one source of truth.

`deploy/crd.yaml` and `charts/botgateway/crds/botgateway.dev_botgateways.yaml` are generated from
it (`botgateway operator --print-crd`); a unit test checks that both files agree with it.
Validation the API server can do is done there (OpenAPI + CEL), so a bad resource is refused at
`kubectl apply` time with the messages below.
"""

from typing import Any

import yaml

from botgateway.contract import handler_schema
from botgateway.contract.limits import SLUG_MAX_LENGTH, SLUG_PATTERN
from botgateway.contract.secrets import secret_ref_schema

from . import env_fields
from .spec import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    BotGatewaySpec,
    Janitor,
    Scaling,
    Webhook,
)

MAX_BOTS = 64
MAX_NAME_LENGTH = 40

Schema = dict[str, Any]


def _str(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def _int(description: str, **extra: Any) -> Schema:
    return {"type": "integer", "description": description, **extra}


def _bool(description: str, default: bool) -> Schema:
    return {"type": "boolean", "description": description, "default": default}


def _secret_ref(description: str, default_key: str) -> Schema:
    return secret_ref_schema(description, default_key)


def _bot() -> Schema:
    return {
        "type": "object",
        "description": "One Telegram bot served by this gateway.",
        "required": ["slug", "tokenSecretRef", "handler"],
        "properties": {
            "slug": _str(
                "The bot's path segment: POST /webhook/{slug}. 1-63 of a-z, 0-9 and '-'.",
                maxLength=SLUG_MAX_LENGTH,
                x_validations=[
                    {
                        "rule": f"self.matches('{SLUG_PATTERN}')",
                        "message": "slug must be 1-63 characters of lowercase letters, "
                        "digits and '-'",
                    }
                ],
            ),
            "tokenSecretRef": _secret_ref("The Secret key holding the bot token.", "token"),
            "webhookSecretRef": _secret_ref(
                "The Secret key holding the webhook secret token; generated and stored in the "
                "Secret <name>-webhook-secrets when absent.",
                "webhookSecret",
            ),
            "handler": handler_schema(),
            "allowedUpdates": {
                "type": "array",
                "description": "Update types Telegram sends (setWebhook allowed_updates); "
                "all but chat_member when absent.",
                "maxItems": 32,
                "items": {"type": "string", "maxLength": 64, "description": "An update type."},
            },
            "chatOrdering": _bool(
                "Handle one chat's updates one at a time, in update_id order.", False
            ),
        },
    }


def _spec_schema() -> Schema:
    return {
        "type": "object",
        "description": "The desired gateway.",
        "required": ["database", "bots"],
        "x-kubernetes-validations": [
            {
                "rule": "!has(self.webhook) || !has(self.webhook.register) || "
                "!self.webhook.register || has(self.ingress) || has(self.webhook.publicBaseUrl)",
                "message": "webhook registration needs a public URL: set ingress.host or "
                "webhook.publicBaseUrl (or webhook.register: false)",
            }
        ],
        "properties": {
            "image": _str("The gateway image; default: the operator's own image."),
            "imagePullPolicy": {
                "type": "string",
                "enum": ["Always", "IfNotPresent", "Never"],
                "description": "Pull policy of the gateway and janitor containers.",
            },
            "database": {
                "type": "object",
                "description": "The PostgreSQL database holding the gateway_jobs queue.",
                "required": ["secretRef"],
                "properties": {
                    "secretRef": _secret_ref(
                        "The Secret key holding the PostgreSQL URL.", "DATABASE_URL"
                    ),
                    "directSecretRef": _secret_ref(
                        "Optional: the Secret key holding a PostgreSQL URL that bypasses the "
                        "pooler, for the workers' LISTEN (sets DATABASE_DIRECT_URL; one "
                        "connection per gateway pod). Without it, behind a transaction pooler "
                        "workers poll every second.",
                        "DATABASE_DIRECT_URL",
                    ),
                    **env_fields.properties("database"),
                },
            },
            "bots": {
                "type": "array",
                "description": "The bots this gateway serves, each at /webhook/{slug}.",
                "minItems": 1,
                "maxItems": MAX_BOTS,
                "items": _bot(),
                "x-kubernetes-validations": [
                    {
                        "rule": "self.all(b, self.exists_one(c, c.slug == b.slug))",
                        "message": "bot slugs must be unique",
                    }
                ],
            },
            "ingress": {
                "type": "object",
                "description": "Publishes /webhook/ on this host; the webhook URL is "
                "https://{host}/webhook/{slug}.",
                "required": ["host"],
                "properties": {
                    "host": _str("Public host name.", maxLength=253, minLength=1),
                    "className": _str("IngressClass name.", maxLength=253),
                    "tlsSecretName": _str("Secret with the TLS certificate.", maxLength=253),
                    "annotations": {
                        "type": "object",
                        "additionalProperties": {"type": "string", "description": "A value."},
                        "description": "Extra annotations on the Ingress.",
                    },
                },
            },
            "webhook": {
                "type": "object",
                "description": "Registration of each bot's webhook with Telegram (setWebhook).",
                "default": {},
                "properties": {
                    "register": _bool(
                        "Register each bot's webhook with Telegram.", Webhook.register
                    ),
                    "maxConnections": _int(
                        "setWebhook max_connections.",
                        default=Webhook.max_connections,
                        minimum=1,
                        maximum=100,
                    ),
                    "dropPendingUpdates": _bool(
                        "setWebhook drop_pending_updates (on each registration).",
                        Webhook.drop_pending_updates,
                    ),
                    "publicBaseUrl": _str(
                        "Public base URL when not served by the Ingress, e.g. https://bots.mycompany.com.",
                        maxLength=2048,
                    ),
                },
                "x-kubernetes-validations": [
                    {
                        "rule": "!has(self.publicBaseUrl) || self.publicBaseUrl.startsWith("
                        "'https://') || self.publicBaseUrl.startsWith('http://')",
                        "message": "publicBaseUrl must start with https:// (or http:// for tests)",
                    }
                ],
            },
            "worker": {
                "type": "object",
                "description": "How the gateway pods process jobs.",
                "default": {},
                "properties": env_fields.properties("worker"),
            },
            "scaling": {
                "type": "object",
                "description": "Fixed replicas, or minReplicas/maxReplicas scaled on queue depth.",
                "default": {"replicas": 1},
                "properties": {
                    "replicas": _int("Fixed replica count.", minimum=0, maximum=100),
                    "minReplicas": _int("Lower bound (automatic scaling).", minimum=1, maximum=100),
                    "maxReplicas": _int("Upper bound (automatic scaling).", minimum=1, maximum=100),
                    "pendingJobsPerReplica": _int(
                        "Target due jobs (pending and not waiting out a retry back-off) "
                        "per replica.",
                        default=Scaling.pending_jobs_per_replica,
                        minimum=1,
                    ),
                    "scaleDownStabilizationSeconds": _int(
                        "How long lower recommendations must persist before scaling down.",
                        default=Scaling.scale_down_stabilization_seconds,
                        minimum=0,
                        maximum=86400,
                    ),
                },
                "x-kubernetes-validations": [
                    {
                        "rule": "!(has(self.replicas) && "
                        "(has(self.minReplicas) || has(self.maxReplicas)))",
                        "message": "set either replicas (fixed) or minReplicas/maxReplicas "
                        "(automatic), not both",
                    },
                    {
                        "rule": "has(self.replicas) || has(self.maxReplicas)",
                        "message": "set replicas (fixed) or maxReplicas (automatic scaling)",
                    },
                    {
                        "rule": "!has(self.minReplicas) || !has(self.maxReplicas) "
                        "|| self.minReplicas <= self.maxReplicas",
                        "message": "minReplicas must be less than or equal to maxReplicas",
                    },
                ],
            },
            "janitor": {
                "type": "object",
                "description": "The janitor CronJob: recovers stuck jobs, purges old done jobs.",
                "default": {},
                "properties": {
                    "enabled": _bool("Run the janitor CronJob.", Janitor.enabled),
                    "schedule": _str(
                        "Cron schedule of the janitor CronJob.",
                        default=Janitor.schedule,
                        minLength=9,
                        maxLength=100,
                    ),
                    **env_fields.properties("janitor"),
                    "startingDeadlineSeconds": _int(
                        "Skip a run that could not start within this.",
                        default=Janitor.starting_deadline_seconds,
                        minimum=10,
                    ),
                    "activeDeadlineSeconds": _int(
                        "Kill a run that takes longer.",
                        default=Janitor.active_deadline_seconds,
                        minimum=10,
                    ),
                    "ttlSecondsAfterFinished": _int(
                        "Delete finished janitor Jobs after this.",
                        default=Janitor.ttl_seconds_after_finished,
                        minimum=0,
                    ),
                },
            },
            "resources": {
                "type": "object",
                "description": "Container resources (requests/limits) of the gateway pods.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            **env_fields.properties(),
            "queueBacklogSeconds": _int(
                "QueueHealthy turns False when the oldest pending job is older than this.",
                default=BotGatewaySpec.queue_backlog_seconds,
                minimum=1,
            ),
        },
    }


def _status_schema() -> Schema:
    return {
        "type": "object",
        "description": "What the operator observed; written by the operator only.",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "observedGeneration": _int("The metadata.generation this status describes."),
            "replicas": _int("Gateway replicas the operator set."),
            "conditions": {
                "type": "array",
                "description": "Ready, WebhookRegistered, QueueHealthy, Available and "
                "ConnectionBudget.",
                "items": {
                    "type": "object",
                    "description": "One condition.",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "required": ["type", "status"],
                    "properties": {
                        "type": _str("The condition's name."),
                        "status": _str("True, False or Unknown."),
                        "reason": _str("One CamelCase word saying why."),
                        "message": _str("A readable explanation."),
                        "lastTransitionTime": _str("When status last changed."),
                        "observedGeneration": _int("The generation this condition describes."),
                    },
                },
            },
            "queue": {
                "type": "object",
                "description": "Queue depth of this gateway's bots.",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {
                    "pending": _int("Pending jobs, due or waiting out a retry back-off."),
                    "due": _int("Pending jobs due now: the work that scaling follows."),
                    "running": _int("Running jobs."),
                    "dead": _int("Dead jobs (failed every attempt)."),
                    "oldestPendingSeconds": {
                        "type": "number",
                        "description": "Age of the oldest due pending job.",
                    },
                },
            },
            "janitor": {
                "type": "object",
                "description": "The last janitor round recorded in the gateway's database "
                "(the CronJob's or a gateway's in-process loop; it covers every bot of the "
                "database).",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {
                    "lastRoundTime": _str("When the round finished."),
                    "runner": _str("once (`janitor --once`, the CronJob) or loop (in-process)."),
                    "host": _str("The host (pod) that ran it."),
                    "durationSeconds": {"type": "number", "description": "How long it took."},
                    "recovered": _int("Stuck jobs taken back to pending."),
                    "deadLettered": _int("Stuck jobs with no attempts left, made dead."),
                    "purged": _int("Done jobs past retention deleted."),
                },
            },
            "connections": {
                "type": "object",
                "description": "The most PostgreSQL connections this gateway can open at "
                "maxReplicas (pools, LISTEN, janitor, operator; see the ConnectionBudget "
                "condition for the sum) and what the server allows.",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {
                    "max": _int("Most connections at maxReplicas, during a rollout."),
                    "available": _int(
                        "The server's max_connections less its reserved connections."
                    ),
                    "perPod": _int("Connections of one gateway pod (pool + LISTEN)."),
                    "pods": _int("maxReplicas plus the rollout's surge pod."),
                    "pooler": _str("database.pooler: none, transaction or session."),
                },
            },
            "webhooks": {
                "type": "array",
                "description": "Each bot's webhook: slug, url, registered, Telegram's "
                "pendingUpdateCount, lastErrorMessage and lastErrorDate, or the error of the "
                "last call.",
                "items": {
                    "type": "object",
                    "description": "One bot's webhook as Telegram reports it.",
                    "x-kubernetes-preserve-unknown-fields": True,
                },
            },
        },
    }


def _fix_keys(node: Any) -> Any:
    """`x_validations=` keyword arguments become `x-kubernetes-validations`."""
    if isinstance(node, dict):
        return {
            ("x-kubernetes-validations" if k == "x_validations" else k): _fix_keys(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_fix_keys(v) for v in node]
    return node


def crd() -> dict[str, Any]:
    schema: Schema = {
        "type": "object",
        "description": "A Telegram bot gateway: webhook, durable job queue and workers, which "
        "the operator runs and registers with Telegram.",
        "required": ["spec"],
        "properties": {
            "apiVersion": _str("botgateway.dev/v1alpha1."),
            "kind": _str("BotGateway."),
            # the API server refuses anything but `type` here (metadata is implicit)
            "metadata": {"type": "object"},
            "spec": _spec_schema(),
            "status": _status_schema(),
        },
        "x-kubernetes-validations": [
            {
                "rule": f"self.metadata.name.size() <= {MAX_NAME_LENGTH}",
                "message": f"a BotGateway name may have at most {MAX_NAME_LENGTH} characters "
                "(its children's names add suffixes)",
            }
        ],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {
                "app.kubernetes.io/name": "botgateway",
                "app.kubernetes.io/part-of": "botgateway",
            },
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": "botgateway",
                "shortNames": ["bgw"],
                "categories": ["all"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": "Ready",
                            "type": "string",
                            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                        },
                        {"name": "Replicas", "type": "integer", "jsonPath": ".status.replicas"},
                        {"name": "Pending", "type": "integer", "jsonPath": ".status.queue.pending"},
                        {"name": "Due", "type": "integer", "jsonPath": ".status.queue.due"},
                        {
                            "name": "Reason",
                            "type": "string",
                            "priority": 1,
                            "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {"openAPIV3Schema": _fix_keys(schema)},
                }
            ],
        },
    }


HEADER = (
    "# Generated from src/botgateway/operator/crd.py by `botgateway operator --print-crd`.\n"
    "# Do not edit by hand: change crd.py and regenerate (a unit test checks they agree).\n"
)


def crd_yaml() -> str:
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, allow_unicode=True, width=100)


__all__ = ["API_VERSION", "crd", "crd_yaml"]
