"""Names, labels and the restricted security settings shared by every child manifest."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botgateway.contract.environment import DATABASE_DIRECT_URL, DATABASE_URL, LOG_FORMAT
from botgateway.queue.environment import Command

from ..env_fields import env_for
from ..spec import BotGatewaySpec

Manifest = dict[str, Any]

MANAGED_BY = "botgateway-operator"
PART_OF = "botgateway"
CHECKSUM_ANNOTATION = "botgateway.dev/checksum"

HTTP_PORT = 8080
CONFIG_DIR = "/etc/botgateway/config"
CONFIG_FILE = "bots.yaml"
SECRETS_DIR = "/etc/botgateway/secrets"
# The image's non-root user; set explicitly so runAsNonRoot holds whatever the image says.
RUN_AS_USER = 10001


@dataclass(frozen=True)
class Names:
    """Every child's name, derived from the BotGateway's (at most 40 characters, see the CRD)."""

    base: str

    @property
    def deployment(self) -> str:
        return self.base

    @property
    def service(self) -> str:
        return self.base

    @property
    def ingress(self) -> str:
        return self.base

    @property
    def pdb(self) -> str:
        return self.base

    @property
    def config_map(self) -> str:
        return f"{self.base}-config"

    @property
    def webhook_secret(self) -> str:
        return f"{self.base}-webhook-secrets"

    @property
    def janitor(self) -> str:
        return f"{self.base}-janitor"


def labels(spec: BotGatewaySpec, component: str | None = None) -> dict[str, str]:
    out = {
        "app.kubernetes.io/name": "botgateway",
        "app.kubernetes.io/instance": spec.name,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if component:
        out["app.kubernetes.io/component"] = component
    return out


def selector(spec: BotGatewaySpec, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "botgateway",
        "app.kubernetes.io/instance": spec.name,
        "app.kubernetes.io/component": component,
    }


def metadata(
    spec: BotGatewaySpec, name: str, component: str | None = None, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "namespace": spec.namespace,
        "labels": labels(spec, component),
    }
    out.update({k: v for k, v in extra.items() if v})
    return out


def pod_security_context() -> dict[str, Any]:
    """The restricted Pod Security Standard, at pod level."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """The restricted Pod Security Standard, at container level, plus a read-only root."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def checksum(parts: Mapping[str, Any]) -> str:
    """A stable digest of config and secret material: a change in either rolls the pods."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def image_fields(spec: BotGatewaySpec, default_image: str) -> dict[str, str]:
    """A container's `image` (the spec's, else the operator's) and its pull policy if set."""
    out = {"image": spec.image or default_image}
    if spec.image_pull_policy:
        out["imagePullPolicy"] = spec.image_pull_policy
    return out


def database_env(spec: BotGatewaySpec) -> dict[str, Any]:
    return {
        "name": DATABASE_URL.name,
        "valueFrom": {"secretKeyRef": {"name": spec.database.name, "key": spec.database.key}},
    }


def direct_database_env(spec: BotGatewaySpec) -> list[dict[str, Any]]:
    """DATABASE_DIRECT_URL for the workers' LISTEN, when the spec names one."""
    ref = spec.direct_database
    if ref is None:
        return []
    return [
        {
            "name": DATABASE_DIRECT_URL.name,
            "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
        }
    ]


def env_var(name: str, value: str | int | float) -> dict[str, str]:
    return {"name": name, "value": str(value)}


def command_env(spec: BotGatewaySpec, command: Command) -> list[dict[str, str]]:
    """What a container running `botgateway <command>` reads of the spec's settings, and JSON
    logs (every command reads LOG_FORMAT)."""
    return env_for(command, {LOG_FORMAT.name: "json", **spec.env})
