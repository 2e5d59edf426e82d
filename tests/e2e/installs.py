"""The two ways a user installs botgateway, run for real against the kind cluster: the Helm chart
and the raw manifests of deploy/ (`kubectl apply -k`, through a small kustomize overlay as a user
would adapt them). Each installs the operator, applies the suite's BotGateway, waits until it
serves through the Ingress, and uninstalls, reporting what was left behind."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.e2e.harness import (
    GATEWAY,
    MANIFESTS,
    NAMESPACE,
    ROOT,
    KindEnvironment,
)
from tests.support.cluster import wait_until

CHART = ROOT / "charts" / "botgateway"
DEPLOY_OVERLAY = MANIFESTS / "deploy-overlay"
BOTGATEWAY = MANIFESTS / "botgateway.yaml"
RELEASE = "bgw"
# Cluster-scoped things each install creates, by kind: none may outlive its uninstall (the CRD
# aside, which Helm keeps by design: docs/kubernetes/helm.md).
CLUSTER_KINDS = (
    "clusterroles.rbac.authorization.k8s.io,clusterrolebindings.rbac.authorization.k8s.io"
)


def apply_gateway(env: KindEnvironment, secret: str) -> None:
    """Apply the suite's BotGateway and wait until it is Ready, Available and its gateway
    answers through the Ingress (a wrong secret gets the gateway's own 401)."""
    env.kubectl("apply", "-f", str(BOTGATEWAY))
    for condition in ("Ready", "Available"):
        env.kubectl(
            "wait", "-n", NAMESPACE, f"botgateway/{GATEWAY}", f"--for=condition={condition}",
            "--timeout=300s",
            timeout=330,
        )  # fmt: skip
    wait_until(
        lambda: env.post_update("support", {"update_id": 1}, secret=secret)[0] == 401,
        timeout=180,
        interval=1,
        message=f"401 from the gateway through the Ingress at {env.ingress_url}",
    )


def labelled_leftovers(env: KindEnvironment, selector: str, namespaces: list[str]) -> list[str]:
    found = [
        f"{item['kind']}/{item['metadata']['name']}"
        for item in env.kubectl_json("get", CLUSTER_KINDS, "-l", selector)["items"]
    ]
    for namespace in namespaces:
        result = env.kubectl("get", "namespace", namespace, check=False)
        if result.returncode == 0:
            items = env.kubectl_json(
                "get", "all,configmaps,secrets", "-n", namespace, "-l", selector
            )
            found += [f"{i['kind']}/{i['metadata']['name']}" for i in items["items"]]
    return found


def settled_leftovers(env: KindEnvironment, selector: str, namespaces: list[str]) -> list[str]:
    """What is left once terminating pods had their grace period (up to 90 s)."""
    deadline = time.monotonic() + 90
    while (left := labelled_leftovers(env, selector, namespaces)) and time.monotonic() < deadline:
        time.sleep(2)
    return left


@dataclass
class ChartInstall:
    """`helm install` with tests/e2e/manifests/values.yaml, then `helm test`."""

    name: str = "helm chart"
    operator_namespace: str = "botgateway-e2e"
    operator_deployment: str = f"{RELEASE}-botgateway-operator"

    def install(self, env: KindEnvironment) -> None:
        env.helm(
            "install", RELEASE, str(CHART), "-n", self.operator_namespace, "--create-namespace",
            "-f", str(MANIFESTS / "values.yaml"), "--wait", "--timeout", "5m",
        )  # fmt: skip
        env.helm("test", RELEASE, "-n", self.operator_namespace, "--timeout", "3m")

    def upgrade(self, env: KindEnvironment, *settings: str) -> None:
        """`helm upgrade --reuse-values` with `--set` settings, waiting for the operator."""
        sets = [arg for setting in settings for arg in ("--set", setting)]
        env.helm(
            "upgrade", RELEASE, str(CHART), "-n", self.operator_namespace, "--reuse-values",
            *sets, "--wait", "--timeout", "5m",
        )  # fmt: skip

    def uninstall(self, env: KindEnvironment) -> list[str]:
        env.helm("uninstall", RELEASE, "-n", self.operator_namespace, "--wait", "--timeout", "3m")
        return settled_leftovers(
            env, f"app.kubernetes.io/instance={RELEASE}", [self.operator_namespace, NAMESPACE]
        )


@dataclass
class KustomizeInstall:
    """`kubectl apply -k` of deploy/ through tests/e2e/manifests/deploy-overlay."""

    name: str = "kubectl apply -k deploy/"
    operator_namespace: str = "botgateway-system"
    operator_deployment: str = "botgateway-operator"

    def install(self, env: KindEnvironment) -> None:
        env.kubectl("apply", "-k", str(DEPLOY_OVERLAY))
        env.rollout(self.operator_namespace, f"deployment/{self.operator_deployment}")

    def uninstall(self, env: KindEnvironment) -> list[str]:
        env.kubectl(
            "delete", "-k", str(DEPLOY_OVERLAY), "--wait=true", "--timeout=180s", timeout=200
        )
        left = settled_leftovers(env, "app.kubernetes.io/part-of=botgateway", [])
        for kind, name in (
            ("namespace", self.operator_namespace),
            ("crd", "botgateways.botgateway.dev"),
        ):
            if env.kubectl("get", kind, name, check=False).returncode == 0:
                left.append(f"{kind}/{name}")
        return left
