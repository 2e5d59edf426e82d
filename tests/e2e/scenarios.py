"""What the suite checks after each install (chart and raw manifests alike): registration,
delivery exactly once, redeliveries and forgeries, and that deleting the BotGateway leaves only
what the user made. The fault scenarios that need one install only live in test_chart.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.e2e.harness import GATEWAY, INGRESS_HOST, NAMESPACE, E2EError, KindEnvironment
from tests.e2e.traffic import shaped
from tests.support.cluster import wait_until

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
OWNED_KINDS = (
    "configmaps,secrets,services,deployments.apps,ingresses.networking.k8s.io,"
    "cronjobs.batch,poddisruptionbudgets.policy"
)


def quietly(check: Callable[[], bool]) -> Callable[[], bool]:
    """A polled condition for which a failed kubectl call (a pod restarting) means "not yet"."""

    def polled() -> bool:
        try:
            return check()
        except (E2EError, ValueError, KeyError):
            return False

    return polled


def tokens(env: KindEnvironment) -> dict[str, str]:
    return {slug: env.secret_value(f"{slug}-bot", "token") for slug in BOTS}


def registered_secrets(env: KindEnvironment) -> dict[str, str]:
    """The secret token Telegram was given for each bot: what it sends back with each update."""
    hooks = env.webhooks()
    return {slug: str(hooks[token]["secret_token"]) for slug, token in tokens(env).items()}


def job_rows(env: KindEnvironment, slug: str, update_id: int) -> list[dict[str, Any]]:
    return [j for j in env.jobs() if j["bot_slug"] == slug and j["update_id"] == update_id]


def all_done(env: KindEnvironment, keys: set[tuple[str, int]]) -> bool:
    done = {(j["bot_slug"], j["update_id"]) for j in env.jobs() if j["status"] == "done"}
    return keys <= done


def deliveries(env: KindEnvironment) -> Counter[tuple[str, int]]:
    return Counter((a["bot"], a["update_id"]) for a in env.arrivals())


def check_registration(env: KindEnvironment) -> None:
    hooks = env.webhooks()
    bot_tokens = tokens(env)
    support, relay = hooks[bot_tokens["support"]], hooks[bot_tokens["relay"]]
    assert support["url"] == f"https://{INGRESS_HOST}/webhook/support"
    assert support["secret_token"] == env.secret_value("support-bot", "webhookSecret")
    assert support["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert relay["url"] == f"https://{INGRESS_HOST}/webhook/relay"
    # No webhookSecretRef: the operator generated one and keeps it in its own Secret.
    assert relay["secret_token"] == env.secret_value(f"{GATEWAY}-webhook-secrets", "relay")


def check_exactly_once(env: KindEnvironment, first_id: int) -> None:
    secrets = registered_secrets(env)
    sent = {
        ("support", first_id + 1): shaped(first_id + 1, "text_message"),
        ("support", first_id + 2): shaped(first_id + 2, "edited_message"),
        ("support", first_id + 3): shaped(first_id + 3, "callback_query"),
        ("relay", first_id + 4): shaped(first_id + 4, "photo"),
        ("relay", first_id + 5): shaped(first_id + 5, "channel_post"),
    }
    for (slug, _), update in sent.items():
        status, body, _ = env.post_update(slug, update, secret=secrets[slug])
        assert status == 200, body

    wait_until(
        quietly(lambda: all_done(env, set(sent))),
        timeout=120,
        interval=1,
        message="every update stored, delivered and done",
    )
    counts = deliveries(env)
    forwarded = {(a["bot"], a["update_id"]): a["update"] for a in env.arrivals()}
    for key, update in sent.items():
        assert counts[key] == 1, f"{key} delivered {counts[key]} times"
        assert forwarded[key] == update  # the JSON value Telegram sent, unchanged


def check_redelivery_ignored_and_forgery_refused(env: KindEnvironment, first_id: int) -> None:
    secrets = registered_secrets(env)
    original_id, forged_id, sentinel_id = first_id + 1, first_id + 2, first_id + 3
    original = shaped(original_id, "text_message")
    assert env.post_update("support", original, secret=secrets["support"])[0] == 200
    wait_until(
        quietly(lambda: all_done(env, {("support", original_id)})),
        timeout=120,
        interval=1,
        message="the original update to be done",
    )

    # Telegram redelivers when it missed our answer: same update, same id.
    status, body, _ = env.post_update("support", original, secret=secrets["support"])
    assert status == 200, body
    forged = shaped(forged_id, "text_message")
    assert env.post_update("support", forged, secret="not-the-secret")[0] == 401
    assert env.post_update("support", forged, secret=None)[0] == 401
    # A later update done with nothing else pending or running means the redelivery, had it
    # been stored, would have been handled by now.
    sentinel = shaped(sentinel_id, "edited_message")
    assert env.post_update("support", sentinel, secret=secrets["support"])[0] == 200

    def settled() -> bool:
        totals = env.queue_totals()
        idle = totals.get("pending", 0) == 0 and totals.get("running", 0) == 0
        return idle and all_done(env, {("support", sentinel_id)})

    wait_until(
        quietly(settled), timeout=120, interval=1, message="the sentinel done and the queue idle"
    )
    assert deliveries(env)[("support", original_id)] == 1
    (row,) = job_rows(env, "support", original_id)
    assert row["attempts"] == 1
    assert job_rows(env, "support", forged_id) == []
    assert deliveries(env)[("support", forged_id)] == 0


class ChecksAfterInstall:
    """The checks every install path gets: a test module subclasses this as `Test...`, with an
    `installed` fixture and its own range of update ids (both share one database and backend)."""

    first_id: int

    def test_the_operator_registered_each_webhook(self, installed: KindEnvironment) -> None:
        check_registration(installed)

    def test_updates_through_the_ingress_reach_the_backend_exactly_once(
        self, installed: KindEnvironment
    ) -> None:
        check_exactly_once(installed, self.first_id + 1000)

    def test_a_redelivered_update_is_ignored_and_a_forged_one_refused(
        self, installed: KindEnvironment
    ) -> None:
        check_redelivery_ignored_and_forgery_refused(installed, self.first_id + 2000)


def check_deletion_removes_everything_owned(env: KindEnvironment) -> None:
    bot_tokens = tokens(env)
    gateway = env.kubectl_json("get", "botgateway", GATEWAY, "-n", NAMESPACE)
    uid = gateway["metadata"]["uid"]

    def owned() -> set[tuple[str, str]]:
        items = env.kubectl_json("get", OWNED_KINDS, "-n", NAMESPACE)["items"]
        return {
            (i["kind"], i["metadata"]["name"])
            for i in items
            if any(r.get("uid") == uid for r in i["metadata"].get("ownerReferences", []))
        }

    children = owned()
    assert {kind for kind, _ in children} >= CHILD_KINDS, children

    # The finalizer deregisters the webhooks before the object goes.
    earlier = len(env.telegram_calls("deleteWebhook"))
    env.kubectl("delete", "botgateway", GATEWAY, "-n", NAMESPACE, "--timeout=180s", timeout=200)
    deleted = {c["token"] for c in env.telegram_calls("deleteWebhook")[earlier:]}
    assert deleted >= set(bot_tokens.values())
    assert all(env.webhooks()[t]["url"] == "" for t in bot_tokens.values())

    def nothing_left() -> bool:
        selector = f"app.kubernetes.io/instance={GATEWAY}"
        leftovers = env.kubectl_json(
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
        env.kubectl("get", "secret", secret, "-n", NAMESPACE)
