"""The Kubernetes edge: server-side apply of child manifests, Secret reads, deletes.

Built on lightkube's async client (typed, small, server-side apply built in); kopf keeps its own
connection for watching BotGateways. lightkube errors become `KubeError` / `MissingSecret` here.
"""

import base64
import logging
from collections.abc import Mapping
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.core.resource import NamespacedResource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import CronJob
from lightkube.resources.core_v1 import ConfigMap, Secret, Service
from lightkube.resources.networking_v1 import Ingress
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.types import PatchType

from .errors import KubeError, MissingSecret

log = logging.getLogger(__name__)

FIELD_MANAGER = "botgateway-operator"

RESOURCES: dict[tuple[str, str], type[NamespacedResource]] = {
    ("v1", "Secret"): Secret,
    ("v1", "ConfigMap"): ConfigMap,
    ("v1", "Service"): Service,
    ("apps/v1", "Deployment"): Deployment,
    ("policy/v1", "PodDisruptionBudget"): PodDisruptionBudget,
    ("networking.k8s.io/v1", "Ingress"): Ingress,
    ("batch/v1", "CronJob"): CronJob,
}


class RequestCounter(httpx2.AsyncBaseTransport):
    """Counts API requests (for `api_requests_per_reconcile` in the benchmarks)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.count = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.count += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _describe(exc: ApiError) -> str:
    status = exc.status
    code = getattr(status, "code", None)
    message = getattr(status, "message", None) or str(exc)
    return f"HTTP {code}: {message}"


def _code(exc: ApiError) -> int | None:
    return getattr(exc.status, "code", None)


def _resource(api_version: str, kind: str) -> type[NamespacedResource]:
    try:
        return RESOURCES[(api_version, kind)]
    except KeyError:
        raise KubeError(f"the operator does not manage {kind} ({api_version})") from None


class Kube:
    """What the handlers need from the API server, and nothing more."""

    def __init__(self, client: AsyncClient, counter: RequestCounter | None = None) -> None:
        self._client = client
        self.counter = counter

    @classmethod
    def from_env(cls, *, count_requests: bool = False) -> "Kube":
        """In-cluster ServiceAccount, else `$KUBECONFIG`, else `~/.kube/config`."""
        try:
            config = KubeConfig.from_env()
        except Exception as exc:  # lightkube raises several types for a missing/bad config
            raise KubeError(f"no usable Kubernetes configuration: {exc}") from exc
        counter: RequestCounter | None = None
        transport: httpx2.AsyncBaseTransport | None = None
        if count_requests:
            # The client builds its TLS context from the config; a counting transport would need
            # one too, so counting wraps a transport that verifies with the same config.
            counter = RequestCounter(httpx2.AsyncHTTPTransport(verify=_verify(config)))
            transport = counter
        client = AsyncClient(config=config, field_manager=FIELD_MANAGER, transport=transport)
        return cls(client, counter)

    async def close(self) -> None:
        await self._client.close()

    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply as the operator's field manager, taking over conflicting fields."""
        res = _resource(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        try:
            applied = await self._client.patch(
                res,
                meta["name"],
                dict(manifest),
                namespace=meta.get("namespace"),
                patch_type=PatchType.APPLY,
                field_manager=FIELD_MANAGER,
                force=True,
            )
        except ApiError as exc:
            raise KubeError(
                f"applying {manifest['kind']} {meta.get('namespace')}/{meta['name']}: "
                f"{_describe(exc)}"
            ) from None
        return _as_dict(applied)

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete if present; False when it was not there."""
        res = _resource(api_version, kind)
        try:
            await self._client.delete(res, name, namespace=namespace)
        except ApiError as exc:
            if _code(exc) == 404:
                return False
            raise KubeError(f"deleting {kind} {namespace}/{name}: {_describe(exc)}") from None
        return True

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The Secret's data decoded as UTF-8 text; None when it does not exist."""
        try:
            secret = await self._client.get(Secret, name, namespace=namespace)
        except ApiError as exc:
            if _code(exc) == 404:
                return None
            raise KubeError(f"reading Secret {namespace}/{name}: {_describe(exc)}") from None
        data = secret.data or {}
        out = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in data.items()}
        for k, v in (secret.stringData or {}).items():
            out.setdefault(k, v)
        return out


def secret_entry(data: Mapping[str, str] | None, namespace: str, name: str, key: str) -> str:
    """`key` of a Secret's data as `read_secret` returns it; `MissingSecret` says what is absent."""
    if data is None:
        raise MissingSecret(namespace, name)
    if key not in data:
        raise MissingSecret(namespace, name, key)
    return data[key]


def _verify(config: KubeConfig) -> Any:
    """An SSL context built the way lightkube builds its own, for the counting transport."""
    from lightkube.config import client_adapter

    single = config.get()
    if single is None or single.user is None:
        raise KubeError("the Kubernetes configuration has no current context")
    return client_adapter.verify_cluster(single.cluster, single.user, single.abs_file)


def _as_dict(obj: object) -> dict[str, Any]:
    to_dict = getattr(obj, "to_dict", None)
    if to_dict is None:
        return {}
    out: dict[str, Any] = to_dict()
    return out
