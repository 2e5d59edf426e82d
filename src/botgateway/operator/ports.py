"""What the reconcile needs from the outside world, as small protocols.

The real edges (`kube.Kube`, `telegram.BotApi`, `StoreQueue`) satisfy them, and so do the
in-memory fakes in `botgateway.operator.testing`, so a reconcile runs in unit tests without a
cluster, a database or Telegram.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import kopf

from botgateway.queue import ConnectionLimits, JanitorRound, Pooler, QueueStats, Store

from .webhooks import DesiredWebhook, WebhookInfo


class KubeApi(Protocol):
    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]: ...

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool: ...

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None: ...

    async def close(self) -> None: ...


class WebhookApi(Protocol):
    async def get_webhook_info(self, token: str) -> WebhookInfo: ...

    async def set_webhook(self, token: str, desired: DesiredWebhook) -> None: ...

    async def delete_webhook(self, token: str, *, drop_pending_updates: bool = False) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class QueueSnapshot:
    stats: QueueStats
    janitor_rounds: tuple[JanitorRound, ...] = ()
    limits: ConnectionLimits | None = None
    """The server's connection slots, for the connection budget."""


class QueueReader(Protocol):
    async def read(self, dsn: str, pooler: Pooler = "none") -> QueueSnapshot: ...


class Events(Protocol):
    def info(self, body: kopf.Body, *, reason: str, message: str) -> None: ...


class KopfEvents:
    """Kubernetes Events on the BotGateway, through kopf (only inside a running operator)."""

    def info(self, body: kopf.Body, *, reason: str, message: str) -> None:
        kopf.info(body, reason=reason, message=message)


class StoreQueue:
    """Reads queue stats through a short-lived one-connection Store per call (each BotGateway
    may name its own database, and the operator must not hold connections between passes):
    the operator's share of a BotGateway's connection budget is this one connection."""

    def __init__(self, connect_timeout: float) -> None:
        self._timeout = connect_timeout

    async def read(self, dsn: str, pooler: Pooler = "none") -> QueueSnapshot:
        store = await Store.connect(
            dsn, min_size=1, max_size=1, connect_timeout=self._timeout, pooler=pooler
        )
        try:
            return QueueSnapshot(
                await store.stats(),
                tuple(await store.last_janitor_rounds()),
                await store.connection_limits(),
            )
        finally:
            await store.close()
