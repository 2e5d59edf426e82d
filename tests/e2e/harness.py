"""The kind end-to-end environment: prerequisites, cluster lifecycle, diagnostics, and the few
calls the tests make into the cluster.

`KindEnvironment.up()` creates a kind cluster from ``tests/e2e/kind-config.yaml`` (while the
image builds), starts cloud-provider-kind (kind's recommended Ingress, see the kind config: its
release image, or that release built with Go), loads the image, applies the e2e manifests and
deploy/examples/postgres.yaml, installs the chart with ``tests/e2e/manifests/values.yaml``, runs
``helm test``, applies the BotGateway and waits until it is Ready and answers through the
Ingress. `down()` deletes all of it; `dump()` writes pod logs, events and the operator log to
``.cache/e2e/diagnostics/`` and prints their ends.

Also a command line for scripts/e2e.sh::

    python -m tests.e2e.harness check     # exit 0, or 3 and one line saying what is missing
    python -m tests.e2e.harness cleanup   # delete the cluster and containers if they exist
"""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `python -m tests.e2e.harness` and pytest alike
    sys.path.insert(0, str(ROOT))

from tests.support.cluster import _die_with_parent, wait_until  # noqa: E402

TOOLS_DIR = ROOT / ".cache" / "tools"
E2E_DIR = ROOT / "tests" / "e2e"
MANIFESTS = E2E_DIR / "manifests"
KIND_CONFIG = E2E_DIR / "kind-config.yaml"
CHART = ROOT / "charts" / "botgateway"
POSTGRES = ROOT / "deploy" / "examples" / "postgres.yaml"
ARTIFACTS = ROOT / ".cache" / "e2e"

CLUSTER = "botgateway-e2e"
IMAGE = "botgateway:e2e"
RELEASE = "bgw"
OPERATOR_NAMESPACE = "botgateway-e2e"
OPERATOR_DEPLOYMENT = f"{RELEASE}-botgateway-operator"
NAMESPACE = "bots-e2e"
GATEWAY = "e2e"
INGRESS_HOST = "bots.e2e.test"
INGRESS_CLASS = "cloud-provider-kind"
# kind's Ingress guide covers cloud-provider-kind v0.9.0 and later. v0.10.0 (2025-11): its image
# is what the suite runs, and where the image cannot be pulled the same release is built with
# Go (a release this project's machines can fetch from the Go module proxy).
CLOUD_PROVIDER_KIND_IMAGE = "registry.k8s.io/cloud-provider-kind/cloud-controller-manager:v0.10.0"
CLOUD_PROVIDER_KIND_CONTAINER = f"{CLUSTER}-cloud-provider-kind"
# Load-balancer containers of cloud-provider-kind carry this label with the cluster's name.
CLOUD_PROVIDER_KIND_LABEL = "io.x-k8s.cloud-provider-kind.cluster"

OPT_IN = "BOTGATEWAY_E2E"
# "external": you run cloud-provider-kind yourself (e.g. the binary with sudo on macOS).
CLOUD_PROVIDER_KIND_MODE = "BOTGATEWAY_E2E_CLOUD_PROVIDER_KIND"
MISSING_EXIT = 3


class E2EError(RuntimeError):
    """A step of the environment failed; the message names the command and its output."""


@dataclass(frozen=True)
class Tools:
    docker: str
    kind: str
    helm: str
    kubectl: str


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


# -- the environment --------------------------------------------------------------------------


def _say_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class KindEnvironment:
    tools: Tools
    workdir: Path
    say: Callable[[str], None] = _say_to_stderr
    ingress_ip: str = ""
    _cloud_provider: str = ""  # "container", "process" or "" (not ours)
    _cloud_provider_process: subprocess.Popen[bytes] | None = None
    _cloud_provider_log: IO[str] | None = None

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
        env: dict[str, str] | None = None,
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
                env=env,
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

    def helm(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.run(
            [self.tools.helm, *args, "--kubeconfig", str(self.kubeconfig)], timeout=timeout
        )

    def docker(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        return self.run([self.tools.docker, *args], check=check, timeout=timeout).stdout

    # -- lifecycle -----------------------------------------------------------------------

    def up(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.down(quiet=True)  # a cluster left by a killed run has our name: start clean
        self.say(f"e2e: creating kind cluster {CLUSTER} and building {IMAGE} at once")
        create_log = (ARTIFACTS / "kind-create.log").open("w")
        create = subprocess.Popen(
            [
                self.tools.kind,
                "create",
                "cluster",
                "--name",
                CLUSTER,
                "--config",
                str(KIND_CONFIG),
                "--kubeconfig",
                str(self.kubeconfig),
                "--wait",
                "180s",
            ],
            stdout=create_log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            buildkit = {**os.environ, "DOCKER_BUILDKIT": "1"}
            build = self.run(self._build_command(), timeout=1200, check=False, env=buildkit)
            (ARTIFACTS / "docker-build.log").write_text(build.stdout + build.stderr)
            if build.returncode != 0:
                raise E2EError(f"docker build failed:\n{build.stderr[-4000:]}")
            if create.wait(timeout=600) != 0:
                create_log.flush()
                raise E2EError(
                    "kind create cluster failed:\n"
                    + (ARTIFACTS / "kind-create.log").read_text()[-4000:]
                )
        finally:
            if create.poll() is None:
                create.kill()
                create.wait()
            create_log.close()
        self._start_cloud_provider_kind()
        self.say("e2e: loading the image into the node")
        self.run([self.tools.kind, "load", "docker-image", IMAGE, "--name", CLUSTER])
        # cloud-provider-kind sends load-balancer traffic to nodes without this kubeadm label;
        # the only node here is the control plane (its README: single-node clusters drop it).
        self.kubectl(
            "label",
            "node",
            f"{CLUSTER}-control-plane",
            "node.kubernetes.io/exclude-from-external-load-balancers-",
            check=False,
        )

        self.say("e2e: applying the e2e manifests and PostgreSQL (deploy/examples/postgres.yaml)")
        self.kubectl("apply", "-k", str(MANIFESTS))
        self.kubectl("apply", "-n", NAMESPACE, "-f", str(POSTGRES))
        self.say("e2e: installing the chart (tests/e2e/manifests/values.yaml) and `helm test`")
        self.helm(
            "install",
            RELEASE,
            str(CHART),
            "-n",
            OPERATOR_NAMESPACE,
            "--create-namespace",
            "-f",
            str(MANIFESTS / "values.yaml"),
            "--wait",
            "--timeout",
            "5m",
        )
        self.helm("test", RELEASE, "-n", OPERATOR_NAMESPACE, "--timeout", "3m")
        for workload in ("deployment/backend", "deployment/fake-telegram", "statefulset/postgres"):
            self.kubectl(
                "rollout", "status", "-n", NAMESPACE, workload, "--timeout=300s", timeout=330
            )

        self.say("e2e: applying the BotGateway and waiting for it to serve through the Ingress")
        self.kubectl("apply", "-f", str(MANIFESTS / "botgateway.yaml"))
        for condition in ("Ready", "Available"):
            self.kubectl(
                "wait",
                "-n",
                NAMESPACE,
                f"botgateway/{GATEWAY}",
                f"--for=condition={condition}",
                "--timeout=300s",
                timeout=330,
            )
        self.ingress_ip = wait_until(
            self._ingress_address, timeout=180, interval=2, message="an address on the Ingress"
        )
        # A wrong secret is refused by the gateway itself (401) and stores nothing: once that
        # comes back, the load balancer routes /webhook/ to the gateway pods.
        wait_until(
            lambda: self.post_update("support", {"update_id": 1}, secret="wrong")[0] == 401,
            timeout=180,
            interval=2,
            message=f"401 from the gateway through the Ingress at {self.ingress_ip}",
        )
        self.say(f"e2e: ready; the Ingress answers at {self.ingress_ip} (Host: {INGRESS_HOST})")

    def _build_command(self) -> list[str]:
        """`docker build`, as one plain image: with buildx, no provenance or SBOM attestations,
        which turn the image into an index that `kind load` may fail to import."""
        buildx = self.run([self.tools.docker, "buildx", "version"], check=False, timeout=60)
        if buildx.returncode == 0:
            return [self.tools.docker, "buildx", "build", "--load", "--provenance=false",
                    "--sbom=false", "--tag", IMAGE, str(ROOT)]  # fmt: skip
        return [self.tools.docker, "build", "--tag", IMAGE, str(ROOT)]

    def _start_cloud_provider_kind(self) -> None:
        """Its release image, run as kind's and Kubernetes' guides do (host network, the Docker
        socket); where that image cannot be pulled, the same release built with Go."""
        if os.environ.get(CLOUD_PROVIDER_KIND_MODE) == "external":
            self.say("e2e: cloud-provider-kind is run by you (BOTGATEWAY_E2E_CLOUD_PROVIDER_KIND)")
            return
        pulled = self.run([self.tools.docker, "pull", CLOUD_PROVIDER_KIND_IMAGE], check=False)
        if pulled.returncode == 0:
            self.say(f"e2e: starting {CLOUD_PROVIDER_KIND_IMAGE}")
            socket = "/var/run/docker.sock"
            host = os.environ.get("DOCKER_HOST", "")
            if host.startswith("unix://"):
                socket = host.removeprefix("unix://")
            self.docker(
                "run",
                "--detach",
                "--name",
                CLOUD_PROVIDER_KIND_CONTAINER,
                "--network",
                "host",
                "--volume",
                f"{socket}:/var/run/docker.sock",
                CLOUD_PROVIDER_KIND_IMAGE,
            )
            self._cloud_provider = "container"
            return
        binary = self._built_cloud_provider_kind(pulled.stderr.strip().splitlines()[-1:])
        self.say(f"e2e: starting {binary}")
        self._cloud_provider_log = (ARTIFACTS / "cloud-provider-kind.log").open("w")
        self._cloud_provider_process = subprocess.Popen(
            [str(binary)],
            stdout=self._cloud_provider_log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        self._cloud_provider = "process"

    def _built_cloud_provider_kind(self, pull_error: list[str]) -> Path:
        """The pinned release built with Go, kept per user and version like the other tools,
        in a throwaway module as scripts/cluster-tools.sh builds kind."""
        go = shutil.which("go")
        if go is None:
            raise E2EError(
                f"cannot pull {CLOUD_PROVIDER_KIND_IMAGE} ({' '.join(pull_error)}) and Go is "
                "absent to build cloud-provider-kind"
            )
        version = CLOUD_PROVIDER_KIND_IMAGE.rsplit(":", 1)[1]
        cache = Path(
            os.environ.get("BOTGATEWAY_TOOLS_CACHE")
            or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            / "botgateway"
            / "tools"
        )
        binary = cache / f"cloud-provider-kind-{version}" / "cloud-provider-kind"
        if binary.exists():
            return binary
        self.say(f"e2e: building cloud-provider-kind {version} with Go (once per machine)")
        module = self.workdir / "cloud-provider-kind"
        module.mkdir(parents=True, exist_ok=True)
        (module / "go.mod").write_text(
            "module botgateway.invalid/cloudproviderkind\n\ngo 1.24.0\n\n"
            f"require sigs.k8s.io/cloud-provider-kind {version}\n"
        )
        built = module / "cloud-provider-kind"
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        result = subprocess.run(
            [go, "build", "-trimpath", "-o", str(built), "sigs.k8s.io/cloud-provider-kind"],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
            cwd=module,
            env=env,
        )
        if result.returncode != 0:
            raise E2EError(f"building cloud-provider-kind {version} failed:\n{result.stderr}")
        binary.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, binary)
        return binary

    def _ingress_address(self) -> str | None:
        ingress = self.kubectl_json("get", "ingress", GATEWAY, "-n", NAMESPACE)
        for point in ingress.get("status", {}).get("loadBalancer", {}).get("ingress") or []:
            address = point.get("ip") or point.get("hostname")
            if address:
                return str(address)
        return None

    def down(self, *, quiet: bool = False) -> None:
        """Delete the cluster and cloud-provider-kind's containers; safe to call twice."""
        if not quiet:
            self.say(f"e2e: deleting kind cluster {CLUSTER}")
        if self._cloud_provider_process is not None:
            self._cloud_provider_process.terminate()
            try:
                self._cloud_provider_process.wait(30)
            except subprocess.TimeoutExpired:
                self._cloud_provider_process.kill()
                self._cloud_provider_process.wait()
            self._cloud_provider_process = None
        if self._cloud_provider_log is not None:
            self._cloud_provider_log.close()
            self._cloud_provider_log = None
        self.run(
            [self.tools.docker, "rm", "--force", CLOUD_PROVIDER_KIND_CONTAINER],
            check=False,
            timeout=120,
        )
        self.run(
            [
                self.tools.kind,
                "delete",
                "cluster",
                "--name",
                CLUSTER,
                "--kubeconfig",
                str(self.kubeconfig),
            ],
            check=False,
            timeout=300,
        )
        leftovers = self.run(
            [
                self.tools.docker,
                "ps",
                "--all",
                "--quiet",
                "--filter",
                f"label={CLOUD_PROVIDER_KIND_LABEL}={CLUSTER}",
            ],
            check=False,
            timeout=60,
        ).stdout.split()
        if leftovers:
            self.run([self.tools.docker, "rm", "--force", *leftovers], check=False, timeout=120)

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
        operator = f"deployment/{OPERATOR_DEPLOYMENT}"
        save(
            "operator.log",
            [*kubectl, "logs", "-n", OPERATOR_NAMESPACE, operator, "--tail=-1"],
            show=150,
        )
        for namespace in (OPERATOR_NAMESPACE, NAMESPACE):
            try:
                pods = self.kubectl_json("get", "pods", "-n", namespace).get("items", [])
            except (E2EError, ValueError):
                pods = []
            for pod in pods:
                name = pod["metadata"]["name"]
                logs = [*kubectl, "logs", "-n", namespace, name, "--all-containers", "--prefix"]
                save(f"logs-{namespace}-{name}.log", [*logs, "--tail=-1"], show=40)
                statuses = pod.get("status", {}).get("containerStatuses", [])
                if any(s.get("restartCount", 0) for s in statuses):
                    save(f"logs-{namespace}-{name}-previous.log", [*logs, "--previous"])
        if self._cloud_provider == "container":
            docker_logs = [self.tools.docker, "logs", CLOUD_PROVIDER_KIND_CONTAINER]
            save("cloud-provider-kind.log", docker_logs, show=30)
        export = [self.tools.kind, "export", "logs", str(out / "kind"), "--name", CLUSTER]
        save("kind-export.txt", export)
        return out

    # -- what the tests use ----------------------------------------------------------------

    def post_update(
        self, slug: str, update: dict[str, Any], *, secret: str | None
    ) -> tuple[int, str]:
        """POST an update the way Telegram does, through the Ingress: (status, body)."""
        headers = {"Host": INGRESS_HOST, "Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        request = urllib.request.Request(
            f"http://{self.ingress_ip}/webhook/{slug}",
            data=json.dumps(update).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return int(response.status), response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            return 0, str(exc)

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
        return list(json.loads(self._gateway_cli("jobs", "list", "--json", "--limit", "1000")))

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

    def janitor_logs(self) -> str:
        selector = f"app.kubernetes.io/instance={GATEWAY},app.kubernetes.io/component=janitor"
        result = self.kubectl(
            "logs",
            "-n",
            NAMESPACE,
            "-l",
            selector,
            "--tail=-1",
            "--prefix",
            "--max-log-requests=20",
            check=False,
        )
        return result.stdout


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
            KindEnvironment(tools, ARTIFACTS / "work").down(quiet=True)
        return 0
    print("usage: python -m tests.e2e.harness check|cleanup", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
