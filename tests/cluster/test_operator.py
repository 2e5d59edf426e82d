"""The operator against a real API server, run as `botgateway operator` with the ServiceAccount
token that deploy/rbac.yaml grants (not as admin), a fake Bot API and a real PostgreSQL.

There is no kubelet: gateway pods never run. So `Ready` means "every child applied at the
current generation, Secrets found, webhooks registered"; pod availability is the separate
`Available` condition, mirrored from the Deployment (never True here).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from botgateway.contract.janitor import JanitorResult
from botgateway.janitor import run_once
from botgateway.queue import ConnectionLimits, QueueSettings, Store
from tests.support.cluster import (
    ControlPlane,
    _die_with_parent,
    free_port,
    log_tail,
    wait_until,
)
from tests.support.fake_telegram_api import FakeTelegramApi
from tests.support.postgres import TestPostgres

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
NS = "bots"  # the namespace deploy/ creates and binds the operator's role in
OPERATOR_NS = "botgateway-system"
OPERATOR_SA = "botgateway-operator"
INTERVAL = "1s"
_ids = itertools.count(1)


# -- the operator as a local process --------------------------------------------------------


class OperatorProcess:
    """`botgateway operator --namespace NS` as a subprocess, restartable, killable."""

    def __init__(
        self,
        kubeconfig: Path,
        telegram: str,
        log_dir: Path,
        *,
        namespace: str = NS,
        env: dict[str, str] | None = None,
    ) -> None:
        self.namespace = namespace
        self.extra_env = env or {}
        self.kubeconfig = kubeconfig
        self.telegram = telegram
        self.log_dir = log_dir
        self.popen: subprocess.Popen[bytes] | None = None
        self.log = log_dir / "operator-0.log"
        self._runs = itertools.count()

    def start(self) -> None:
        port = free_port()
        self.log = self.log_dir / f"operator-{next(self._runs)}.log"
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "TELEGRAM_API_BASE": self.telegram,
            "BOTGATEWAY_OPERATOR_INTERVAL": INTERVAL,
            "BOTGATEWAY_RETRY_DELAY": "1s",
            # Every timer round checks the webhook: the tests use those calls as their clock.
            "BOTGATEWAY_WEBHOOK_CHECK_INTERVAL": "100ms",
            "BOTGATEWAY_IMAGE": "botgateway:test",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",  # as deploy/operator.yaml runs it
            **self.extra_env,
        }
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "botgateway.cli", "operator", "--namespace", self.namespace,
                 "--liveness", f"http://127.0.0.1:{port}/healthz"],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # never outlives the test run
            )  # fmt: skip

        def alive() -> bool:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise AssertionError(f"the operator exited:\n{log_tail(self.log)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    return bool(r.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        wait_until(alive, timeout=60, message="the operator's liveness endpoint")

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a node dies."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)

    def tail(self) -> str:
        return log_tail(self.log, 60)


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployed(control_plane: ControlPlane) -> ControlPlane:
    """deploy/ applied as a user would: CRD, namespaces, RBAC, operator Deployment."""
    control_plane.kubectl("apply", "-k", str(ROOT / "deploy"))
    control_plane.kubectl(
        "wait", "--for=condition=Established", "crd/botgateways.botgateway.dev", "--timeout=60s"
    )
    return control_plane


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeTelegramApi]:
    with FakeTelegramApi() as api:
        yield api


@pytest.fixture(scope="module")
def gateway_db(postgres: TestPostgres) -> Iterator[str]:
    url = asyncio.run(postgres.create_database())
    yield url
    asyncio.run(postgres.drop_database(url))


@pytest.fixture(scope="module")
def operator(
    deployed: ControlPlane,
    fake_api: FakeTelegramApi,
    gateway_db: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    cp = deployed
    cp.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "gateway-db", "namespace": NS},
            "stringData": {"DATABASE_URL": gateway_db},
        }
    )
    kubeconfig = cp.service_account_kubeconfig(OPERATOR_NS, OPERATOR_SA)
    proc = OperatorProcess(kubeconfig, fake_api.base_url, tmp_path_factory.mktemp("operator"))
    proc.start()
    try:
        yield proc
        # Finalizers need the operator: delete what the tests left while it still runs.
        cp.kubectl(
            "delete", "botgateways", "--all", "-n", NS, "--timeout=60s", check=False, timeout=90
        )
    finally:
        proc.stop()


@pytest.fixture
def diagnose(operator: OperatorProcess, request: pytest.FixtureRequest) -> Iterator[None]:
    """When the test fails, show what the operator said (in the captured output)."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        print(f"--- operator log ({operator.log}) ---\n{operator.tail()}")


# -- helpers ------------------------------------------------------------------------------------


def token(name: str, slug: str) -> str:
    return f"{next(_ids)}:TOKEN-{name}-{slug}"


def create_bot_secret(cp: ControlPlane, name: str, tok: str, webhook_secret: str | None) -> None:
    args = ["create", "secret", "generic", name, "-n", NS, f"--from-literal=token={tok}"]
    if webhook_secret:
        args.append(f"--from-literal=webhookSecret={webhook_secret}")
    cp.kubectl(*args)


def gateway(name: str, bots: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "database": {"secretRef": {"name": "gateway-db"}},
        "bots": bots,
        "ingress": {"host": f"{name}.example.com", "className": "nginx"},
        "webhook": {"maxConnections": 20},
    }
    body.update(spec)
    return {
        "apiVersion": "botgateway.dev/v1alpha1",
        "kind": "BotGateway",
        "metadata": {"name": name, "namespace": NS},
        "spec": body,
    }


def bot(slug: str, secret_name: str, *, own_secret: bool, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "slug": slug,
        "tokenSecretRef": {"name": secret_name, "key": "token"},
        "handler": {"type": "forward", "url": "http://backend:8000/updates"},
    }
    if own_secret:
        entry["webhookSecretRef"] = {"name": secret_name, "key": "webhookSecret"}
    entry.update(extra)
    return entry


def one_bot_gateway(
    cp: ControlPlane, name: str, *, webhook_secret: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Apply BotGateway `name` with one bot, `main`, its token in the Secret `<name>-main` (with
    `webhook_secret` there too if given, else generated); the token and the manifest."""
    tok = token(name, "main")
    create_bot_secret(cp, f"{name}-main", tok, webhook_secret)
    manifest = gateway(name, [bot("main", f"{name}-main", own_secret=webhook_secret is not None)])
    cp.apply(manifest)
    return tok, manifest


def get(cp: ControlPlane, kind: str, name: str) -> dict[str, Any] | None:
    result = cp.kubectl(
        "get", kind, name, "-n", NS, "-o", "json", "--show-managed-fields", check=False
    )
    if result.returncode != 0:
        assert "NotFound" in result.stderr, result.stderr
        return None
    obj: dict[str, Any] = yaml.safe_load(result.stdout)
    return obj


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


READY_POD_STATUS = json.dumps(
    {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
)


def gateway_pods_ready(cp: ControlPlane, name: str | None, namespace: str = NS) -> None:
    """Stand in for the kubelet this control plane has not: report the pods of gateway `name`
    (None: of every gateway in the namespace) Running and Ready, so its Deployment becomes
    available (the operator registers webhooks and says Ready only then). Without a
    controller-manager there are no pods: the Deployment's status says so directly."""
    selector = "app.kubernetes.io/component=gateway"
    if name is not None:
        selector += f",app.kubernetes.io/instance={name}"
    if not cp.has_controller_manager:
        available = {"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}}
        for deployment in cp.kubectl_json("get", "deployments", "-n", namespace, "-l", selector)[
            "items"
        ]:
            cp.kubectl(
                "patch", "deployment", deployment["metadata"]["name"], "-n", namespace,
                "--subresource=status", "--type=merge", "-p", json.dumps(available), check=False,
            )  # fmt: skip
        return
    pods = cp.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
    for pod in pods:
        conditions = (pod.get("status") or {}).get("conditions") or []
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            cp.kubectl(
                "patch", "pod", pod["metadata"]["name"], "-n", namespace,
                "--subresource=status", "--type=merge", "-p", READY_POD_STATUS, check=False,
            )  # fmt: skip


def wait_ready(cp: ControlPlane, name: str, timeout: float = 60) -> dict[str, Any]:
    last: dict[str, Any] = {}

    def ready() -> dict[str, Any] | None:
        nonlocal last
        gateway_pods_ready(cp, name)
        obj = get(cp, "botgateway", name)
        if obj is None:
            return None
        last = obj
        status = obj.get("status") or {}
        generation = obj["metadata"]["generation"]
        if condition(obj, "Ready").get("status") == "True" and (
            status.get("observedGeneration") == generation
        ):
            return obj
        return None

    return wait_until(
        ready,
        timeout=timeout,
        message=lambda: f"{name} to be Ready; last status: {last.get('status')}",
    )


def resource_versions(cp: ControlPlane, name: str) -> dict[str, str]:
    out = {}
    for kind, child in [
        ("configmap", f"{name}-config"),
        ("service", name),
        ("deployment", name),
        ("poddisruptionbudget", name),
        ("ingress", name),
        ("cronjob", f"{name}-janitor"),
        ("secret", f"{name}-webhook-secrets"),
    ]:
        obj = get(cp, kind, child)
        assert obj is not None, f"{kind}/{child} is missing"
        out[f"{kind}/{child}"] = obj["metadata"]["resourceVersion"]
    return out


def checksum(cp: ControlPlane, name: str) -> str:
    deployment = get(cp, "deployment", name)
    assert deployment is not None
    value: str = deployment["spec"]["template"]["metadata"]["annotations"][
        "botgateway.dev/checksum"
    ]
    return value


def wait_timer_rounds(fake_api: FakeTelegramApi, tok: str, rounds: int = 2) -> None:
    """Each timer round calls getWebhookInfo once per bot: a clock made of conditions."""
    start = len(fake_api.calls("getWebhookInfo", tok))
    wait_until(
        lambda: len(fake_api.calls("getWebhookInfo", tok)) >= start + rounds,
        timeout=30,
        message=f"{rounds} operator timer rounds",
    )


# -- tests --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("diagnose")
def test_botgateway_becomes_owned_children_and_ready(
    deployed: ControlPlane, fake_api: FakeTelegramApi, operator: OperatorProcess
) -> None:
    cp = deployed
    name = "alpha"
    support, echo = token(name, "support"), token(name, "echo")
    create_bot_secret(cp, "alpha-support", support, "given-secret_1")
    create_bot_secret(cp, "alpha-echo", echo, None)
    cp.apply(
        gateway(
            name,
            [
                bot("support", "alpha-support", own_secret=True, allowedUpdates=["message"]),
                bot("echo", "alpha-echo", own_secret=False, handler={"type": "telegram-echo"}),
            ],
        )
    )

    def waiting_for_pods() -> dict[str, Any] | None:
        obj = get(cp, "botgateway", name)
        waiting = obj is not None and condition(obj, "Ready").get("reason") == "GatewayUnavailable"
        return obj if waiting else None

    early = wait_until(waiting_for_pods, timeout=30, message="Ready=False GatewayUnavailable")
    assert condition(early, "WebhookRegistered")["reason"] == "WaitingForGateway"
    assert fake_api.calls("setWebhook", support) == []  # nobody could answer Telegram yet

    obj = wait_ready(cp, name)
    uid = obj["metadata"]["uid"]
    assert "botgateway.dev/finalizer" in obj["metadata"]["finalizers"]
    assert obj["status"]["replicas"] == 1
    assert condition(obj, "WebhookRegistered")["status"] == "True"

    children = {
        "Secret": get(cp, "secret", f"{name}-webhook-secrets"),
        "ConfigMap": get(cp, "configmap", f"{name}-config"),
        "Service": get(cp, "service", name),
        "Deployment": get(cp, "deployment", name),
        "PodDisruptionBudget": get(cp, "poddisruptionbudget", name),
        "Ingress": get(cp, "ingress", name),
        "CronJob": get(cp, "cronjob", f"{name}-janitor"),
    }
    for kind, child in children.items():
        assert child is not None, f"{kind} missing"
        (owner,) = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("BotGateway", name, uid), kind
        assert owner["controller"] is True
        managers = {m["manager"] for m in child["metadata"]["managedFields"]}
        assert "botgateway-operator" in managers, kind

    config = children["ConfigMap"]
    assert config is not None
    bots_file = yaml.safe_load(config["data"]["bots.yaml"])
    assert [b["slug"] for b in bots_file["bots"]] == ["support", "echo"]
    assert bots_file["bots"][1]["handler"] == {"type": "telegram-echo"}
    assert "TOKEN" not in config["data"]["bots.yaml"]

    deployment = children["Deployment"]
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["args"] == ["migrate"]
    assert pod["containers"][0]["image"] == "botgateway:test"
    assert pod["securityContext"]["runAsNonRoot"] is True
    cron = children["CronJob"]
    assert cron is not None
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    ingress = children["Ingress"]
    assert ingress is not None
    assert ingress["spec"]["rules"][0]["host"] == "alpha.example.com"

    # One setWebhook per bot, with the secret the gateway will check.
    secret = children["Secret"]
    assert secret is not None
    generated = base64.b64decode(secret["data"]["echo"]).decode()
    (set_support,) = fake_api.calls("setWebhook", support)
    (set_echo,) = fake_api.calls("setWebhook", echo)
    assert set_support.params["url"] == "https://alpha.example.com/webhook/support"
    assert set_support.params["secret_token"] == "given-secret_1"
    assert set_support.params["allowed_updates"] == ["message"]
    assert set_support.params["max_connections"] == 20
    assert set_echo.params["secret_token"] == generated
    assert len(generated) >= 32

    hooks = {h["slug"]: h for h in obj["status"]["webhooks"]}
    assert hooks["support"]["url"] == "https://alpha.example.com/webhook/support"
    assert hooks["support"]["registered"] is True

    # The printer columns show it.
    table = cp.kubectl("get", "bgw", name, "-n", NS).stdout
    assert table.split()[:4] == ["NAME", "READY", "REPLICAS", "PENDING"]
    assert "True" in table


@pytest.mark.usefixtures("diagnose")
def test_gateway_pods_pass_the_restricted_pod_security_standard(
    deployed: ControlPlane, operator: OperatorProcess
) -> None:
    """`bots` enforces `restricted`: the ReplicaSet's pods are admitted, and so would the
    janitor's (server-side dry run of its pod template)."""
    cp = deployed
    name = "psa"
    one_bot_gateway(cp, name)
    wait_ready(cp, name)
    if cp.has_controller_manager:
        selector = f"app.kubernetes.io/instance={name},app.kubernetes.io/component=gateway"
        wait_until(
            lambda: cp.kubectl_json("get", "pods", "-n", NS, "-l", selector)["items"],
            timeout=60,
            message="the ReplicaSet to create an (admitted) gateway pod",
        )
    cron = get(cp, "cronjob", f"{name}-janitor")
    assert cron is not None
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "janitor-psa-check", "namespace": NS},
        "spec": cron["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    }
    result = cp.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod))
    assert "created (server dry run)" in result.stdout
    assert "violate" not in result.stderr


@pytest.mark.usefixtures("diagnose")
def test_handler_change_rolls_config_and_checksum_not_webhooks(
    deployed: ControlPlane, fake_api: FakeTelegramApi, operator: OperatorProcess
) -> None:
    cp = deployed
    name = "beta"
    tok, manifest = one_bot_gateway(cp, name, webhook_secret="beta-secret")
    wait_ready(cp, name)
    before = checksum(cp, name)
    assert len(fake_api.calls("setWebhook", tok)) == 1

    manifest["spec"]["bots"][0]["handler"] = {"type": "forward", "url": "http://other:9000/x"}
    cp.apply(manifest)

    obj = wait_ready(cp, name)
    assert obj["metadata"]["generation"] == 2
    config = get(cp, "configmap", f"{name}-config")
    assert config is not None
    assert "http://other:9000/x" in config["data"]["bots.yaml"]
    assert checksum(cp, name) != before
    wait_timer_rounds(fake_api, tok)
    assert len(fake_api.calls("setWebhook", tok)) == 1

    # A rotated webhook secret rolls the pods and re-registers the webhook.
    rotated = checksum(cp, name)
    cp.kubectl(
        "patch", "secret", "beta-main", "-n", NS, "--type=merge",
        "-p", '{"stringData": {"webhookSecret": "rotated-secret"}}',
    )  # fmt: skip
    wait_until(
        lambda: len(fake_api.calls("setWebhook", tok)) == 2,
        timeout=30,
        message="setWebhook with the rotated secret",
    )
    assert fake_api.calls("setWebhook", tok)[-1].params["secret_token"] == "rotated-secret"
    wait_until(lambda: checksum(cp, name) != rotated, timeout=30, message="a new checksum")


@pytest.mark.usefixtures("diagnose")
def test_unchanged_reapply_changes_nothing(
    deployed: ControlPlane, fake_api: FakeTelegramApi, operator: OperatorProcess
) -> None:
    cp = deployed
    name = "gamma"
    tok, manifest = one_bot_gateway(cp, name)
    wait_ready(cp, name)
    wait_timer_rounds(fake_api, tok, 1)
    versions = resource_versions(cp, name)
    own = get(cp, "botgateway", name)
    assert own is not None

    cp.apply(manifest)
    wait_timer_rounds(fake_api, tok, 3)

    assert resource_versions(cp, name) == versions
    again = get(cp, "botgateway", name)
    assert again is not None
    assert again["metadata"]["generation"] == own["metadata"]["generation"]
    assert again["metadata"]["resourceVersion"] == own["metadata"]["resourceVersion"]
    assert len(fake_api.calls("setWebhook", tok)) == 1


@pytest.mark.usefixtures("diagnose")
def test_removing_a_bot_deletes_its_webhook(
    deployed: ControlPlane, fake_api: FakeTelegramApi, operator: OperatorProcess
) -> None:
    cp = deployed
    name = "iota"
    keep, drop = token(name, "keep"), token(name, "drop")
    create_bot_secret(cp, "iota-keep", keep, None)
    create_bot_secret(cp, "iota-drop", drop, None)
    manifest = gateway(
        name,
        [bot("keep", "iota-keep", own_secret=False), bot("drop", "iota-drop", own_secret=False)],
    )
    cp.apply(manifest)
    wait_ready(cp, name)

    manifest["spec"]["bots"] = manifest["spec"]["bots"][:1]
    cp.apply(manifest)

    obj = wait_ready(cp, name)
    assert [h["slug"] for h in obj["status"]["webhooks"]] == ["keep"]
    assert len(fake_api.calls("deleteWebhook", drop)) == 1
    assert fake_api.webhook(drop)["url"] == ""
    assert fake_api.calls("deleteWebhook", keep) == []
    assert len(fake_api.calls("setWebhook", keep)) == 1


@pytest.mark.usefixtures("diagnose")
def test_missing_secret_is_a_condition_then_recovers(
    deployed: ControlPlane, fake_api: FakeTelegramApi, operator: OperatorProcess
) -> None:
    cp = deployed
    name = "delta"
    tok = token(name, "main")
    cp.apply(gateway(name, [bot("main", "delta-main", own_secret=False)]))

    def secret_missing() -> dict[str, Any] | None:
        obj = get(cp, "botgateway", name)
        ready = condition(obj, "Ready") if obj else {}
        return ready if ready.get("reason") == "SecretMissing" else None

    ready = wait_until(secret_missing, timeout=30, message="Ready=False/SecretMissing")
    assert ready["status"] == "False"
    assert "Secret bots/delta-main does not exist" in ready["message"]
    assert get(cp, "deployment", name) is None
    assert operator.popen is not None
    assert operator.popen.poll() is None, "a missing Secret must not crash the operator"

    create_bot_secret(cp, "delta-main", tok, None)
    wait_ready(cp, name)
    assert len(fake_api.calls("setWebhook", tok)) == 1


@pytest.mark.usefixtures("diagnose")
def test_a_database_not_yet_migrated_is_not_migrated_then_healthy(
    deployed: ControlPlane, operator: OperatorProcess, postgres: TestPostgres
) -> None:
    """A fresh install before the migrate init container ran: expected, not QueryFailed."""
    cp = deployed
    name = "fresh"
    url = asyncio.run(postgres.create_database(migrated=False))
    try:
        database = f"--from-literal=DATABASE_URL={url}"
        cp.kubectl("create", "secret", "generic", "fresh-db", "-n", NS, database)
        create_bot_secret(cp, "fresh-main", token(name, "main"), None)
        manifest = gateway(name, [bot("main", "fresh-main", own_secret=False)])
        manifest["spec"]["database"] = {"secretRef": {"name": "fresh-db"}}
        cp.apply(manifest)

        def queue_reason(reason: str) -> Callable[[], dict[str, Any] | None]:
            def probe() -> dict[str, Any] | None:
                obj = get(cp, "botgateway", name)
                queue = condition(obj, "QueueHealthy") if obj else {}
                return queue if queue.get("reason") == reason else None

            return probe

        queue = wait_until(queue_reason("NotMigrated"), timeout=30, message="NotMigrated")
        assert queue["status"] == "Unknown"
        assert "gateway_jobs" in queue["message"]

        async def migrate() -> None:  # what the gateway pod's init container does
            store = await Store.connect(url, max_size=1)
            try:
                await store.migrate()
            finally:
                await store.close()

        asyncio.run(migrate())
        wait_until(queue_reason("Healthy"), timeout=30, message="QueueHealthy once migrated")
        cp.kubectl("delete", "botgateway", name, "-n", NS, "--timeout=60s")
    finally:
        asyncio.run(postgres.drop_database(url))


@pytest.mark.usefixtures("diagnose")
def test_bot_api_failure_is_a_condition_then_recovers(
    deployed: ControlPlane, fake_api: FakeTelegramApi, operator: OperatorProcess
) -> None:
    cp = deployed
    name = "epsilon"
    fake_api.fail("setWebhook", 502, "Bad Gateway")
    try:
        tok, _ = one_bot_gateway(cp, name)

        def not_registered() -> dict[str, Any] | None:
            gateway_pods_ready(cp, name)
            obj = get(cp, "botgateway", name)
            hook = condition(obj, "WebhookRegistered") if obj else {}
            return obj if hook.get("reason") == "TelegramError" else None

        obj = wait_until(not_registered, timeout=30, message="WebhookRegistered=False")
        assert "Bad Gateway" in condition(obj, "WebhookRegistered")["message"]
        assert condition(obj, "Ready")["reason"] == "WebhookNotRegistered"
        assert tok not in str(obj["status"])
        assert get(cp, "deployment", name) is not None  # the children are there regardless
    finally:
        fake_api.recover("setWebhook")
    wait_ready(cp, name)
    assert fake_api.webhook(tok)["url"] == "https://epsilon.example.com/webhook/main"


@pytest.mark.usefixtures("diagnose")
def test_webhook_changed_behind_our_back_is_repaired(
    deployed: ControlPlane, fake_api: FakeTelegramApi, operator: OperatorProcess
) -> None:
    cp = deployed
    name = "zeta"
    tok, _ = one_bot_gateway(cp, name)
    wait_ready(cp, name)

    fake_api.set_webhook_externally(tok, "https://elsewhere.example/hook")

    wait_until(
        lambda: fake_api.webhook(tok)["url"] == "https://zeta.example.com/webhook/main",
        timeout=30,
        message="the operator to re-register the webhook",
    )
    assert len(fake_api.calls("setWebhook", tok)) == 2


@pytest.mark.usefixtures("diagnose")
def test_queue_depth_scales_up_at_once_and_down_after_the_window(
    deployed: ControlPlane, operator: OperatorProcess, gateway_db: str
) -> None:
    cp = deployed
    name = "scaled"
    slug = "scaled-bot"
    window = 6
    create_bot_secret(cp, "scaled-main", token(name, slug), None)
    cp.apply(
        gateway(
            name,
            [bot(slug, "scaled-main", own_secret=False)],
            webhook={"register": False},
            scaling={
                "minReplicas": 1,
                "maxReplicas": 10,
                "pendingJobsPerReplica": 100,
                "scaleDownStabilizationSeconds": window,
            },
        )
    )
    wait_ready(cp, name)

    def replicas() -> int:
        deployment = get(cp, "deployment", name)
        assert deployment is not None
        value: int = deployment["spec"]["replicas"]
        return value

    assert replicas() == 1

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(gateway_db)
        try:
            await conn.execute(sql, slug)
        finally:
            await conn.close()

    def queue() -> dict[str, Any]:
        obj = get(cp, "botgateway", name)
        assert obj is not None
        value: dict[str, Any] = (obj.get("status") or {}).get("queue") or {}
        return value

    # Jobs waiting out a retry back-off are no work for more pods.
    asyncio.run(
        execute(
            "INSERT INTO gateway_jobs (bot_slug, handler_type, update_id, payload, next_retry_at) "
            "SELECT $1, 'forward', i, jsonb_build_object('update_id', i), "
            "now() + interval '1 hour' FROM generate_series(1, 500) AS i"
        )
    )
    wait_until(
        lambda: queue().get("pending") == 500 and queue().get("due") == 0,
        timeout=30,
        message="500 pending jobs, none due, in status",
    )
    assert replicas() == 1  # applied in the same pass that wrote that status

    asyncio.run(execute("UPDATE gateway_jobs SET next_retry_at = now() WHERE bot_slug = $1"))
    wait_until(lambda: replicas() == 5, timeout=30, message="5 replicas for 500 due jobs")
    obj = get(cp, "botgateway", name)
    assert obj is not None
    assert obj["status"]["queue"]["due"] == 500
    assert obj["status"]["replicas"] == 5
    assert condition(obj, "QueueHealthy")["status"] == "True"

    asyncio.run(execute("DELETE FROM gateway_jobs WHERE bot_slug = $1"))
    emptied = time.monotonic()
    wait_until(lambda: replicas() == 1, timeout=60, message="scale-down to 1 replica")
    held = time.monotonic() - emptied
    assert held >= window - 2, f"scaled down after {held:.1f}s, before the {window}s window"
    obj = get(cp, "botgateway", name)
    assert obj is not None
    assert obj["status"]["queue"]["pending"] == 0


@pytest.mark.usefixtures("diagnose")
def test_the_last_janitor_round_shows_in_status(
    deployed: ControlPlane, operator: OperatorProcess, gateway_db: str
) -> None:
    """What a CronJob pod did, seen in `kubectl get bgw -o yaml` (rounds are recorded in the
    database the gateway uses)."""
    cp = deployed
    name = "janitored"
    one_bot_gateway(cp, name)
    wait_ready(cp, name)

    async def janitor_once() -> JanitorResult:
        store = await Store.connect(gateway_db, max_size=2)
        try:
            return await run_once(store, QueueSettings(database_url=gateway_db))
        finally:
            await store.close()

    result = asyncio.run(janitor_once())
    assert result.ran

    def janitor_status() -> dict[str, Any] | None:
        obj = get(cp, "botgateway", name)
        value: dict[str, Any] | None = ((obj or {}).get("status") or {}).get("janitor")
        return value if value and value.get("durationSeconds") == round(result.seconds, 3) else None

    seen = wait_until(janitor_status, timeout=30, message="status.janitor to show the round")
    assert seen["runner"] == "once"
    assert (seen["recovered"], seen["deadLettered"]) == (0, 0)
    assert seen["lastRoundTime"].endswith("Z")


@pytest.mark.usefixtures("diagnose")
def test_delete_removes_webhooks_and_children(
    deployed: ControlPlane, fake_api: FakeTelegramApi, operator: OperatorProcess
) -> None:
    cp = deployed
    name = "eta"
    one, two = token(name, "one"), token(name, "two")
    create_bot_secret(cp, "eta-one", one, None)
    create_bot_secret(cp, "eta-two", two, None)
    cp.apply(
        gateway(
            name,
            [bot("one", "eta-one", own_secret=False), bot("two", "eta-two", own_secret=False)],
        )
    )
    wait_ready(cp, name)

    cp.kubectl("delete", "botgateway", name, "-n", NS, "--timeout=60s")

    assert len(fake_api.calls("deleteWebhook", one)) == 1
    assert len(fake_api.calls("deleteWebhook", two)) == 1
    assert fake_api.webhook(one)["url"] == ""
    if not cp.has_controller_manager:
        pytest.skip("no kube-controller-manager: garbage collection is not observable")

    def children_gone() -> bool:
        return all(
            get(cp, kind, child) is None
            for kind, child in [
                ("configmap", f"{name}-config"),
                ("deployment", name),
                ("service", name),
                ("ingress", name),
                ("cronjob", f"{name}-janitor"),
                ("poddisruptionbudget", name),
                ("secret", f"{name}-webhook-secrets"),
            ]
        )

    wait_until(children_gone, timeout=60, message="the children to be garbage-collected")
    assert get(cp, "secret", "eta-one") is not None  # the user's Secrets are not ours


@pytest.mark.usefixtures("diagnose")
def test_operator_killed_mid_reconcile_converges(
    deployed: ControlPlane, fake_api: FakeTelegramApi, operator: OperatorProcess
) -> None:
    cp = deployed
    name = "theta"
    slugs = [f"bot-{i}" for i in range(8)]
    tokens = {slug: token(name, slug) for slug in slugs}
    for slug in slugs:
        create_bot_secret(cp, f"theta-{slug}", tokens[slug], None)
    fake_api.slow_down("setWebhook", 0.5)
    try:
        cp.apply(
            gateway(name, [bot(s, f"theta-{s}", own_secret=False) for s in slugs]),
        )

        def under_way() -> bool:
            gateway_pods_ready(cp, name)
            return len([s for s in slugs if fake_api.calls("setWebhook", tokens[s])]) >= 2

        wait_until(under_way, timeout=30, message="the reconcile to be under way")
        operator.kill()
        partial = [s for s in slugs if fake_api.calls("setWebhook", tokens[s])]
        assert len(partial) < len(slugs), "the reconcile finished before the kill"
    finally:
        fake_api.slow_down("setWebhook", 0)
    operator.start()

    obj = wait_ready(cp, name, timeout=90)
    secret = get(cp, "secret", f"{name}-webhook-secrets")
    assert secret is not None
    generated = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    for slug in slugs:
        hook = fake_api.webhook(tokens[slug])
        assert hook["url"] == f"https://theta.example.com/webhook/{slug}"
        assert hook["secret_token"] == generated[slug]
    assert {h["slug"] for h in obj["status"]["webhooks"] if h["registered"]} == set(slugs)
    resource_versions(cp, name)  # every child is there

    # Converged means quiet: further rounds register nothing more.
    counts = {s: len(fake_api.calls("setWebhook", tokens[s])) for s in slugs}
    wait_timer_rounds(fake_api, tokens[slugs[0]], 2)
    assert {s: len(fake_api.calls("setWebhook", tokens[s])) for s in slugs} == counts


# Kept last in the module: by now the logs hold every earlier test's reconciles, kills and errors.
def test_operator_logs_are_json_and_hold_no_token_or_webhook_secret(
    operator: OperatorProcess, fake_api: FakeTelegramApi
) -> None:
    calls = fake_api.calls()
    secrets = {c.token for c in calls} | {
        str(c.params["secret_token"]) for c in calls if c.params.get("secret_token")
    }
    assert len(secrets) > 10, "the earlier tests should have registered many bots"
    logs = sorted(operator.log_dir.glob("operator-*.log"))
    lines = [line for log in logs for line in log.read_text().splitlines() if line.strip()]
    assert lines, "the operator logged nothing"
    for line in lines:
        entry = json.loads(line)  # one JSON object per line, kopf's and ours alike
        assert "message" in entry, line
        leaked = [s for s in secrets if s in line]
        assert not leaked, f"a token or webhook secret in the operator log: {line[:200]}"


@pytest.mark.usefixtures("diagnose")
def test_max_replicas_beyond_the_servers_connections_is_a_condition_with_the_numbers(
    deployed: ControlPlane, operator: OperatorProcess, gateway_db: str
) -> None:
    cp = deployed
    name = "crowded"

    async def limits() -> ConnectionLimits:
        store = await Store.connect(gateway_db, max_size=1)
        try:
            return await store.connection_limits()
        finally:
            await store.close()

    server = asyncio.run(limits())
    too_many = server.available  # 11 connections a replica: this many can never fit
    create_bot_secret(cp, "crowded-main", token(name, "main"), None)
    manifest = gateway(
        name,
        [bot("main", "crowded-main", own_secret=False)],
        webhook={"register": False},
        scaling={"minReplicas": 1, "maxReplicas": too_many},
    )
    cp.apply(manifest)
    wait_ready(cp, name)  # a warning about what could come, not a broken gateway

    def budget(reason: str) -> Callable[[], dict[str, Any] | None]:
        def probe() -> dict[str, Any] | None:
            obj = get(cp, "botgateway", name)
            found = condition(obj, "ConnectionBudget") if obj else {}
            return obj if found.get("reason") == reason else None

        return probe

    obj = wait_until(budget("OverLimit"), timeout=30, message="ConnectionBudget=False")
    most = (too_many + 1) * 11 + 2 + 1
    assert obj["status"]["connections"]["max"] == most
    assert obj["status"]["connections"]["available"] == server.available
    over = condition(obj, "ConnectionBudget")
    assert over["status"] == "False"
    assert f"= {most} exceeds {server.available} available" in over["message"]
    assert condition(obj, "Ready")["status"] == "True"

    manifest["spec"]["scaling"]["maxReplicas"] = 2
    cp.apply(manifest)
    obj = wait_until(budget("WithinLimit"), timeout=30, message="ConnectionBudget=True")
    assert obj["status"]["connections"]["max"] == 3 * 11 + 2 + 1
    cp.kubectl("delete", "botgateway", name, "-n", NS, "--timeout=60s")
