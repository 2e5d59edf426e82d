"""In-memory stand-ins for the operator's edges (`ports`), in the shape of procrastinate's
`InMemoryConnector`: a reconcile runs against them in milliseconds, and a test can reach in to
set the world up (Secrets, a Deployment's availability, Telegram's webhook state, queue stats)
or to break it (an API error, an unreachable Bot API or database)."""

import base64
import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from botgateway.queue import QueueError, QueueStats
from botgateway.telegram import TelegramError

from .errors import KubeError
from .ports import QueueSnapshot
from .webhooks import DesiredWebhook, WebhookInfo

Key = tuple[str, str, str]  # kind, namespace, name


class FakeKube:
    """Objects by (kind, namespace, name). `apply` keeps the stored `status` (the API server
    owns it), so `set_available` survives later applies, as on a real cluster."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.applied: list[Key] = []
        self.deleted: list[Key] = []
        self.fail: dict[str, str] = {}
        """Operation name ("apply", "delete", "read_secret") -> the KubeError message to raise."""

    def add_secret(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        self.objects[("Secret", namespace, name)] = {
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": dict(data),
        }

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))

    def set_available(self, namespace: str, name: str, replicas: int) -> None:
        deployment = self.objects[("Deployment", namespace, name)]
        deployment["status"] = {"availableReplicas": replicas}

    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        self._maybe_fail("apply")
        meta = manifest["metadata"]
        key = (manifest["kind"], meta["namespace"], meta["name"])
        stored = copy.deepcopy(dict(manifest))
        previous = self.objects.get(key)
        if previous is not None and "status" in previous:
            stored["status"] = previous["status"]
        self.objects[key] = stored
        self.applied.append(key)
        return copy.deepcopy(stored)

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        self._maybe_fail("delete")
        self.deleted.append((kind, namespace, name))
        return self.objects.pop((kind, namespace, name), None) is not None

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        self._maybe_fail("read_secret")
        secret = self.objects.get(("Secret", namespace, name))
        if secret is None:
            return None
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        return {**data, **(secret.get("stringData") or {})}

    async def close(self) -> None:
        return None

    def _maybe_fail(self, operation: str) -> None:
        if operation in self.fail:
            raise KubeError(self.fail[operation])


@dataclass
class Call:
    method: str
    token: str
    params: dict[str, Any] = field(default_factory=dict)


class FakeBotApi:
    """Telegram's webhook state per token, and every call made."""

    def __init__(self) -> None:
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.fail: str | None = None

    def count(self, method: str, token: str | None = None) -> int:
        return sum(1 for c in self.calls if c.method == method and token in (None, c.token))

    async def get_webhook_info(self, token: str) -> WebhookInfo:
        self._call("getWebhookInfo", token, {})
        return WebhookInfo.from_api(self.webhooks.get(token, {"url": ""}))

    async def set_webhook(self, token: str, desired: DesiredWebhook) -> None:
        params = desired.set_webhook_params()
        self._call("setWebhook", token, params)
        self.webhooks[token] = {
            "url": params["url"],
            "max_connections": params["max_connections"],
            "allowed_updates": params["allowed_updates"],
        }

    async def delete_webhook(self, token: str, *, drop_pending_updates: bool = False) -> None:
        self._call("deleteWebhook", token, {"drop_pending_updates": drop_pending_updates})
        self.webhooks.pop(token, None)

    async def close(self) -> None:
        return None

    def _call(self, method: str, token: str, params: dict[str, Any]) -> None:
        self.calls.append(Call(method, token, params))
        if self.fail is not None:
            raise TelegramError(method, self.fail)


class FakeQueue:
    """What each database URL holds; `error` is raised instead when set."""

    def __init__(self) -> None:
        self.snapshots: dict[str, QueueSnapshot] = {}
        self.error: QueueError | None = None
        self.reads = 0
        self.poolers: list[str] = []
        """The pooler each read was told stands in front of the database."""

    async def read(self, dsn: str, pooler: str = "none") -> QueueSnapshot:
        self.reads += 1
        self.poolers.append(pooler)
        if self.error is not None:
            raise self.error
        return self.snapshots.get(dsn, QueueSnapshot(QueueStats(())))


@dataclass
class RecordedEvents:
    """Events the reconcile posted, as (reason, message)."""

    posted: list[tuple[str, str]] = field(default_factory=list)

    def info(self, body: kopf.Body, *, reason: str, message: str) -> None:
        self.posted.append((reason, message))

    def reasons(self) -> list[str]:
        return [reason for reason, _ in self.posted]
