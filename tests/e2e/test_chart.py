"""End to end on kind through the Helm chart, and the cluster-level faults the bundle exists for:
a worker pod killed mid-job, a rolling upgrade, PostgreSQL deleted, the operator killed
mid-reconcile, scaling on queue depth, the node restarted; then deletion and `helm uninstall`.

Each fault scenario streams updates through the Ingress as Telegram does (traffic.py) while the
fault happens, and prints its figures: sent, answered 200 / 503 / other, delivered, lost,
duplicates, time to recover. The tests share one install and run in file order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e import scenarios
from tests.e2e.harness import GATEWAY, NAMESPACE, NEXT_IMAGE, NODE, KindEnvironment, unavailable
from tests.e2e.installs import ChartInstall, apply_gateway
from tests.e2e.scenarios import all_done, job_rows, quietly, registered_secrets
from tests.e2e.traffic import SteadySender, assert_nothing_lost, flowing, shaped, under_load
from tests.support.cluster import wait_until

pytestmark = pytest.mark.e2e

_UNAVAILABLE = unavailable()
if _UNAVAILABLE:
    pytest.skip(_UNAVAILABLE, allow_module_level=True)

IDS = 200_000
INSTALL = ChartInstall()
BACKEND_DELAY = 2.0
# Up to 3 pods, one for every 50 due jobs, down again 30 s after the queue drains.
AUTOMATIC_SCALING = {
    "minReplicas": 1,
    "maxReplicas": 3,
    "pendingJobsPerReplica": 50,
    "scaleDownStabilizationSeconds": 30,
}
Say = Callable[[str], None]


@pytest.fixture(scope="module")
def installed(e2e: KindEnvironment) -> KindEnvironment:
    e2e.operator = (INSTALL.operator_namespace, INSTALL.operator_deployment)
    INSTALL.install(e2e)
    apply_gateway(e2e, secret="wrong")
    return e2e


@pytest.fixture
def secret(installed: KindEnvironment) -> str:
    return registered_secrets(installed)["support"]


# -- what the cluster looks like ----------------------------------------------------------------


def gateway_deployment(env: KindEnvironment) -> dict[str, Any]:
    return dict(env.kubectl_json("get", "deployment", GATEWAY, "-n", NAMESPACE))


def rolled_out(deployment: dict[str, Any]) -> bool:
    status, spec = deployment.get("status", {}), deployment["spec"]
    want = spec.get("replicas", 1)
    return (
        status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("updatedReplicas") == want
        and status.get("availableReplicas") == want
        and status.get("replicas") == want
    )


def gateway_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "gateway")


def gateway_reconciled(env: KindEnvironment) -> bool:
    """The BotGateway's latest spec is observed, Ready, and its Deployment rolled out."""
    gateway = env.kubectl_json("get", "botgateway", GATEWAY, "-n", NAMESPACE)
    status = gateway.get("status", {})
    ready = any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])
    )
    observed = status.get("observedGeneration") == gateway["metadata"]["generation"]
    return ready and observed and rolled_out(gateway_deployment(env))


def janitor_keeps_running(env: KindEnvironment, *, since: datetime) -> None:
    """A janitor CronJob run (every minute here) succeeds after the fault."""

    def succeeded() -> bool:
        cronjob = env.kubectl_json("get", "cronjob", f"{GATEWAY}-janitor", "-n", NAMESPACE)
        last = cronjob.get("status", {}).get("lastSuccessfulTime")
        return bool(last) and datetime.fromisoformat(last.replace("Z", "+00:00")) > since

    wait_until(quietly(succeeded), timeout=240, interval=2, message="a janitor run succeeding")


def patch_gateway(env: KindEnvironment, spec: dict[str, Any]) -> None:
    env.kubectl(
        "patch",
        "botgateway",
        GATEWAY,
        "-n",
        NAMESPACE,
        "--type=merge",
        "-p",
        json.dumps({"spec": spec}),
    )


def api_server_answers(env: KindEnvironment) -> bool:
    return env.kubectl("get", "--raw", "/readyz", check=False, timeout=15).returncode == 0


# -- the basics, as after the other install -----------------------------------------------------


class TestAfterTheChartInstall(scenarios.ChecksAfterInstall):
    first_id = IDS


# -- faults -------------------------------------------------------------------------------------


def test_the_janitor_cronjob_recovers_a_job_whose_worker_pod_was_deleted(
    installed: KindEnvironment, secret: str, say: Say
) -> None:
    env = installed
    key = ("support", IDS + 3001)
    env.service_post("backend", "hold", {"bot": key[0], "update_id": key[1]})
    try:
        status, body, _ = env.post_update("support", shaped(key[1]), secret=secret)
        assert status == 200, body

        def held_in_flight() -> bool:
            return any(
                (a["bot"], a["update_id"]) == key and a["held"] for a in env.arrivals()
            ) and [r["status"] for r in job_rows(env, *key)] == ["running"]

        wait_until(
            quietly(held_in_flight),
            timeout=120,
            interval=1,
            message="the backend holding the update while its job runs",
        )
        (pod,) = env.gateway_pods()
        victim = pod["metadata"]["name"]
        # A one-second deletion grace: the kubelet kills the worker (SIGKILL after 1s) long
        # before its own shutdown grace would hand the running job back, as a crash would.
        # Only the lease it stops renewing says the job is orphaned.
        killed_at, killed_epoch = time.monotonic(), time.time()
        env.kubectl("delete", "pod", victim, "-n", NAMESPACE, "--grace-period=1", "--wait=false")

        def redelivered() -> bool:
            answered = [
                a for a in env.arrivals() if (a["bot"], a["update_id"]) == key and a["answered"]
            ]
            return bool(answered) and [r["status"] for r in job_rows(env, *key)] == ["done"]

        # Lease (45s) + the next minute's janitor run + a claim: well under five minutes.
        wait_until(
            quietly(redelivered),
            timeout=300,
            interval=3,
            message="the update recovered by the janitor and delivered again",
        )
        recovered_in = time.monotonic() - killed_at
    finally:
        env.service_post("backend", "release", {})

    (row,) = job_rows(env, *key)
    assert row["attempts"] == 2  # the lost attempt, then the one that succeeded
    assert [a["held"] for a in env.arrivals() if (a["bot"], a["update_id"]) == key] == [
        True,
        False,
    ]
    # The rounds the janitor records (what status.janitor and /metrics show): the CronJob's.
    rounds = env.janitor_rounds_since(killed_epoch)
    assert ("once", 1) in rounds, rounds
    assert victim not in {p["metadata"]["name"] for p in env.gateway_pods()}
    say(
        "worker pod killed mid-job: recovered by the janitor CronJob and delivered "
        f"{recovered_in:.0f}s after the kill"
    )


def test_a_rolling_upgrade_under_steady_traffic_loses_nothing(
    installed: KindEnvironment, secret: str, say: Say
) -> None:
    env = installed
    next_tag = NEXT_IMAGE.rsplit(":", 1)[1]

    def gateway_upgraded() -> bool:
        deployment = gateway_deployment(env)
        images = {c["image"] for p in env.gateway_pods() for c in p["spec"]["containers"]}
        return (
            gateway_container(deployment)["image"] == NEXT_IMAGE
            and rolled_out(deployment)
            and (images == {NEXT_IMAGE})
        )

    def upgrade(sender: SteadySender) -> dict[str, str]:
        started = time.monotonic()
        # A new image tag and a setting: the operator restarts on the new image, which is the
        # gateway's default, so the gateway Deployment rolls too.
        INSTALL.upgrade(env, f"image.tag={next_tag}", "operator.logLevel=INFO")
        wait_until(quietly(gateway_upgraded), timeout=300, interval=1, message="the new image")
        return {"rollout_seconds": f"{time.monotonic() - started:.0f}"}

    sender, delivery = under_load(
        env, say, "rolling upgrade (helm upgrade: image tag + operator.logLevel)",
        slug="support", secret=secret, first_id=IDS + 10_000, fault=upgrade,
    )  # fmt: skip
    assert_nothing_lost(sender, delivery)
    # Telegram retries a 503 with Retry-After; anything else would be a defect.
    answers = sender.answers
    assert answers.other == {}, answers
    assert answers.no_answer == 0, answers
    assert answers.unavailable_without_retry_after == 0, answers


def test_postgresql_deleted_under_load_answers_503_then_delivers_everything(
    installed: KindEnvironment, secret: str, say: Say
) -> None:
    env = installed

    def delete_postgres(sender: SteadySender) -> dict[str, str]:
        deleted_at = time.monotonic()
        env.kubectl("delete", "pod", "postgres-0", "-n", NAMESPACE, "--wait=false")
        wait_until(
            lambda: sender.answers.non_ok > 0,
            timeout=120,
            interval=0.2,
            message="the gateway to notice the database is gone",
        )
        env.rollout(NAMESPACE, "statefulset/postgres")
        flowing(sender)
        recovered = (sender.answers.last_non_ok_at or deleted_at) - deleted_at
        return {"seconds_until_200s_again": f"{recovered:.0f}"}

    sender, delivery = under_load(
        env, say, "PostgreSQL pod deleted under load",
        slug="support", secret=secret, first_id=IDS + 20_000, fault=delete_postgres,
    )  # fmt: skip
    assert_nothing_lost(sender, delivery)
    assert sender.answers.non_ok > 0  # the outage was seen, and answered


def test_the_operator_killed_mid_reconcile_converges_and_the_cronjob_keeps_running(
    installed: KindEnvironment, secret: str, say: Say
) -> None:
    env = installed
    killed = datetime.now(UTC)

    def converged() -> bool:
        env_vars = gateway_container(gateway_deployment(env)).get("env", [])
        concurrency = {e["name"]: e.get("value") for e in env_vars}.get("WORKER_CONCURRENCY")
        return concurrency == "6" and gateway_reconciled(env)

    def kill_operator(sender: SteadySender) -> dict[str, str]:
        started = time.monotonic()
        patch_gateway(env, {"worker": {"concurrency": 6}})
        env.kubectl(
            "delete", "pod", "-n", INSTALL.operator_namespace,
            "-l", "app.kubernetes.io/component=operator", "--grace-period=0", "--force",
            "--wait=false",
        )  # fmt: skip
        wait_until(quietly(converged), timeout=300, interval=1, message="the new spec applied")
        return {"converged_seconds": f"{time.monotonic() - started:.0f}"}

    sender, delivery = under_load(
        env, say, "operator killed mid-reconcile",
        slug="support", secret=secret, first_id=IDS + 30_000, fault=kill_operator,
    )  # fmt: skip
    assert_nothing_lost(sender, delivery)
    janitor_keeps_running(env, since=killed)


def test_scaling_follows_the_queue_up_and_back_down(
    installed: KindEnvironment, secret: str, say: Say
) -> None:
    env = installed
    patch_gateway(env, {"scaling": {"replicas": None, **AUTOMATIC_SCALING}})
    # 2 s a delivery: one pod (8 at a time) takes about two minutes for the burst, so the
    # burst, posted 16 at a time, outruns it and the due backlog shows.
    env.service_post("backend", "delay", {"seconds": BACKEND_DELAY})
    burst = range(IDS + 40_000, IDS + 40_500)
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(
                pool.map(lambda i: env.post_update("support", shaped(i), secret=secret), burst)
            )
        assert [status for status, _, _ in answers] == [200] * len(burst), answers[:3]
        wait_until(
            quietly(lambda: gateway_deployment(env)["spec"]["replicas"] == 3),
            timeout=180,
            interval=1,
            message="the Deployment scaled up to maxReplicas on 500 pending updates",
        )
        up_in = time.monotonic() - started
    finally:
        env.service_post("backend", "delay", {"seconds": 0})
    wait_until(
        quietly(lambda: all_done(env, {("support", i) for i in burst})),
        timeout=300,
        interval=2,
        message="the burst processed",
    )
    drained = time.monotonic()
    wait_until(
        quietly(lambda: gateway_deployment(env)["spec"]["replicas"] == 1),
        timeout=240,
        interval=2,
        message="the Deployment back to minReplicas after the stabilisation window",
    )
    down_in = time.monotonic() - drained
    patch_gateway(env, {"scaling": dict.fromkeys(AUTOMATIC_SCALING) | {"replicas": 1}})
    say(
        f"scaling: 500 updates, backend {BACKEND_DELAY:.0f}s each: 1 -> 3 replicas "
        f"{up_in:.0f}s after the burst began, back to 1 {down_in:.0f}s after the queue drained "
        "(window 30s)"
    )


def test_the_node_restarted_under_load_comes_back_and_loses_nothing(
    installed: KindEnvironment, secret: str, say: Say
) -> None:
    env = installed
    wait_until(quietly(lambda: gateway_reconciled(env)), timeout=300, interval=1, message="calm")
    restarted = datetime.now(UTC)

    def restart_node(sender: SteadySender) -> dict[str, str]:
        started = time.monotonic()
        env.docker("restart", NODE, timeout=300)
        wait_until(lambda: api_server_answers(env), timeout=300, interval=1, message="the API")
        wait_until(quietly(lambda: gateway_reconciled(env)), timeout=600, interval=2,
                   message="the gateway back")  # fmt: skip
        flowing(sender)
        return {"seconds_until_serving_again": f"{time.monotonic() - started:.0f}"}

    sender, delivery = under_load(
        env, say, "kind node container restarted (docker restart)",
        slug="support", secret=secret, first_id=IDS + 50_000, fault=restart_node,
    )  # fmt: skip
    assert_nothing_lost(sender, delivery)
    janitor_keeps_running(env, since=restarted)


# -- removal ------------------------------------------------------------------------------------


def test_deleting_the_botgateway_removes_everything_it_owned(installed: KindEnvironment) -> None:
    scenarios.check_deletion_removes_everything_owned(installed)


def test_helm_uninstall_leaves_only_the_crd_and_the_namespace(installed: KindEnvironment) -> None:
    assert INSTALL.uninstall(installed) == []
    installed.operator = None
    # Helm keeps a chart's CRDs on uninstall (docs/kubernetes/helm.md).
    installed.kubectl("get", "crd", "botgateways.botgateway.dev")
