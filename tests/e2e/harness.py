"""The kind end-to-end environment: prerequisites, the cluster, diagnostics, and the calls the
tests make into the cluster.

`KindEnvironment.up()` creates a kind cluster from ``tests/e2e/kind-config.yaml`` with the node
image that scripts/e2e-images.sh built, loads the images, installs the Traefik Ingress controller
(``manifests/traefik.yaml``), the e2e apps (``manifests/``: a recording backend and a fake Bot
API) and PostgreSQL (``deploy/examples/postgres.yaml``). The gateway itself is installed by the
tests, once from the chart and once from ``deploy/`` (installs.py). `down()` deletes the cluster;
`dump()` writes pod logs, events and the operator log to ``.cache/e2e/diagnostics/``.

Telegram's side is played through the Ingress: the suite posts to Traefik's NodePort on the
node's address with the Ingress host, exactly what an Ingress behind a load balancer receives.

Also a command line for scripts/e2e.sh::

    python -m tests.e2e.harness check     # exit 0, or 3 and one line saying what is missing
    python -m tests.e2e.harness cleanup   # delete the cluster if it exists
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]

TOOLS_DIR = ROOT / ".cache" / "tools"
E2E_DIR = ROOT / "tests" / "e2e"
MANIFESTS = E2E_DIR / "manifests"
KIND_CONFIG = E2E_DIR / "kind-config.yaml"
IMAGES_SCRIPT = ROOT / "scripts" / "e2e-images.sh"
POSTGRES = ROOT / "deploy" / "examples" / "postgres.yaml"
ARTIFACTS = ROOT / ".cache" / "e2e"

CLUSTER = "botgateway-e2e"
NODE = f"{CLUSTER}-control-plane"
IMAGE = "botgateway:e2e"
# The same image under a second tag: what a rolling upgrade moves the gateway to.
NEXT_IMAGE = "botgateway:e2e-next"
NAMESPACE = "bots-e2e"
GATEWAY = "e2e"
INGRESS_HOST = "bots.e2e.test"
INGRESS_CLASS = "traefik"
TRAEFIK_NAMESPACE = "traefik"
# Traefik's Service exposes its web entrypoint on this port of the node (manifests/traefik.yaml).
INGRESS_NODE_PORT = 30080

OPT_IN = "BOTGATEWAY_E2E"
MISSING_EXIT = 3
# Bit 24 of the capability bounding set: CAP_SYS_RESOURCE (scripts/e2e/setup-machine.sh).
CAP_SYS_RESOURCE = 24


class E2EError(RuntimeError):
    """A step of the environment failed; the message names the command and its output."""


@dataclass(frozen=True)
class Tools:
    docker: str
    kind: str
    helm: str
    kubectl: str


@dataclass(frozen=True)
class Images:
    """What scripts/e2e-images.sh built (its --names)."""

    node: str
    traefik: str
    postgres: str
    botgateway: str


# -- prerequisites ----------------------------------------------------------------------------


def _tool(name: str) -> str | None:
    local = TOOLS_DIR / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def docker_problem() -> str | None:
    """Why Docker cannot be used here, in a few words, or None."""
    docker = shutil.which("docker")
    if docker is None:
        return "no docker command"
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "no Docker daemon (`docker info` did not answer in 30s)"
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        return f"no Docker daemon (`docker info`: {detail})"
    return None


def needs_capability_workaround() -> bool:
    """Whether Docker here lacks CAP_SYS_RESOURCE (then setup-machine.sh chose the runtime that
    drops it, and the node's containerd must not lower oom_score_adj)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("CapBnd:"):
            return not (int(line.split()[1], 16) >> CAP_SYS_RESOURCE) & 1
    return False


@functools.cache
def find_tools(*, build: bool) -> Tools | str:
    """The tools the suite needs, or one line saying what is missing.

    Docker is checked first (nothing else matters without it). Where Go is present, kind, helm
    and (when the machine has none) kubectl are built or linked by scripts/cluster-tools.sh.
    """
    problem = docker_problem()
    if problem:
        return f"e2e needs Docker: {problem}"
    wanted = {name: _tool(name) for name in ("kind", "helm", "kubectl")}
    missing = [name for name, path in wanted.items() if path is None]
    if missing and build and shutil.which("go"):
        print(f"e2e: building {', '.join(missing)} (scripts/cluster-tools.sh)", file=sys.stderr)
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "cluster-tools.sh"), *missing],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-3:])
            return f"e2e needs {', '.join(missing)}: scripts/cluster-tools.sh failed ({tail})"
        wanted = {name: _tool(name) for name in wanted}
        missing = [name for name, path in wanted.items() if path is None]
    if missing:
        return (
            f"e2e needs {', '.join(missing)}: not in .cache/tools or on PATH "
            "(`make cluster-tools` builds them where Go is installed)"
        )
    docker = shutil.which("docker")
    assert docker is not None
    return Tools(
        docker=docker,
        kind=str(wanted["kind"]),
        helm=str(wanted["helm"]),
        kubectl=str(wanted["kubectl"]),
    )


def built_images() -> Images | str:
    """The images of scripts/e2e-images.sh, or one line saying which are missing."""
    result = subprocess.run(
        ["bash", str(IMAGES_SCRIPT), "--names"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return f"scripts/e2e-images.sh --names failed: {result.stderr.strip()}"
    names = dict(line.split("=", 1) for line in result.stdout.split())
    images = Images(
        node=names["NODE_IMAGE"],
        traefik=names["TRAEFIK_IMAGE"],
        postgres=names["POSTGRES_IMAGE"],
        botgateway=names["BOTGATEWAY_IMAGE"],
    )
    missing = [
        name
        for name in (images.node, images.traefik, images.postgres, images.botgateway)
        if subprocess.run(
            ["docker", "image", "inspect", name], capture_output=True, check=False
        ).returncode
        != 0
    ]
    if missing:
        return f"images not built: {', '.join(missing)} (bash scripts/e2e-images.sh builds them)"
    return images


def unavailable() -> str | None:
    """Why the tier cannot or should not run here (one line), or None when it runs.

    Missing tools come first, so a machine without Docker says so; a machine with everything
    runs the tier only when asked (`make e2e` sets BOTGATEWAY_E2E=1).
    """
    requested = os.environ.get(OPT_IN) == "1"
    tools = find_tools(build=requested)
    if isinstance(tools, str):
        return tools
    if not requested:
        return f"e2e: creates a kind cluster, so it runs under `make e2e` ({OPT_IN}=1) only"
    return None


# Where Docker lacks CAP_SYS_RESOURCE, the node's containerd must not lower oom_score_adj
# (the kubelet asks for -998 for critical pods), which needs it.
CONTAINERD_PATCH = '[plugins."io.containerd.grpc.v1.cri"]\n  restrict_oom_score_adj = true\n'


def kind_config(node_image: str, *, restrict_oom_score_adj: bool | None = None) -> dict[str, Any]:
    """tests/e2e/kind-config.yaml with the node image built here and, where Docker lacks
    CAP_SYS_RESOURCE (or when asked), the containerd patch."""
    if restrict_oom_score_adj is None:
        restrict_oom_score_adj = needs_capability_workaround()
    config: dict[str, Any] = yaml.safe_load(KIND_CONFIG.read_text())
    for node in config["nodes"]:
        node["image"] = node_image
    if restrict_oom_score_adj:
        config["containerdConfigPatches"] = [CONTAINERD_PATCH]
    return config


# -- the environment --------------------------------------------------------------------------


def _say_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class KindEnvironment:
    tools: Tools
    images: Images
    workdir: Path
    say: Callable[[str], None] = _say_to_stderr
    # (namespace, Deployment) of the operator installed now, for diagnostics.
    operator: tuple[str, str] | None = None
    _node_address: str = ""

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    # -- running things ------------------------------------------------------------------

    def run(
        self,
        cmd: Sequence[str],
        *,
        input: str | None = None,
        timeout: float = 300,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run(
                list(cmd),
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                cwd=ROOT,
            )
        except subprocess.TimeoutExpired as exc:
            raise E2EError(f"{' '.join(cmd)} did not finish in {timeout:.0f}s") from exc
        if check and result.returncode != 0:
            raise E2EError(
                f"{' '.join(cmd)} failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.tools.kubectl, "--kubeconfig", str(self.kubeconfig), *args]
        return self.run(cmd, input=input, check=check, timeout=timeout)

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def helm(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            [self.tools.helm, *args, "--kubeconfig", str(self.kubeconfig)],
            timeout=timeout,
            check=check,
        )

    def docker(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        return self.run([self.tools.docker, *args], check=check, timeout=timeout).stdout

    def rollout(self, namespace: str, workload: str, timeout: int = 300) -> None:
        self.kubectl(
            "rollout", "status", "-n", namespace, workload, f"--timeout={timeout}s",
            timeout=timeout + 30,
        )  # fmt: skip

    # -- lifecycle -----------------------------------------------------------------------

    def up(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.down(quiet=True)  # a cluster left by a killed run has our name: start clean
        config = self.workdir / "kind-config.yaml"
        config.write_text(yaml.safe_dump(kind_config(self.images.node)))
        with self._timed("create the cluster"):
            self.say(f"e2e: creating kind cluster {CLUSTER} from {self.images.node}")
            self.run(
                [self.tools.kind, "create", "cluster", "--name", CLUSTER, "--config", str(config),
                 "--kubeconfig", str(self.kubeconfig), "--wait", "180s"],
                timeout=600,
            )  # fmt: skip
        with self._timed("load the images"):
            self.docker("tag", self.images.botgateway, NEXT_IMAGE)
            for image in (
                self.images.botgateway,
                NEXT_IMAGE,
                self.images.traefik,
                self.images.postgres,
            ):
                self.say(f"e2e: loading {image} into the node")
                self.run([self.tools.kind, "load", "docker-image", image, "--name", CLUSTER])
        with self._timed("install Traefik, the e2e apps and PostgreSQL"):
            # The images built here replace the manifests' own before the first apply (a
            # StatefulSet does not replace a pod that never became ready).
            self.apply_with_image(MANIFESTS / "traefik.yaml", "traefik", self.images.traefik)
            self.kubectl("apply", "-k", str(MANIFESTS))
            self.apply_with_image(POSTGRES, "postgres", self.images.postgres, NAMESPACE)
            self.rollout(TRAEFIK_NAMESPACE, "deployment/traefik")
            for workload in (
                "deployment/backend",
                "deployment/fake-telegram",
                "statefulset/postgres",
            ):
                self.rollout(NAMESPACE, workload)
        self.say(f"e2e: cluster ready; Ingress at {self.ingress_url}")

    def apply_with_image(
        self, path: Path, container: str, image: str, namespace: str | None = None
    ) -> None:
        """`kubectl apply` of a manifest file with one container's image replaced."""
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for document in documents:
            pod = document.get("spec", {}).get("template", {}).get("spec", {})
            for spec in pod.get("containers", []):
                if spec["name"] == container:
                    spec["image"] = image
        where = ["-n", namespace] if namespace else []
        self.kubectl("apply", *where, "-f", "-", input=yaml.safe_dump_all(documents))

    @contextlib.contextmanager
    def _timed(self, what: str) -> Iterator[None]:
        """Say how long a step of the environment took."""
        start = time.monotonic()
        yield
        self.say(f"e2e: {what}: {time.monotonic() - start:.0f}s")

    @property
    def node_address(self) -> str:
        """The node container's address on kind's Docker network (it can change on a restart;
        while the container restarts it has none, and the last one known stands)."""
        networks = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        out = self.docker("inspect", "--format", networks, NODE, check=False)
        if out.split():
            self._node_address = out.split()[0]
        return self._node_address

    @property
    def ingress_url(self) -> str:
        return f"http://{self.node_address}:{INGRESS_NODE_PORT}"

    def down(self, *, quiet: bool = False) -> None:
        """Delete the cluster; safe to call twice."""
        if not quiet:
            self.say(f"e2e: deleting kind cluster {CLUSTER}")
        self.run(
            [self.tools.kind, "delete", "cluster", "--name", CLUSTER,
             "--kubeconfig", str(self.kubeconfig)],
            check=False,
            timeout=300,
        )  # fmt: skip
        self.run([self.tools.docker, "rmi", NEXT_IMAGE], check=False, timeout=60)

    # -- diagnostics ---------------------------------------------------------------------

    def dump(self, why: str) -> Path:
        """Pod logs, events, the operator log and kind's own logs, into files; ends printed."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = ARTIFACTS / "diagnostics" / stamp
        out.mkdir(parents=True, exist_ok=True)
        self.say(f"e2e: {why}; diagnostics in {out}")

        def save(name: str, cmd: Sequence[str], show: int = 0) -> None:
            try:
                result = self.run(cmd, check=False, timeout=120)
                text = result.stdout + result.stderr
            except E2EError as exc:
                text = str(exc)
            (out / name).write_text(text)
            if show:
                lines = text.rstrip().splitlines()[-show:]
                self.say(f"---- {name} (last {len(lines)} lines) ----")
                for line in lines:
                    self.say(line)

        kubectl = [self.tools.kubectl, "--kubeconfig", str(self.kubeconfig)]
        kinds = "all,ingress,cronjob,job,pdb,configmap,secret,botgateway"
        save("objects.txt", [*kubectl, "get", kinds, "-A", "-o", "wide"], show=60)
        save("events.txt", [*kubectl, "get", "events", "-A", "--sort-by=.lastTimestamp"], show=60)
        save("botgateway.txt", [*kubectl, "describe", "botgateway", "-n", NAMESPACE], show=40)
        if self.operator is not None:
            namespace, deployment = self.operator
            save(
                "operator.log",
                [*kubectl, "logs", "-n", namespace, f"deployment/{deployment}", "--tail=-1"],
                show=150,
            )
        for namespace in (NAMESPACE, TRAEFIK_NAMESPACE, "botgateway-system", "botgateway-e2e"):
            try:
                pods = self.kubectl_json("get", "pods", "-n", namespace).get("items", [])
            except (E2EError, ValueError):
                pods = []
            for pod in pods:
                name = pod["metadata"]["name"]
                logs = [*kubectl, "logs", "-n", namespace, name, "--all-containers", "--prefix"]
                save(f"logs-{namespace}-{name}.log", [*logs, "--tail=-1"], show=30)
                statuses = pod.get("status", {}).get("containerStatuses", [])
                if any(s.get("restartCount", 0) for s in statuses):
                    save(f"logs-{namespace}-{name}-previous.log", [*logs, "--previous"])
        export = [self.tools.kind, "export", "logs", str(out / "kind"), "--name", CLUSTER]
        save("kind-export.txt", export)
        return out

    # -- what the tests use ----------------------------------------------------------------

    def post_update(
        self, slug: str, update: dict[str, Any], *, secret: str | None, timeout: float = 15
    ) -> tuple[int, str, dict[str, str]]:
        """POST an update the way Telegram does, through the Ingress: (status, body, headers);
        status 0 when no HTTP answer came (the body then says why)."""
        headers = {"Host": INGRESS_HOST, "Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        request = urllib.request.Request(
            f"{self.ingress_url}/webhook/{slug}",
            data=json.dumps(update).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read().decode(errors="replace")
                return int(response.status), body, dict(response.headers)
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode(errors="replace"), dict(exc.headers)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # No HTTP answer, or half of one (the node going down mid-answer).
            return 0, f"{type(exc).__name__}: {exc}", {}

    def _proxy_path(self, service: str, path: str) -> str:
        return f"/api/v1/namespaces/{NAMESPACE}/services/{service}:http/proxy/{path.lstrip('/')}"

    def service_get(self, service: str, path: str) -> Any:
        """GET a JSON path of a Service in the gateway's namespace (API server proxy)."""
        return json.loads(self.kubectl("get", "--raw", self._proxy_path(service, path)).stdout)

    def service_post(self, service: str, path: str, body: dict[str, Any]) -> Any:
        raw = self.kubectl(
            "create", "--raw", self._proxy_path(service, path), "-f", "-", input=json.dumps(body)
        ).stdout
        return json.loads(raw) if raw.strip() else None

    def arrivals(self) -> list[dict[str, Any]]:
        """What the backend received, oldest first."""
        return list(self.service_get("backend", "received")["arrivals"])

    def webhooks(self) -> dict[str, dict[str, Any]]:
        """What the fake Bot API holds per bot token (url, secret_token, ...)."""
        return dict(self.service_get("fake-telegram", "e2e/webhooks")["webhooks"])

    def telegram_calls(self, method: str) -> list[dict[str, Any]]:
        calls = self.service_get("fake-telegram", "e2e/calls")["calls"]
        return [c for c in calls if c["method"] == method]

    def jobs(self) -> list[dict[str, Any]]:
        """The gateway's job rows, from `botgateway jobs list` inside a gateway pod."""
        return list(json.loads(self._gateway_cli("jobs", "list", "--json", "--limit", "100000")))

    def queue_totals(self) -> dict[str, int]:
        out = self._gateway_cli("jobs", "stats", "--json")
        return {str(k): int(v) for k, v in json.loads(out)["totals"].items()}

    def _gateway_cli(self, *args: str) -> str:
        """`botgateway <args>` in the gateway container of a gateway pod; its stdout."""
        cmd = ("exec", "-n", NAMESPACE, f"deployment/{GATEWAY}", "-c", "gateway", "--")
        return self.kubectl(*cmd, "botgateway", *args).stdout

    def secret_value(self, name: str, key: str) -> str:
        secret = self.kubectl_json("get", "secret", name, "-n", NAMESPACE)
        return base64.b64decode(secret["data"][key]).decode()

    def gateway_pods(self) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={GATEWAY},app.kubernetes.io/component=gateway"
        items = self.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", selector)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def sql(self, statement: str) -> list[list[str]]:
        """Rows of a query run by psql inside the PostgreSQL pod (unix socket, as its owner)."""
        out = self.kubectl(
            "exec", "-n", NAMESPACE, "postgres-0", "--", "psql", "-U", "botgateway",
            "-d", "botgateway", "-tA", "-F", "\t", "-c", statement,
        ).stdout  # fmt: skip
        return [line.split("\t") for line in out.splitlines() if line]

    def janitor_rounds_since(self, epoch_seconds: float) -> list[tuple[str, int]]:
        """(runner, recovered) of each janitor round recorded since then (gateway_janitor_rounds:
        `once` is the CronJob's `janitor --once`, `loop` a gateway's in-process janitor)."""
        rows = self.sql(
            "SELECT runner, recovered FROM gateway_janitor_rounds "
            f"WHERE finished_at > to_timestamp({epoch_seconds:.3f}) ORDER BY finished_at"
        )
        return [(runner, int(recovered)) for runner, recovered in rows]


def _main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        tools = find_tools(build=True)
        if isinstance(tools, str):
            print(tools)
            return MISSING_EXIT
        return 0
    if argv[:1] == ["cleanup"]:
        tools = find_tools(build=False)
        if isinstance(tools, Tools):
            images = Images("", "", "", "")
            KindEnvironment(tools, images, ARTIFACTS / "work").down(quiet=True)
        return 0
    print("usage: python -m tests.e2e.harness check|cleanup", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
