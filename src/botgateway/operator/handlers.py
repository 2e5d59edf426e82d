"""kopf handlers: thin and typed. Each one calls `reconcile` and turns its outcome into status
patches and kopf's retry signals. Handlers live in an explicit registry built from settings (the
timer's interval is a setting), so importing this module registers nothing globally."""

import logging
from typing import Any

import kopf

from .kube import Kube
from .ports import StoreQueue
from .reconcile import Runtime, SyncResult, finalize, sync
from .settings import OperatorSettings
from .spec import GROUP, PLURAL, VERSION
from .status import status_changes
from .telegram import BotApi

log = logging.getLogger(__name__)

FINALIZER = f"{GROUP}/finalizer"
ANNOTATION_PREFIX = GROUP
DELETE_RETRIES = 3


def _runtime(memo: kopf.Memo) -> Runtime:
    runtime: Runtime = memo["runtime"]
    return runtime


def _write(patch: kopf.Patch, body: kopf.Body, outcome: SyncResult) -> None:
    for key, value in status_changes(body.get("status") or {}, outcome.status).items():
        patch.status[key] = value


def build_registry(
    settings: OperatorSettings, *, count_requests: bool = False
) -> kopf.OperatorRegistry:
    """Every handler of the operator, registered in a fresh registry."""
    registry = kopf.OperatorRegistry()
    resource = (GROUP, VERSION, PLURAL)
    # The startup handler's `settings` argument is kopf's; ours go by this name in the closures.
    operator_settings = settings

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=ANNOTATION_PREFIX
        )
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
        )
        # Our own events say what changed; kopf's per-handler chatter is not posted.
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 300
        # No cluster-wide list/watch of namespaces and CRDs: the operator serves the namespaces
        # it is given and the CRD present at start, so its RBAC stays namespace-scoped.
        settings.scanning.disabled = True
        # A timer pass in flight when its BotGateway is deleted ends within a second or so;
        # poll for it often rather than kopf's default of once a minute.
        settings.background.cancellation_polling = 1.0
        memo["runtime"] = Runtime(
            operator_settings,
            Kube.from_env(count_requests=count_requests),
            BotApi(operator_settings.telegram_api_base),
            StoreQueue(operator_settings.database_timeout_seconds),
        )

    @kopf.on.cleanup(registry=registry)
    async def close(memo: kopf.Memo, **_: Any) -> None:
        runtime = memo.get("runtime")
        if isinstance(runtime, Runtime):
            counter = getattr(runtime.kube, "counter", None)
            if counter is not None:
                log.info("kubernetes api requests: %d", counter.count)
            await runtime.close()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """In-cluster ServiceAccount first, else $KUBECONFIG (no client library needed)."""
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.probe(id="runtime", registry=registry)
    def probe(memo: kopf.Memo, **_: Any) -> bool:
        return isinstance(memo.get("runtime"), Runtime)

    @kopf.on.resume(*resource, registry=registry)
    @kopf.on.create(*resource, registry=registry)
    @kopf.on.update(*resource, registry=registry)
    async def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
        outcome = await sync(_runtime(memo), body, observe=False)
        _write(patch, body, outcome)
        if outcome.permanent:
            raise kopf.PermanentError(outcome.permanent)
        if outcome.retry:
            raise kopf.TemporaryError(outcome.retry, delay=operator_settings.retry_delay_seconds)

    @kopf.timer(
        *resource,
        interval=settings.interval_seconds,
        initial_delay=settings.interval_seconds,
        registry=registry,
    )
    async def observe(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
        """Queue depth, scaling, webhook drift and Secret changes, every interval."""
        outcome = await sync(_runtime(memo), body, observe=True)
        _write(patch, body, outcome)
        if outcome.retry:
            log.info("%s/%s: %s", body.meta.namespace, body.meta.name, outcome.retry)

    @kopf.on.delete(*resource, registry=registry)
    async def delete(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
        runtime = _runtime(memo)
        failures = await finalize(runtime, body)
        if failures and retry < DELETE_RETRIES:
            raise kopf.TemporaryError(
                "; ".join(failures), delay=operator_settings.retry_delay_seconds
            )
        if failures:
            kopf.warn(
                body,
                reason="WebhookNotDeleted",
                message=f"giving up after {retry + 1} attempts: {'; '.join(failures)}",
            )
        runtime.forget(body.meta.uid or "")

    return registry


__all__ = ["FINALIZER", "build_registry"]
