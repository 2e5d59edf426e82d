"""The Helm chart: lint, render, install on the real API server, run the operator with the chart's
ServiceAccount, uninstall (the CRD stays)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.test_operator import OperatorProcess, condition, gateway_pods_ready
from tests.support.cluster import ControlPlane, wait_until
from tests.support.fake_telegram_api import FakeTelegramApi

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "botgateway"
TOOLS = ROOT / ".cache" / "tools"
RELEASE = "bgw"
NAMESPACE = "chart-bots"
LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
)
EVERYTHING = [
    "--set", "postgresql.enabled=true",
    "--set", "metrics.serviceMonitor.enabled=true",
    "--set", "metrics.prometheusRule.enabled=true",
    "--set", "networkPolicy.enabled=true",
    "--set", "operator.watchNamespaces={chart-bots,chart-more}",
]  # fmt: skip


@pytest.fixture(scope="module")
def helm() -> Path:
    binary = TOOLS / "helm"
    if not binary.exists() and shutil.which("go"):
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "cluster-tools.sh"), "helm"],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
    if not binary.exists():
        pytest.skip("helm is not built (.cache/tools) and Go is absent")
    return binary


def run_helm(
    helm: Path, *args: str, cp: ControlPlane | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [str(helm), *args]
    if cp is not None:
        cmd += ["--kubeconfig", str(cp.kubeconfig_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def render(helm: Path, *args: str) -> list[dict[str, Any]]:
    out = run_helm(
        helm, "template", RELEASE, str(CHART), "-n", NAMESPACE, "--kube-version", "1.32.0", *args
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_lint_is_clean(helm: Path) -> None:
    for values in ([], EVERYTHING, ["--set", "operator.clusterWide=true"]):
        result = run_helm(helm, "lint", "--strict", str(CHART), *values)
        assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
        assert "[WARNING]" not in result.stdout


def test_values_schema_refuses_mistakes(helm: Path) -> None:
    result = run_helm(helm, "template", str(CHART), "--set", "operator.interval=soon", check=False)
    assert result.returncode != 0
    # The wording depends on Helm's JSON-schema library; the field is named either way.
    assert re.search(r"operator[./]interval", result.stderr), result.stderr
    assert "does not match pattern" in result.stderr
    typo = run_helm(helm, "template", str(CHART), "--set", "operatr.interval=1s", check=False)
    assert typo.returncode != 0
    assert re.search(r"(?i)additional propert.*operatr.*not allowed", typo.stderr), typo.stderr


def test_every_object_has_the_standard_labels(helm: Path) -> None:
    for doc in render(helm, *EVERYTHING):
        labels = doc["metadata"].get("labels", {})
        missing = [label for label in LABELS if label not in labels]
        assert not missing, f"{doc['kind']}/{doc['metadata']['name']} lacks {missing}"


def test_rbac_matches_deploy_and_binds_only_watched_namespaces(helm: Path) -> None:
    deploy = [d for d in yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()) if d]
    (deploy_role,) = [d for d in deploy if d["kind"] == "ClusterRole"]
    docs = render(helm, *EVERYTHING)
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    assert role["rules"] == deploy_role["rules"]
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["chart-bots", "chart-more"]
    assert not [d for d in docs if d["kind"] == "ClusterRoleBinding"]
    wide = render(helm, "--set", "operator.clusterWide=true")
    assert [d["kind"] for d in wide if d["kind"].endswith("Binding")] == ["ClusterRoleBinding"]


def test_operator_deployment_and_extras_render(helm: Path) -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in render(helm, *EVERYTHING)}
    operator = docs[("Deployment", "bgw-botgateway-operator")]
    assert operator["spec"]["replicas"] == 1
    assert operator["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = operator["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["BOTGATEWAY_NAMESPACES"] == "chart-bots,chart-more"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    rules = docs[("PrometheusRule", "bgw-botgateway")]["spec"]["groups"][0]["rules"]
    assert {r["alert"] for r in rules} >= {
        "BotGatewayDeadJobsRising",
        "BotGatewayOldestPendingTooOld",
        "BotGatewayJanitorFailing",
        "BotGatewayJanitorRoundsMissing",
    }
    (missing,) = [r for r in rules if r["alert"] == "BotGatewayJanitorRoundsMissing"]
    assert "botgateway_janitor_last_round_timestamp_seconds) > 1800" in missing["expr"]
    assert ("ServiceMonitor", "bgw-botgateway-gateways") in docs
    assert ("StatefulSet", "bgw-botgateway-postgresql") in docs
    assert any(kind == "NetworkPolicy" for kind, _ in docs)
    test_pod = docs[("Pod", "bgw-botgateway-test-operator")]
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"


def test_the_image_values_set_the_operator_and_the_gateways_image(helm: Path) -> None:
    """The quick start's `--set image.repository=... --set image.tag=...`."""
    docs = render(
        helm, "--set", "image.repository=ghcr.io/owner/botgateway", "--set", "image.tag=9.9.9"
    )
    (operator,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = operator["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["image"] == env["BOTGATEWAY_IMAGE"] == "ghcr.io/owner/botgateway:9.9.9"


def test_the_demo_database_secret_is_where_botgateways_can_read_it(helm: Path) -> None:
    """A BotGateway reads its database Secret in its own namespace: postgresql.enabled writes the
    same Secret into each namespace a BotGateway can live in, with a URL that works from there."""
    far = {
        "name": "far",
        "namespace": "far-away",
        "spec": {"database": {"secretRef": {"name": "bgw-botgateway-postgresql"}}, "bots": []},
    }
    docs = render(
        helm, *EVERYTHING,
        "--set-json", f"botGateways=[{json.dumps(far)}]",
        "--set", "postgresql.secretNamespaces={extra}",
    )  # fmt: skip
    secrets = {
        d["metadata"]["namespace"]: d["stringData"]
        for d in docs
        if d["kind"] == "Secret" and d["metadata"]["name"] == "bgw-botgateway-postgresql"
    }
    assert sorted(secrets) == sorted([NAMESPACE, "chart-more", "far-away", "extra"])
    (url,) = {s["DATABASE_URL"] for s in secrets.values()}
    assert re.fullmatch(
        rf"postgresql://botgateway:\w{{24}}@bgw-botgateway-postgresql\.{NAMESPACE}\.svc:5432/botgateway",
        url,
    )
    # The server's own password stays where the server runs.
    assert [ns for ns, s in secrets.items() if "POSTGRES_PASSWORD" in s] == [NAMESPACE]
    alone = render(helm, "--set", "postgresql.enabled=true")
    assert [d["metadata"]["namespace"] for d in alone if d["kind"] == "Secret"] == [NAMESPACE]


@pytest.fixture(scope="module")
def installed(control_plane: ControlPlane, helm: Path) -> ControlPlane:
    cp = control_plane
    cp.kubectl("create", "namespace", NAMESPACE)
    cp.kubectl("create", "secret", "generic", "chart-bot", "-n", NAMESPACE,
               "--from-literal=token=4242:CHART-TOKEN")  # fmt: skip
    values = {
        "postgresql": {"enabled": True},
        "networkPolicy": {"enabled": True},
        "botGateways": [
            {
                "name": "from-values",
                "spec": {
                    "database": {"secretRef": {"name": "bgw-botgateway-postgresql"}},
                    "bots": [
                        {
                            "slug": "chart",
                            "tokenSecretRef": {"name": "chart-bot"},
                            "handler": {"type": "discard"},
                        }
                    ],
                    "webhook": {"publicBaseUrl": "https://chart.example.com"},
                },
            }
        ],
    }
    values_file = cp.directory / "chart-values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    result = run_helm(
        helm, "install", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(values_file), cp=cp
    )
    assert "STATUS: deployed" in result.stdout
    assert "It watches BotGateways in: chart-bots" in result.stdout  # NOTES.txt
    return cp


def test_install_creates_the_operator_and_the_gateway(installed: ControlPlane) -> None:
    cp = installed
    crd = cp.kubectl_json("get", "crd", "botgateways.botgateway.dev")
    assert crd["spec"]["versions"][0]["name"] == "v1alpha1"
    for kind, name in [
        ("deployment", "bgw-botgateway-operator"),
        ("serviceaccount", "bgw-botgateway-operator"),
        ("rolebinding", "bgw-botgateway-operator"),
        ("statefulset", "bgw-botgateway-postgresql"),
        ("secret", "bgw-botgateway-postgresql"),
        ("botgateway", "from-values"),
        ("networkpolicy", "bgw-botgateway-operator"),
    ]:
        cp.kubectl("get", kind, name, "-n", NAMESPACE)


def test_operator_runs_with_the_charts_service_account(
    installed: ControlPlane, helm: Path, tmp_path: Path
) -> None:
    cp = installed
    kubeconfig = cp.service_account_kubeconfig(NAMESPACE, "bgw-botgateway-operator")
    with FakeTelegramApi() as api:
        operator = OperatorProcess(kubeconfig, api.base_url, tmp_path, namespace=NAMESPACE)
        operator.start()
        try:

            def ready() -> dict[str, Any] | None:
                gateway_pods_ready(cp, "from-values", NAMESPACE)
                obj: dict[str, Any] = cp.kubectl_json(
                    "get", "botgateway", "from-values", "-n", NAMESPACE
                )
                ok = condition(obj, "Ready").get("status") == "True"
                return obj if ok else None

            obj = wait_until(ready, timeout=60, message="the chart's BotGateway to be Ready")
            assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
            (call,) = api.calls("setWebhook", "4242:CHART-TOKEN")
            assert call.params["url"] == "https://chart.example.com/webhook/chart"
            # The demo database is in-cluster (no pods here): a condition, not a crash.
            wait_until(
                lambda: (
                    condition(
                        cp.kubectl_json("get", "botgateway", "from-values", "-n", NAMESPACE),
                        "QueueHealthy",
                    ).get("reason")
                    == "DatabaseUnavailable"
                ),
                timeout=60,
                message="QueueHealthy=False/DatabaseUnavailable",
            )

            # As NOTES.txt says: BotGateways first, while the operator runs, then the chart.
            cp.kubectl("delete", "botgateway", "from-values", "-n", NAMESPACE, "--timeout=60s")
            assert len(api.calls("deleteWebhook", "4242:CHART-TOKEN")) == 1
            result = run_helm(helm, "uninstall", RELEASE, "-n", NAMESPACE, "--wait", cp=cp)
            assert "uninstalled" in result.stdout
        finally:
            operator.stop()

    # Helm keeps crds/ on uninstall: other BotGateways survive a chart removal.
    cp.kubectl("get", "crd", "botgateways.botgateway.dev")
    gone = cp.kubectl("get", "deployment", "bgw-botgateway-operator", "-n", NAMESPACE, check=False)
    assert "NotFound" in gone.stderr
