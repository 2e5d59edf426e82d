"""A real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager.

Everything runs on loopback from binaries built by ``scripts/cluster-tools.sh``. Certificates are
made with the ``openssl`` command-line tool: one throwaway CA signs the API server's serving
certificate and the client certificates (admin in ``system:masters``, the controller-manager),
and an ECDSA key signs ServiceAccount tokens, so tokens, authentication and RBAC are the real
thing. There is no kubelet: Pods are accepted and scheduled nowhere, but every API-side
behaviour (admission, RBAC, controllers, garbage collection) is real.

Typical use::

    with ControlPlane(ControlPlaneTools.from_dir(Path(".cache/tools"))) as cp:
        cp.kubectl("get", "namespaces")
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
CLUSTER_NAME = "botgateway-test"


class ControlPlaneError(RuntimeError):
    """A component did not start, or a command against the control plane failed."""


class WaitTimeout(AssertionError):
    """A polled condition did not hold within its timeout."""


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.2,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Poll ``condition`` until it returns a truthy value, and return that value.

    Raises :class:`WaitTimeout` naming ``message`` (a string, or a callable giving one, so it
    can describe the last state seen) when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {text}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class ControlPlaneTools:
    """Where the binaries are. ``kube_controller_manager`` may be absent (API-only plane)."""

    etcd: Path
    kube_apiserver: Path
    kubectl: Path
    kube_controller_manager: Path | None = None

    @classmethod
    def from_dir(cls, tools_dir: Path) -> ControlPlaneTools:
        """The binaries in ``tools_dir`` (kubectl from there, else from ``PATH``)."""
        kubectl = tools_dir / "kubectl"
        if not _is_executable(kubectl):
            found = shutil.which("kubectl")
            kubectl = Path(found) if found else kubectl
        kcm = tools_dir / "kube-controller-manager"
        return cls(
            etcd=tools_dir / "etcd",
            kube_apiserver=tools_dir / "kube-apiserver",
            kubectl=kubectl,
            kube_controller_manager=kcm if _is_executable(kcm) else None,
        )

    def missing(self) -> list[str]:
        """Names of the required binaries that are not there (empty when all are)."""
        required = {"etcd": self.etcd, "kube-apiserver": self.kube_apiserver}
        required["kubectl"] = self.kubectl
        return [name for name, path in required.items() if not _is_executable(path)]


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the child when the test process dies, so nothing is left behind."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def failure(self, what: str) -> ControlPlaneError:
        return ControlPlaneError(
            f"{self.name} {what}; the end of {self.log.name}:\n{log_tail(self.log)}"
        )


class ControlPlane:
    """etcd + kube-apiserver (+ kube-controller-manager) on loopback, in a temporary directory.

    ``start()`` blocks until the API server's ``/readyz`` (and the controller-manager's
    ``/healthz``) answer ok; ``stop()`` ends the processes and removes the directory (set
    ``keep_dir`` to keep it, e.g. to read the logs, which are ``<name>.log`` in it).
    """

    def __init__(
        self,
        tools: ControlPlaneTools,
        *,
        base_dir: Path | None = None,
        keep_dir: bool = False,
        start_timeout: float = 180.0,
        extra_apiserver_args: Sequence[str] = (),
    ) -> None:
        missing = tools.missing()
        if missing:
            raise ControlPlaneError(f"missing binaries: {', '.join(missing)}")
        # Absolute: the processes run with the temporary directory as their working directory.
        self.tools = ControlPlaneTools(
            etcd=tools.etcd.absolute(),
            kube_apiserver=tools.kube_apiserver.absolute(),
            kubectl=tools.kubectl.absolute(),
            kube_controller_manager=(
                tools.kube_controller_manager.absolute() if tools.kube_controller_manager else None
            ),
        )
        self._base_dir = base_dir
        self._keep_dir = keep_dir
        self._start_timeout = start_timeout
        self._extra_apiserver_args = list(extra_apiserver_args)
        self._processes: list[_Process] = []
        self._dir: Path | None = None
        self._apiserver_port = 0
        self._etcd_url = ""

    # -- public surface ------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        if self._dir is None:
            raise ControlPlaneError("the control plane is not started")
        return self._dir

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self._apiserver_port}"

    @property
    def kubeconfig_path(self) -> Path:
        """Admin kubeconfig: a client certificate in ``system:masters``."""
        return self.directory / "admin.kubeconfig"

    @property
    def ca_path(self) -> Path:
        return self.directory / "pki" / "ca.crt"

    @property
    def etcd_url(self) -> str:
        return self._etcd_url

    @property
    def has_controller_manager(self) -> bool:
        return self.tools.kube_controller_manager is not None

    def env(self, kubeconfig: Path | None = None) -> dict[str, str]:
        """A copy of ``os.environ`` with ``KUBECONFIG`` pointing at this cluster."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(kubeconfig or self.kubeconfig_path)
        return env

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster (admin unless ``kubeconfig`` is given)."""
        cmd = [str(self.tools.kubectl), "--kubeconfig", str(kubeconfig or self.kubeconfig_path)]
        cmd += args
        result = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise ControlPlaneError(
                f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result

    def kubectl_json(self, *args: str, kubeconfig: Path | None = None) -> Any:
        """``kubectl ... -o json``, parsed."""
        return json.loads(self.kubectl(*args, "-o", "json", kubeconfig=kubeconfig).stdout)

    def apply(self, manifest: str | dict[str, Any] | list[dict[str, Any]]) -> None:
        """``kubectl apply`` YAML text, one object, or a list of objects (as the admin)."""
        if isinstance(manifest, dict):
            text = yaml.safe_dump(manifest)
        elif isinstance(manifest, list):
            text = yaml.safe_dump_all(manifest)
        else:
            text = manifest
        self.kubectl("apply", "-f", "-", input=text)

    def create_token(self, namespace: str, service_account: str, *, duration: str = "1h") -> str:
        """A ServiceAccount token from the TokenRequest API (``kubectl create token``)."""
        result = self.kubectl(
            "create", "token", service_account, "-n", namespace, f"--duration={duration}"
        )
        return result.stdout.strip()

    def service_account_kubeconfig(
        self,
        namespace: str,
        service_account: str,
        *,
        path: Path | None = None,
        duration: str = "1h",
    ) -> Path:
        """Write a kubeconfig that authenticates as ``system:serviceaccount:NS:NAME``."""
        token = self.create_token(namespace, service_account, duration=duration)
        if path is None:
            path = self.directory / "kubeconfigs" / f"sa-{namespace}-{service_account}.yaml"
        user = f"system:serviceaccount:{namespace}:{service_account}"
        self._write_kubeconfig(path, user, {"token": token}, namespace=namespace)
        return path

    def wait_for_service_account(
        self, namespace: str, name: str = "default", timeout: float = 60.0
    ) -> None:
        """Wait for the serviceaccount controller to create ``name`` in ``namespace``."""

        def exists() -> bool:
            result = self.kubectl("get", "serviceaccount", name, "-n", namespace, check=False)
            return result.returncode == 0

        wait_until(exists, timeout=timeout, message=f"serviceaccount {namespace}/{name}")

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._dir is not None:
            raise ControlPlaneError("the control plane is already started")
        attempts = 3
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
                return
            except ControlPlaneError as error:
                self.stop()
                # A free port can be taken between our probe and the bind: start afresh.
                if "address already in use" not in str(error) or attempt == attempts:
                    raise
            except BaseException:
                self.stop()
                raise

    def _start_once(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="botgateway-cp-", dir=self._base_dir))
        _make_pki(self._dir / "pki")
        self._start_etcd()
        self._start_apiserver()
        self._write_admin_kubeconfig()
        if self.tools.kube_controller_manager is not None:
            self._start_controller_manager(self.tools.kube_controller_manager)

    def stop(self) -> None:
        """Stop every process (newest first) and remove the temporary directory."""
        for proc in reversed(self._processes):
            if proc.popen.poll() is None:
                proc.popen.terminate()
        for proc in reversed(self._processes):
            try:
                proc.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(timeout=15)
        self._processes.clear()
        if self._dir is not None and not self._keep_dir:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    # -- components ----------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> _Process:
        log = self.directory / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                preexec_fn=_die_with_parent,  # the fixture forks from the main thread
            )
        proc = _Process(name, popen, log)
        self._processes.append(proc)
        return proc

    def _wait_ready(self, proc: _Process, probe: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self._start_timeout
        while not probe():
            code = proc.popen.poll()
            if code is not None:
                raise proc.failure(f"exited with status {code} before {what}")
            if time.monotonic() >= deadline:
                raise proc.failure(f"was not {what} after {self._start_timeout:.0f}s")
            time.sleep(0.2)

    def _start_etcd(self) -> None:
        client_port, peer_port = free_port(), free_port()
        self._etcd_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        proc = self._spawn(
            "etcd",
            [
                str(self.tools.etcd),
                "--name=default",
                f"--data-dir={self.directory / 'etcd-data'}",
                f"--listen-client-urls={self._etcd_url}",
                f"--advertise-client-urls={self._etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--initial-cluster-state=new",
                # Test data is disposable: skip fsync, which is most of etcd's latency.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        health = f"{self._etcd_url}/health"
        self._wait_ready(proc, lambda: _http_ok(health, None), "healthy")

    def _start_apiserver(self) -> None:
        pki = self.directory / "pki"
        self._apiserver_port = free_port()
        proc = self._spawn(
            "kube-apiserver",
            [
                str(self.tools.kube_apiserver),
                f"--etcd-servers={self._etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self._apiserver_port}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
                f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
                "--authorization-mode=Node,RBAC",
                # The default plugins stay on; this adds to them.
                "--enable-admission-plugins=NodeRestriction",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                # The `kubernetes` Service may not have loopback endpoints, and no pod runs here.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                "--v=1",
                *self._extra_apiserver_args,
            ],
        )
        context = self._client_ssl_context()
        readyz = f"{self.server_url}/readyz"
        self._wait_ready(proc, lambda: _http_ok(readyz, context), "ready (/readyz)")

    def _start_controller_manager(self, binary: Path) -> None:
        pki = self.directory / "pki"
        kubeconfig = self.directory / "kube-controller-manager.kubeconfig"
        self._write_kubeconfig(
            kubeconfig,
            "system:kube-controller-manager",
            _client_cert_user(pki, "kube-controller-manager"),
        )
        port = free_port()
        proc = self._spawn(
            "kube-controller-manager",
            [
                str(binary),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.directory / 'kcm-serving'}",
                "--leader-elect=false",
                # Every default controller: garbage collector, deployment, replicaset,
                # job, cronjob, serviceaccount(-token), namespace, disruption, ...
                "--controllers=*",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                "--use-service-account-credentials=true",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                f"--cluster-name={CLUSTER_NAME}",
                "--profiling=false",
                "--v=1",
            ],
        )
        # Self-signed serving certificate from --cert-dir: healthz is loopback-only anyway.
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        healthz = f"https://127.0.0.1:{port}/healthz"
        self._wait_ready(proc, lambda: _http_ok(healthz, insecure), "healthy (/healthz)")

    # -- kubeconfigs -----------------------------------------------------------------

    def _client_ssl_context(self) -> ssl.SSLContext:
        pki = self.directory / "pki"
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return context

    def _write_admin_kubeconfig(self) -> None:
        user = _client_cert_user(self.directory / "pki", "admin")
        self._write_kubeconfig(self.kubeconfig_path, "admin", user)

    def _write_kubeconfig(
        self, path: Path, user_name: str, user: dict[str, str], namespace: str = "default"
    ) -> None:
        ca_data = base64.b64encode(self.ca_path.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CLUSTER_NAME,
                    "cluster": {"server": self.server_url, "certificate-authority-data": ca_data},
                }
            ],
            "users": [{"name": user_name, "user": user}],
            "contexts": [
                {
                    "name": user_name,
                    "context": {"cluster": CLUSTER_NAME, "user": user_name, "namespace": namespace},
                }
            ],
            "current-context": user_name,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(config, out, sort_keys=False)


def _client_cert_user(pki: Path, name: str) -> dict[str, str]:
    return {
        "client-certificate-data": base64.b64encode((pki / f"{name}.crt").read_bytes()).decode(),
        "client-key-data": base64.b64encode((pki / f"{name}.key").read_bytes()).decode(),
    }


def _http_ok(url: str, context: ssl.SSLContext | None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            status: int = response.status
            return status == 200
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


# -- PKI (openssl CLI) -------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ControlPlaneError("the openssl command is needed to make the test certificates")
    result = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ControlPlaneError(f"openssl {args[0]} failed: {result.stderr.strip()}")


# ECDSA P-256 everywhere (TLS and ServiceAccount tokens, ES256): as real as RSA, and the keys
# take milliseconds to make rather than seconds.
_KEY_ALGORITHM = ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
_NEW_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")


def _make_pki(pki: Path) -> None:
    """A CA, the API server's serving pair, client pairs and the ServiceAccount key pair."""
    pki.mkdir(parents=True)
    _openssl(
        "req", "-x509", *_NEW_KEY, "-nodes", "-sha256", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", f"/CN={CLUSTER_NAME}-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        cwd=pki,
    )  # fmt: skip
    serving_names = [
        "DNS:localhost",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
        "IP:127.0.0.1",
        f"IP:{KUBERNETES_SERVICE_IP}",
    ]
    _issue(pki, "apiserver", "/CN=kube-apiserver", "serverAuth", ",".join(serving_names))
    _issue(pki, "admin", "/O=system:masters/CN=botgateway-test-admin", "clientAuth")
    _issue(pki, "kube-controller-manager", "/CN=system:kube-controller-manager", "clientAuth")
    # The aggregation layer's pair: the API server proxies to extension API servers with this
    # client certificate, and they (and the controller-manager) trust its CA for the
    # X-Remote-User headers.
    _openssl(
        "req", "-x509", *_NEW_KEY, "-nodes", "-sha256", "-days", "2",
        "-keyout", "front-proxy-ca.key", "-out", "front-proxy-ca.crt",
        "-subj", f"/CN={CLUSTER_NAME}-front-proxy-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        cwd=pki,
    )  # fmt: skip
    _issue(pki, "front-proxy-client", "/CN=front-proxy-client", "clientAuth", ca="front-proxy-ca")
    _openssl("genpkey", *_KEY_ALGORITHM, "-out", "sa.key", cwd=pki)
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def _issue(
    pki: Path,
    name: str,
    subject: str,
    usage: str,
    alt_names: str | None = None,
    *,
    ca: str = "ca",
) -> None:
    extensions = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        f"extendedKeyUsage={usage}",
    ]
    if alt_names:
        extensions.append(f"subjectAltName={alt_names}")
    (pki / f"{name}.ext").write_text("\n".join(extensions) + "\n")
    _openssl(
        "req", "-new", *_NEW_KEY, "-nodes", "-keyout", f"{name}.key",
        "-out", f"{name}.csr", "-subj", subject,
        cwd=pki,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-sha256", "-days", "2", "-out", f"{name}.crt",
        "-extfile", f"{name}.ext",
        cwd=pki,
    )  # fmt: skip
