"""End to end on kind: the image, the chart, the operator and the gateway, with Telegram's side
played through the Ingress exactly as Telegram plays it (the webhook URL and secret token the
operator registered, `X-Telegram-Bot-Api-Secret-Token`, JSON bodies shaped like real updates).

The tests share one cluster and run in file order; the last one deletes the BotGateway.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.harness import (
    GATEWAY,
    INGRESS_HOST,
    NAMESPACE,
    E2EError,
    KindEnvironment,
    unavailable,
)
from tests.support.cluster import wait_until
from tests.support.updates import UPDATES

pytestmark = pytest.mark.e2e

# One skip for the whole module, so the summary has one line saying what is missing.
_UNAVAILABLE = unavailable()
if _UNAVAILABLE:
    pytest.skip(_UNAVAILABLE, allow_module_level=True)

BOTS = ("support", "relay")
CHILD_KINDS = {
    "ConfigMap",
    "Secret",
    "Service",
    "Deployment",
    "Ingress",
    "CronJob",
    "PodDisruptionBudget",
}
RECOVERED = re.compile(r"recovered ([1-9][0-9]*) stuck job")


def quietly(check: Callable[[], bool]) -> Callable[[], bool]:
    """A polled condition for which a failed kubectl call (a pod restarting) means "not yet"."""

    def polled() -> bool:
        try:
            return check()
        except E2EError:
            return False

    return polled


def shaped(update_id: int, kind: str) -> dict[str, Any]:
    """A real-shaped update (tests/support/updates.py) under a fresh update_id."""
    update = copy.deepcopy(UPDATES[kind])
    update["update_id"] = update_id
    return update


@pytest.fixture(scope="module")
def tokens(e2e: KindEnvironment) -> dict[str, str]:
    return {slug: e2e.secret_value(f"{slug}-bot", "token") for slug in BOTS}


@pytest.fixture(scope="module")
def secrets(e2e: KindEnvironment, tokens: dict[str, str]) -> dict[str, str]:
    """The secret token Telegram was given for each bot: what it sends back with each update."""
    hooks = e2e.webhooks()
    return {slug: str(hooks[tokens[slug]]["secret_token"]) for slug in BOTS}


def job_rows(e2e: KindEnvironment, slug: str, update_id: int) -> list[dict[str, Any]]:
    return [j for j in e2e.jobs() if j["bot_slug"] == slug and j["update_id"] == update_id]


def all_done(e2e: KindEnvironment, keys: set[tuple[str, int]]) -> bool:
    done = {(j["bot_slug"], j["update_id"]) for j in e2e.jobs() if j["status"] == "done"}
    return keys <= done


def deliveries(e2e: KindEnvironment) -> Counter[tuple[str, int]]:
    return Counter((a["bot"], a["update_id"]) for a in e2e.arrivals())


def test_the_operator_registered_each_webhook_with_the_secret_the_gateway_checks(
    e2e: KindEnvironment, tokens: dict[str, str]
) -> None:
    hooks = e2e.webhooks()
    support, relay = hooks[tokens["support"]], hooks[tokens["relay"]]
    assert support["url"] == f"https://{INGRESS_HOST}/webhook/support"
    assert support["secret_token"] == e2e.secret_value("support-bot", "webhookSecret")
    assert support["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert relay["url"] == f"https://{INGRESS_HOST}/webhook/relay"
    # No webhookSecretRef: the operator generated one and keeps it in its own Secret.
    assert relay["secret_token"] == e2e.secret_value(f"{GATEWAY}-webhook-secrets", "relay")


def test_updates_through_the_ingress_reach_the_backend_exactly_once(
    e2e: KindEnvironment, secrets: dict[str, str]
) -> None:
    sent = {
        ("support", 1001): shaped(1001, "text_message"),
        ("support", 1002): shaped(1002, "edited_message"),
        ("support", 1003): shaped(1003, "callback_query"),
        ("relay", 2001): shaped(2001, "photo"),
        ("relay", 2002): shaped(2002, "channel_post"),
    }
    for (slug, _), update in sent.items():
        status, body = e2e.post_update(slug, update, secret=secrets[slug])
        assert status == 200, body

    wait_until(
        quietly(lambda: all_done(e2e, set(sent))),
        timeout=120,
        interval=1,
        message="every update stored, delivered and done",
    )
    counts = deliveries(e2e)
    forwarded = {(a["bot"], a["update_id"]): a["update"] for a in e2e.arrivals()}
    for key, update in sent.items():
        assert counts[key] == 1, f"{key} delivered {counts[key]} times"
        assert forwarded[key] == update  # the JSON value Telegram sent, unchanged


def test_a_redelivered_update_is_ignored_and_a_wrong_secret_refused(
    e2e: KindEnvironment, secrets: dict[str, str]
) -> None:
    original = shaped(1101, "text_message")
    assert e2e.post_update("support", original, secret=secrets["support"])[0] == 200
    wait_until(
        quietly(lambda: all_done(e2e, {("support", 1101)})),
        timeout=120,
        interval=1,
        message="the original update to be done",
    )

    # Telegram redelivers when it missed our answer: same update, same id.
    status, body = e2e.post_update("support", original, secret=secrets["support"])
    assert status == 200, body
    forged = shaped(1102, "text_message")
    assert e2e.post_update("support", forged, secret="not-the-secret")[0] == 401
    assert e2e.post_update("support", forged, secret=None)[0] == 401
    # A later update done with nothing else pending or running means the redelivery, had it
    # been stored, would have been handled by now.
    sentinel = shaped(1103, "edited_message")
    assert e2e.post_update("support", sentinel, secret=secrets["support"])[0] == 200

    def settled() -> bool:
        totals = e2e.queue_totals()
        idle = totals.get("pending", 0) == 0 and totals.get("running", 0) == 0
        return idle and all_done(e2e, {("support", 1103)})

    wait_until(
        quietly(settled), timeout=120, interval=1, message="the sentinel done and the queue idle"
    )
    assert deliveries(e2e)[("support", 1101)] == 1
    (row,) = job_rows(e2e, "support", 1101)
    assert row["attempts"] == 1
    assert job_rows(e2e, "support", 1102) == []
    assert deliveries(e2e)[("support", 1102)] == 0


def test_the_janitor_cronjob_recovers_a_job_whose_worker_pod_was_deleted(
    e2e: KindEnvironment, secrets: dict[str, str]
) -> None:
    key = ("support", 3001)
    e2e.service_post("backend", "hold", {"bot": key[0], "update_id": key[1]})
    try:
        status, body = e2e.post_update(
            "support", shaped(3001, "text_message"), secret=secrets["support"]
        )
        assert status == 200, body

        def held_in_flight() -> bool:
            return any(
                (a["bot"], a["update_id"]) == key and a["held"] for a in e2e.arrivals()
            ) and [r["status"] for r in job_rows(e2e, *key)] == ["running"]

        wait_until(
            quietly(held_in_flight),
            timeout=120,
            interval=1,
            message="the backend holding update 3001 while its job runs",
        )
        (pod,) = e2e.gateway_pods()
        victim = pod["metadata"]["name"]
        # A one-second deletion grace: the kubelet kills the worker (SIGKILL after 1s) long
        # before its own shutdown grace (WORKER_SHUTDOWN_GRACE, 20s) would hand the running job
        # back, as a crash would. Only the lease it stops renewing says the job is orphaned.
        e2e.kubectl("delete", "pod", victim, "-n", NAMESPACE, "--grace-period=1", "--wait=false")

        janitor_output: list[str] = []

        def redelivered() -> bool:
            janitor_output.append(e2e.janitor_logs())  # janitor pods come and go: keep them
            answered = [
                a for a in e2e.arrivals() if (a["bot"], a["update_id"]) == key and a["answered"]
            ]
            return bool(answered) and [r["status"] for r in job_rows(e2e, *key)] == ["done"]

        # Lease (45s) + the next minute's janitor run + a claim: well under five minutes.
        wait_until(
            quietly(redelivered),
            timeout=300,
            interval=3,
            message="update 3001 recovered by the janitor and delivered again",
        )
    finally:
        e2e.service_post("backend", "release", {})

    (row,) = job_rows(e2e, *key)
    assert row["attempts"] == 2  # the lost attempt, then the one that succeeded
    assert [a["held"] for a in e2e.arrivals() if (a["bot"], a["update_id"]) == key] == [
        True,
        False,
    ]
    assert any(RECOVERED.search(text) for text in janitor_output), (
        "no janitor CronJob run reported recovering a stuck job:\n" + janitor_output[-1]
    )
    assert victim not in {p["metadata"]["name"] for p in e2e.gateway_pods()}


def test_deleting_the_botgateway_removes_everything_it_owned(
    e2e: KindEnvironment, tokens: dict[str, str]
) -> None:
    gateway = e2e.kubectl_json("get", "botgateway", GATEWAY, "-n", NAMESPACE)
    uid = gateway["metadata"]["uid"]
    kinds = (
        "configmaps,secrets,services,deployments.apps,ingresses.networking.k8s.io,"
        "cronjobs.batch,poddisruptionbudgets.policy"
    )

    def owned() -> set[tuple[str, str]]:
        items = e2e.kubectl_json("get", kinds, "-n", NAMESPACE)["items"]
        return {
            (i["kind"], i["metadata"]["name"])
            for i in items
            if any(r.get("uid") == uid for r in i["metadata"].get("ownerReferences", []))
        }

    children = owned()
    assert {kind for kind, _ in children} >= CHILD_KINDS, children

    # The finalizer deregisters the webhooks before the object goes.
    e2e.kubectl("delete", "botgateway", GATEWAY, "-n", NAMESPACE, "--timeout=180s", timeout=200)
    deleted = {c["token"] for c in e2e.telegram_calls("deleteWebhook")}
    assert deleted >= set(tokens.values())
    assert all(e2e.webhooks()[t]["url"] == "" for t in tokens.values())

    def nothing_left() -> bool:
        selector = f"app.kubernetes.io/instance={GATEWAY}"
        leftovers = e2e.kubectl_json(
            "get", "pods,replicasets.apps,jobs.batch", "-n", NAMESPACE, "-l", selector
        )["items"]
        return not owned() and not leftovers

    wait_until(
        quietly(nothing_left),
        timeout=180,
        interval=2,
        message="everything the BotGateway owned to be garbage-collected",
    )
    # What the user made stays: bot Secrets, the database, the backend.
    for secret in ("support-bot", "relay-bot", "gateway-db"):
        e2e.kubectl("get", "secret", secret, "-n", NAMESPACE)
