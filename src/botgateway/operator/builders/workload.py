"""The gateway Deployment (webhook + worker, migrations in an init container), its Service and
its PodDisruptionBudget."""

from typing import Any

from botgateway.contract.environment import BOTGATEWAY_CONFIG

from ..spec import BotGatewaySpec
from .common import (
    CHECKSUM_ANNOTATION,
    CONFIG_DIR,
    CONFIG_FILE,
    HTTP_PORT,
    SECRETS_DIR,
    Manifest,
    Names,
    command_env,
    container_security_context,
    database_env,
    direct_database_env,
    env_var,
    image_fields,
    labels,
    metadata,
    pod_security_context,
    selector,
)
from .config import TOKEN_FILE, WEBHOOK_SECRET_FILE, handler_secret_files

COMPONENT = "gateway"
# How long a terminating gateway pod keeps serving before SIGTERM (within its grace period).
PRE_STOP_SECONDS = 5
SECRET_FILE_MODE = 0o440


def gateway_env(spec: BotGatewaySpec) -> list[dict[str, Any]]:
    return [
        database_env(spec),
        *direct_database_env(spec),
        env_var(BOTGATEWAY_CONFIG.name, f"{CONFIG_DIR}/{CONFIG_FILE}"),
        *command_env(spec, "serve"),
    ]


def secret_projection(spec: BotGatewaySpec) -> list[dict[str, Any]]:
    """One projected source per secret file: `<slug>/token`, `<slug>/webhook-secret`, and
    the handler's (`<slug>/handler/signing.secret`, ...)."""
    generated = Names(spec.name).webhook_secret
    sources: list[dict[str, Any]] = []
    for bot in spec.bots:
        sources.append(
            {
                "secret": {
                    "name": bot.token.name,
                    "items": [{"key": bot.token.key, "path": f"{bot.slug}/{TOKEN_FILE}"}],
                }
            }
        )
        ref_name, ref_key = (
            (bot.webhook_secret.name, bot.webhook_secret.key)
            if bot.webhook_secret
            else (generated, bot.slug)
        )
        sources.append(
            {
                "secret": {
                    "name": ref_name,
                    "items": [{"key": ref_key, "path": f"{bot.slug}/{WEBHOOK_SECRET_FILE}"}],
                }
            }
        )
        sources += [
            {"secret": {"name": ref.name, "items": [{"key": ref.key, "path": path}]}}
            for ref, path in handler_secret_files(bot).values()
        ]
    return sources


def deployment(
    spec: BotGatewaySpec, *, image: str, replicas: int, config_checksum: str
) -> Manifest:
    names = Names(spec.name)
    resources = dict(spec.resources)
    migrate: dict[str, Any] = {
        "name": "migrate",
        **image_fields(spec, image),
        "command": ["botgateway"],
        "args": ["migrate"],
        "env": [database_env(spec), *command_env(spec, "migrate")],
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    gateway: dict[str, Any] = {
        "name": "gateway",
        **image_fields(spec, image),
        "command": ["botgateway"],
        "args": ["serve", "--role", "all", "--host", "0.0.0.0", "--port", str(HTTP_PORT)],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": gateway_env(spec),
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 2,
        },
        # Endpoints leave Services and Ingress controllers a moment after a pod is marked for
        # deletion; serving until then spares Telegram 502s on every rolling update (a kind
        # run saw 5 in 300 posts without it). `exec` rather than the `sleep` action, which
        # Kubernetes 1.29 does not enable.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SECONDS)]}}},
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "bot-secrets", "mountPath": SECRETS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if resources:
        migrate["resources"] = resources
        gateway["resources"] = resources
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(spec, names.deployment, COMPONENT),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector(spec, COMPONENT)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": labels(spec, COMPONENT),
                    "annotations": {CHECKSUM_ANNOTATION: config_checksum},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(),
                    "terminationGracePeriodSeconds": 60,
                    "initContainers": [migrate],
                    "containers": [gateway],
                    "volumes": [
                        {"name": "config", "configMap": {"name": names.config_map}},
                        {
                            "name": "bot-secrets",
                            "projected": {
                                "defaultMode": SECRET_FILE_MODE,
                                "sources": secret_projection(spec),
                            },
                        },
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    }


def service(spec: BotGatewaySpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(spec, Names(spec.name).service, COMPONENT),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(spec, COMPONENT),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def pod_disruption_budget(spec: BotGatewaySpec) -> Manifest:
    """At most one gateway pod down at a time for voluntary disruptions (drains)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(spec, Names(spec.name).pdb, COMPONENT),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(spec, COMPONENT)}},
    }
