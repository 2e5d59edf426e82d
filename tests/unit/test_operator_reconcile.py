"""The reconcile against in-memory fakes (`botgateway.operator.testing`): each condition reason
the docs list (docs/kubernetes/botgateway.md), each scaling path, each child, in milliseconds.
tests/cluster proves the same against a real API server."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kopf
import pytest

from botgateway.operator import conditions as cond
from botgateway.operator.ports import QueueSnapshot
from botgateway.operator.reconcile import Runtime, SyncResult, finalize, sync
from botgateway.operator.settings import OperatorSettings
from botgateway.operator.status import status_changes
from botgateway.operator.testing import FakeBotApi, FakeKube, FakeQueue, RecordedEvents
from botgateway.queue import (
    ConnectionLimits,
    DatabaseUnavailable,
    JanitorRound,
    QueueError,
    QueueStats,
    SchemaMissing,
    StatusCount,
)

pytestmark = pytest.mark.unit

NS = "bots"
NAME = "support"
DSN = "postgresql://gw@db/gw"
TOKEN = "123:TOKEN"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
URL = "https://bots.example.com/webhook/support"


def spec(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "database": {"secretRef": {"name": "gateway-db", "key": "DATABASE_URL"}},
        "bots": [
            {
                "slug": "support",
                "tokenSecretRef": {"name": "support-bot", "key": "token"},
                "handler": {"type": "forward", "url": "http://backend:8000/updates"},
            }
        ],
        "ingress": {"host": "bots.example.com"},
    }
    body.update(overrides)
    return body


@dataclass
class World:
    """A BotGateway with its Secrets in place, and the fakes a pass runs against."""

    kube: FakeKube = field(default_factory=FakeKube)
    api: FakeBotApi = field(default_factory=FakeBotApi)
    queue: FakeQueue = field(default_factory=FakeQueue)
    events: RecordedEvents = field(default_factory=RecordedEvents)
    spec: dict[str, Any] = field(default_factory=spec)
    status: dict[str, Any] = field(default_factory=dict)
    generation: int = 1
    now: datetime = T0
    runtime: Runtime | None = None

    def __post_init__(self) -> None:
        self.kube.add_secret(NS, "gateway-db", {"DATABASE_URL": DSN})
        self.kube.add_secret(NS, "support-bot", {"token": TOKEN})
        settings = OperatorSettings(webhook_check_seconds=600)
        self.runtime = Runtime(settings, self.kube, self.api, self.queue, self.events)

    def body(self) -> kopf.Body:
        return kopf.Body(
            {
                "apiVersion": "botgateway.dev/v1alpha1",
                "kind": "BotGateway",
                "metadata": {
                    "name": NAME,
                    "namespace": NS,
                    "uid": "uid-1",
                    "generation": self.generation,
                },
                "spec": self.spec,
                "status": self.status,
            }
        )

    async def sync(self, *, observe: bool = True, later: float = 0) -> SyncResult:
        """One pass `later` seconds after the previous one; its status is written back (only
        what changed, as the handlers do)."""
        self.now += timedelta(seconds=later)
        assert self.runtime is not None
        result = await sync(self.runtime, self.body(), observe=observe, now=self.now)
        self.last_changes = status_changes(self.status, result.status)
        for key, value in self.last_changes.items():
            if value is None:
                self.status.pop(key, None)
            else:
                self.status[key] = value
        return result

    def available(self, replicas: int = 1) -> None:
        self.kube.set_available(NS, NAME, replicas)

    def condition(self, type_: str) -> Mapping[str, Any]:
        return next(c for c in self.status["conditions"] if c["type"] == type_)

    def reason(self, type_: str) -> tuple[str, str]:
        c = self.condition(type_)
        return c["status"], c["reason"]

    def pending(self, *, due: int, waiting: int = 0, oldest: float = 1.0) -> None:
        row = StatusCount("support", "pending", due + waiting, oldest if due else None, due)
        self.queue.snapshots[DSN] = QueueSnapshot(QueueStats((row,)))


async def ready_world(**spec_overrides: Any) -> World:
    world = World(spec=spec(**spec_overrides))
    await world.sync()
    world.available()
    await world.sync()
    return world


# -- Ready ------------------------------------------------------------------------------------


async def test_a_reconciled_gateway_is_ready_with_every_child() -> None:
    world = await ready_world()
    assert world.reason("Ready") == ("True", "Reconciled")
    kinds = {kind for kind, _, _ in world.kube.objects}
    assert kinds >= {
        "Secret",
        "ConfigMap",
        "Deployment",
        "Service",
        "Ingress",
        "CronJob",
        "PodDisruptionBudget",
    }
    deployment = world.kube.get("Deployment", NS, NAME)
    assert deployment is not None
    (owner,) = deployment["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("BotGateway", NAME, "uid-1")
    assert world.status["observedGeneration"] == 1


async def test_invalid_spec_is_permanent() -> None:
    world = World(spec=spec(bots=[]))
    result = await world.sync()
    assert world.reason("Ready") == ("False", "InvalidSpec")
    assert result.permanent


async def test_missing_secret_is_retried() -> None:
    world = World()
    del world.kube.objects[("Secret", NS, "support-bot")]
    result = await world.sync()
    assert world.reason("Ready") == ("False", "SecretMissing")
    assert result.retry
    assert not world.kube.applied


async def test_an_unusable_webhook_secret_is_invalid_secret() -> None:
    bots = spec()["bots"]
    bots[0]["webhookSecretRef"] = {"name": "support-bot", "key": "webhookSecret"}
    world = World(spec=spec(bots=bots))
    world.kube.add_secret(NS, "support-bot", {"token": TOKEN, "webhookSecret": "no spaces!"})
    await world.sync()
    assert world.reason("Ready") == ("False", "InvalidSecret")


async def test_an_api_error_reading_secrets_is_kubernetes_error() -> None:
    world = World()
    world.kube.fail["read_secret"] = "HTTP 500: etcd is sad"
    result = await world.sync()
    assert world.reason("Ready") == ("False", "KubernetesError")
    assert result.retry


async def test_an_apply_error_is_apply_failed() -> None:
    world = World()
    world.kube.fail["apply"] = "HTTP 422: nope"
    result = await world.sync()
    assert world.reason("Ready") == ("False", "ApplyFailed")
    assert result.retry


# -- waiting for the gateway (Ready and setWebhook only once a pod can answer) -----------------


async def test_no_webhook_and_no_ready_before_a_gateway_pod_is_available() -> None:
    world = World()
    result = await world.sync()
    assert world.reason("Ready") == ("False", "GatewayUnavailable")
    assert world.reason("WebhookRegistered") == ("Unknown", "WaitingForGateway")
    assert world.reason("Available") == ("Unknown", "NoDeploymentStatus")
    assert result.retry
    assert world.api.calls == []

    world.available()
    await world.sync(later=5)
    assert world.reason("Ready") == ("True", "Reconciled")
    assert world.reason("WebhookRegistered") == ("True", "Registered")
    assert world.api.count("setWebhook") == 1
    assert world.api.webhooks[TOKEN]["url"] == URL


async def test_available_mirrors_the_deployment_condition() -> None:
    world = await ready_world()
    deployment = world.kube.get("Deployment", NS, NAME)
    assert deployment is not None
    deployment["status"] = {
        "availableReplicas": 1,
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicas"}],
    }
    await world.sync(later=30)
    assert world.reason("Available") == ("True", "MinimumReplicas")


async def test_losing_every_pod_turns_ready_false_but_keeps_the_webhook() -> None:
    world = await ready_world()
    world.available(0)
    await world.sync(later=30)
    assert world.reason("Ready") == ("False", "GatewayUnavailable")
    assert world.reason("WebhookRegistered") == ("True", "Registered")
    assert world.api.count("deleteWebhook") == 0


# -- WebhookRegistered -------------------------------------------------------------------------


async def test_registration_disabled() -> None:
    world = await ready_world(webhook={"register": False})
    assert world.reason("WebhookRegistered") == ("False", "RegistrationDisabled")
    assert world.reason("Ready") == ("True", "Reconciled")
    assert world.api.calls == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ingress": {"host": "bots.replace-me.invalid"}}, "spec.ingress.host"),
        ({"webhook": {"publicBaseUrl": "https://gw.example/"}}, "spec.webhook.publicBaseUrl"),
        ({"ingress": {"host": "localhost"}}, "spec.ingress.host"),
    ],
)
async def test_a_placeholder_host_is_never_registered(
    overrides: dict[str, Any], field: str
) -> None:
    """The examples' host: a real token pasted next to it must not move that bot's webhook."""
    world = World(spec=spec(**overrides))
    await world.sync()
    assert world.reason("WebhookRegistered") == ("False", "PlaceholderHost")
    assert world.reason("Ready") == ("False", "GatewayUnavailable")
    world.available()
    result = await world.sync(later=5)
    assert world.reason("WebhookRegistered") == ("False", "PlaceholderHost")
    assert world.reason("Ready") == ("False", "WebhookNotRegistered")
    message = world.condition("WebhookRegistered")["message"]
    assert f"set {field} to your public host name" in message
    assert "setWebhook was not called" in world.condition("Ready")["message"]
    assert world.api.calls == []
    assert world.kube.get("Deployment", NS, NAME) is not None  # the gateway runs anyway
    assert not result.retry  # nothing to retry until the spec changes

    world.spec = spec(ingress={"host": "bots.example.com"})
    world.generation += 1
    await world.sync(later=5)
    assert world.reason("Ready") == ("True", "Reconciled")
    assert world.api.webhooks[TOKEN]["url"] == URL


async def test_a_telegram_error_is_webhook_not_registered() -> None:
    world = World()
    await world.sync()
    world.available()
    world.api.fail = "Unauthorized"
    result = await world.sync(later=5)
    assert world.reason("WebhookRegistered") == ("False", "TelegramError")
    assert world.reason("Ready") == ("False", "WebhookNotRegistered")
    assert result.retry
    assert world.status["webhooks"][0]["registered"] is False

    world.api.fail = None
    await world.sync(later=5)
    assert world.reason("Ready") == ("True", "Reconciled")


async def test_webhook_checks_are_paced_per_bot_and_set_only_on_drift() -> None:
    world = await ready_world()
    assert world.api.count("getWebhookInfo") == 1
    for _ in range(10):  # 5 minutes of 30s passes: within the bot's period (>= 7.5 minutes)
        await world.sync(later=30)
    assert world.api.count("getWebhookInfo") == 1
    assert world.api.count("setWebhook") == 1

    await world.sync(later=600)  # past any period within ±25% of 10 minutes
    assert world.api.count("getWebhookInfo") == 2
    assert world.api.count("setWebhook") == 1  # nothing drifted

    world.api.webhooks[TOKEN]["url"] = "https://elsewhere.example/hook"
    await world.sync(later=800)
    assert world.api.count("setWebhook") == 2
    assert world.api.webhooks[TOKEN]["url"] == URL
    assert "WebhookRegistered" in world.events.reasons()


async def test_a_spec_change_registers_at_once() -> None:
    world = await ready_world()
    world.spec["webhook"] = {"maxConnections": 7}
    world.generation = 2
    await world.sync(later=30)
    assert world.api.count("setWebhook") == 2
    assert world.api.webhooks[TOKEN]["max_connections"] == 7


async def test_a_restarted_operator_neither_re_registers_nor_checks_at_once() -> None:
    world = await ready_world()
    settings = OperatorSettings(webhook_check_seconds=600)
    world.runtime = Runtime(settings, world.kube, world.api, world.queue, world.events)
    await world.sync(later=30)
    assert world.api.count("getWebhookInfo") == 1  # its first check comes within one period
    for _ in range(25):  # 12.5 minutes: past the longest period (±25% of 10 minutes)
        await world.sync(later=30)
    assert world.api.count("getWebhookInfo") == 2
    assert world.api.count("setWebhook") == 1


async def test_a_removed_bot_has_its_webhook_deleted() -> None:
    bots = spec()["bots"]
    bots.append({**bots[0], "slug": "other", "tokenSecretRef": {"name": "other-bot"}})
    world = World(spec=spec(bots=bots))
    world.kube.add_secret(NS, "other-bot", {"token": "456:OTHER"})
    await world.sync()
    world.available()
    await world.sync(later=5)
    assert "456:OTHER" in world.api.webhooks
    world.spec["bots"] = bots[:1]
    await world.sync(later=5)
    assert "456:OTHER" not in world.api.webhooks
    assert "WebhookDeleted" in world.events.reasons()


async def test_finalize_deletes_webhooks_that_point_here() -> None:
    world = await ready_world()
    assert world.runtime is not None
    assert await finalize(world.runtime, world.body()) == []
    assert TOKEN not in world.api.webhooks
    assert await sync(world.runtime, world.body(), observe=True) == SyncResult({})


# -- QueueHealthy ------------------------------------------------------------------------------


async def test_queue_not_yet_observed_on_create() -> None:
    world = World()
    await world.sync(observe=False)
    assert world.reason("QueueHealthy") == ("Unknown", "NotYetObserved")
    assert world.queue.reads == 0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (DatabaseUnavailable("connecting: refused"), ("False", "DatabaseUnavailable")),
        (SchemaMissing('relation "gateway_jobs" does not exist'), ("Unknown", "NotMigrated")),
        (QueueError("stats: permission denied"), ("False", "QueryFailed")),
    ],
)
async def test_queue_read_failures(error: QueueError, expected: tuple[str, str]) -> None:
    world = World()
    world.queue.error = error
    await world.sync()
    assert world.reason("QueueHealthy") == expected
    assert "queue" not in world.status
    assert world.status["replicas"] == 1


async def test_healthy_and_backlog() -> None:
    world = World()
    world.pending(due=3, waiting=2, oldest=10)
    await world.sync()
    assert world.reason("QueueHealthy") == ("True", "Healthy")
    assert world.status["queue"] == {
        "pending": 5,
        "due": 3,
        "running": 0,
        "dead": 0,
        "oldestPendingSeconds": 10,
    }
    world.pending(due=3, oldest=301)
    await world.sync(later=30)
    assert world.reason("QueueHealthy") == ("False", "Backlog")


async def test_the_last_janitor_round_is_in_status_and_changes_it_only_when_new() -> None:
    world = World()
    await world.sync()
    assert "janitor" not in world.status
    round_ = JanitorRound("once", "support-janitor-1", T0, 0.8, 1, 0, 12)
    world.queue.snapshots[DSN] = QueueSnapshot(QueueStats(()), (round_,))
    await world.sync(later=30)
    assert world.status["janitor"]["runner"] == "once"
    assert world.status["janitor"]["purged"] == 12
    await world.sync(later=30)
    assert "janitor" not in world.last_changes
    world.queue.error = DatabaseUnavailable("connecting: refused")
    await world.sync(later=30)
    assert world.status["janitor"]["purged"] == 12  # what happened stays known


# -- scaling -----------------------------------------------------------------------------------

AUTO = {"minReplicas": 1, "maxReplicas": 10, "pendingJobsPerReplica": 100}


def replicas(world: World) -> int:
    deployment = world.kube.get("Deployment", NS, NAME)
    assert deployment is not None
    value: int = deployment["spec"]["replicas"]
    return value


async def test_jobs_waiting_out_a_backoff_do_not_scale() -> None:
    world = World(spec=spec(scaling=AUTO))
    world.pending(due=0, waiting=251)
    await world.sync()
    assert replicas(world) == 1
    assert world.status["queue"]["pending"] == 251
    assert world.status["queue"]["due"] == 0
    assert "0 due jobs" in world.status["scaling"]["reason"]


async def test_due_jobs_scale_up_at_once_and_down_after_the_window() -> None:
    world = World(spec=spec(scaling={**AUTO, "scaleDownStabilizationSeconds": 300}))
    world.pending(due=450)
    await world.sync()
    assert replicas(world) == 5
    assert "Scaled" not in world.events.reasons()  # the first pass sets, it does not scale

    world.pending(due=0)
    await world.sync(later=60)
    assert replicas(world) == 5
    assert "holding 5" in world.status["scaling"]["reason"]
    await world.sync(later=250)
    assert replicas(world) == 1
    assert "Scaled" in world.events.reasons()


async def test_fixed_replicas_ignore_the_queue() -> None:
    world = World(spec=spec(scaling={"replicas": 3}))
    world.pending(due=10_000)
    await world.sync()
    assert replicas(world) == 3
    assert world.status["scaling"]["reason"] == "fixed replicas"


async def test_a_restarted_operator_keeps_the_scale_down_window_from_status() -> None:
    world = World(spec=spec(scaling={**AUTO, "scaleDownStabilizationSeconds": 300}))
    world.pending(due=450)
    await world.sync()
    world.pending(due=0)
    await world.sync(later=60)
    world.runtime = Runtime(OperatorSettings(), world.kube, world.api, world.queue, world.events)
    await world.sync(later=60)
    assert replicas(world) == 5
    await world.sync(later=200)
    assert replicas(world) == 1


# -- status is written only when it changed ----------------------------------------------------


async def test_an_unchanged_pass_writes_no_status() -> None:
    world = await ready_world(scaling=AUTO)
    world.pending(due=20, waiting=5)
    await world.sync(later=30)
    assert world.last_changes
    for _ in range(3):
        await world.sync(later=30)
        assert world.last_changes == {}


def test_status_changes_lists_only_what_differs() -> None:
    current = {"replicas": 2, "queue": {"pending": 1}, "webhooks": []}
    desired = {"replicas": 2, "queue": None, "webhooks": [], "observedGeneration": 3}
    assert status_changes(current, desired) == {"queue": None, "observedGeneration": 3}
    assert status_changes({}, {"queue": None}) == {}


# -- children ----------------------------------------------------------------------------------


async def test_optional_children_go_when_the_spec_stops_asking_and_only_once() -> None:
    world = World()
    await world.sync()
    assert world.kube.get("Secret", NS, "support-webhook-secrets") is not None
    bots = spec()["bots"]
    bots[0]["webhookSecretRef"] = {"name": "support-bot", "key": "webhookSecret"}
    world.kube.add_secret(NS, "support-bot", {"token": TOKEN, "webhookSecret": "given_1"})
    world.spec = spec(
        bots=bots,
        ingress=None,
        webhook={"register": False},
        janitor={"enabled": False},
    )
    world.generation = 2
    await world.sync(later=5)
    gone = {
        ("Secret", "support-webhook-secrets"),
        ("Ingress", NAME),
        ("CronJob", "support-janitor"),
    }
    assert {(kind, name) for kind, _, name in world.kube.deleted} == gone
    for kind, name in gone:
        assert world.kube.get(kind, NS, name) is None
    await world.sync(later=5)
    assert len(world.kube.deleted) == 3  # known to be gone: not deleted again every pass


async def test_every_child_is_owned_by_the_botgateway() -> None:
    world = await ready_world()
    for (_, _, name), obj in world.kube.objects.items():
        if name in {"gateway-db", "support-bot"}:
            continue  # the user's own Secrets
        (owner,) = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("BotGateway", "uid-1", True)


def test_each_condition_reason_the_docs_list_has_a_test_here() -> None:
    """The documentation's conditions table and these tests move together."""
    page = Path(__file__).resolve().parents[2] / "docs" / "kubernetes" / "botgateway.md"
    table = page.read_text().split("| condition | True means | False reasons |", 1)[1]
    table = table.split("\n\n", 1)[0]
    reasons = set(re.findall(r"`([A-Z][A-Za-z]+)`", table)) - set(cond.TYPES)
    source = Path(__file__).read_text()
    assert len(reasons) >= 15
    assert {r for r in reasons if f'"{r}"' not in source} == set()


async def test_an_unusable_signing_key_is_invalid_secret_without_its_value() -> None:
    bots = spec()["bots"]
    bots[0]["handler"]["signing"] = {"secretRef": {"name": "support-bot", "key": "signing"}}
    world = World(spec=spec(bots=bots))
    world.kube.add_secret(NS, "support-bot", {"token": TOKEN, "signing": "too-short-KEYVALUE"})
    await world.sync()
    status, reason = world.reason("Ready")
    assert (status, reason) == ("False", "InvalidSecret")
    message = world.condition("Ready")["message"]
    assert "handler.signing.secret (Secret support-bot, key signing)" in message
    assert "KEYVALUE" not in message
    assert not world.kube.applied


# -- connection budget ------------------------------------------------------------------------


async def test_max_replicas_beyond_the_servers_connections_is_a_condition_with_the_numbers() -> (
    None
):
    world = World(spec=spec(scaling={"minReplicas": 1, "maxReplicas": 10}))
    world.queue.snapshots[DSN] = QueueSnapshot(QueueStats(()), (), ConnectionLimits(100, 3))
    await world.sync()
    assert world.status["connections"] == {
        "max": 124,
        "available": 97,
        "perPod": 11,
        "pods": 11,
        "pooler": "none",
    }
    assert world.reason(cond.CONNECTION_BUDGET) == ("False", "OverLimit")
    assert "= 124 exceeds 97 available" in world.condition(cond.CONNECTION_BUDGET)["message"]

    world.spec = spec(scaling={"minReplicas": 1, "maxReplicas": 7})
    world.generation += 1
    await world.sync()
    assert world.reason(cond.CONNECTION_BUDGET) == ("True", "WithinLimit")
    assert world.status["connections"]["max"] == 8 * 11 + 3


async def test_the_queue_is_read_through_the_declared_pooler() -> None:
    database = {"secretRef": {"name": "gateway-db", "key": "DATABASE_URL"}, "pooler": "session"}
    world = World(spec=spec(database=database))
    await world.sync()
    assert world.queue.poolers == ["session"]
    assert world.reason(cond.CONNECTION_BUDGET) == ("True", "BehindPooler")


async def test_an_unreadable_server_leaves_the_budget_unknown_with_its_sum() -> None:
    world = World()
    world.queue.error = DatabaseUnavailable("connection refused")
    await world.sync()
    assert world.reason(cond.CONNECTION_BUDGET) == ("Unknown", "LimitsUnknown")
    assert world.status["connections"] == {"max": 25, "perPod": 11, "pods": 2, "pooler": "none"}
