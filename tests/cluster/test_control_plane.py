"""The test control plane is a real one: API server, controllers, garbage collector and RBAC."""

from __future__ import annotations

import itertools
import subprocess
from typing import Any

import pytest

from tests.support.cluster import ControlPlane, wait_until

pytestmark = pytest.mark.cluster

_names = itertools.count()


def _namespace(cp: ControlPlane, prefix: str) -> str:
    name = f"{prefix}-{next(_names)}"
    cp.kubectl("create", "namespace", name)
    return name


def _needs_controller_manager(cp: ControlPlane) -> None:
    if not cp.has_controller_manager:
        pytest.skip("kube-controller-manager is not built (.cache/tools)")


def _items(cp: ControlPlane, kind: str, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cp.kubectl_json("get", kind, "-n", namespace)["items"]
    return items


def test_admin_kubeconfig_reaches_the_api_server(control_plane: ControlPlane) -> None:
    result = control_plane.kubectl("get", "namespaces", "-o", "name")

    names = set(result.stdout.split())
    assert {"namespace/default", "namespace/kube-system"} <= names
    assert control_plane.server_url.startswith("https://127.0.0.1:")
    whoami = control_plane.kubectl_json("auth", "whoami")
    assert "system:masters" in whoami["status"]["userInfo"]["groups"]


def test_deployment_gets_a_replicaset_and_pods(control_plane: ControlPlane) -> None:
    cp = control_plane
    _needs_controller_manager(cp)
    ns = _namespace(cp, "deploy")
    cp.wait_for_service_account(ns)  # pods are refused until the serviceaccount controller ran
    cp.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "example.invalid/web:1"}]},
                },
            },
        }
    )
    deployment_uid = cp.kubectl_json("get", "deployment", "web", "-n", ns)["metadata"]["uid"]

    replicasets = wait_until(
        lambda: _items(cp, "replicasets", ns),
        timeout=60,
        message="the deployment controller to create a ReplicaSet",
    )
    assert len(replicasets) == 1
    owners = replicasets[0]["metadata"]["ownerReferences"]
    assert [(o["kind"], o["uid"], o["controller"]) for o in owners] == [
        ("Deployment", deployment_uid, True)
    ]

    # The replicaset controller runs too: it creates the pods (no node will ever run them).
    def two_pods() -> list[dict[str, Any]] | None:
        pods = _items(cp, "pods", ns)
        return pods if len(pods) == 2 else None

    pods = wait_until(
        two_pods,
        timeout=60,
        message="the replicaset controller to create 2 pods",
    )
    assert {p["metadata"]["ownerReferences"][0]["kind"] for p in pods} == {"ReplicaSet"}


def test_job_controller_creates_a_pod(control_plane: ControlPlane) -> None:
    cp = control_plane
    _needs_controller_manager(cp)
    ns = _namespace(cp, "job")
    cp.wait_for_service_account(ns)
    cp.kubectl("create", "job", "once", "-n", ns, "--image=example.invalid/janitor:1")

    pods = wait_until(
        lambda: _items(cp, "pods", ns),
        timeout=60,
        message="the job controller to create a pod",
    )
    assert pods[0]["metadata"]["labels"]["job-name"] == "once"


def test_deleting_an_owner_garbage_collects_what_it_owns(control_plane: ControlPlane) -> None:
    cp = control_plane
    _needs_controller_manager(cp)
    ns = _namespace(cp, "gc")
    cp.kubectl("create", "configmap", "owner", "-n", ns, "--from-literal=role=owner")
    owner_uid = cp.kubectl_json("get", "configmap", "owner", "-n", ns)["metadata"]["uid"]
    cp.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "owned",
                "namespace": ns,
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}
                ],
            },
            "data": {"role": "owned"},
        }
    )
    cp.kubectl("create", "configmap", "bystander", "-n", ns)

    cp.kubectl("delete", "configmap", "owner", "-n", ns, "--wait=true")

    def owned_is_gone() -> bool:
        result = cp.kubectl("get", "configmap", "owned", "-n", ns, check=False)
        return result.returncode != 0 and "NotFound" in result.stderr

    wait_until(owned_is_gone, timeout=60, message="the garbage collector to delete 'owned'")
    names = {c["metadata"]["name"] for c in _items(cp, "configmaps", ns)}
    assert "bystander" in names
    assert not names & {"owner", "owned"}


def test_service_account_tokens_are_subject_to_rbac(control_plane: ControlPlane) -> None:
    cp = control_plane
    ns = _namespace(cp, "rbac")
    cp.kubectl("create", "serviceaccount", "nobody", "-n", ns)
    cp.kubectl("create", "serviceaccount", "reader", "-n", ns)
    cp.kubectl("create", "secret", "generic", "hush", "-n", ns, "--from-literal=k=v")
    cp.kubectl("create", "role", "secret-reader", "-n", ns, "--verb=get,list", "--resource=secrets")
    cp.kubectl(
        "create", "rolebinding", "reader-reads", "-n", ns,
        "--role=secret-reader", f"--serviceaccount={ns}:reader",
    )  # fmt: skip
    nobody = cp.service_account_kubeconfig(ns, "nobody")
    reader = cp.service_account_kubeconfig(ns, "reader")

    whoami = cp.kubectl_json("auth", "whoami", kubeconfig=reader)
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:reader"

    denied = cp.kubectl("get", "secrets", "-n", ns, kubeconfig=nobody, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr
    assert f"system:serviceaccount:{ns}:nobody" in denied.stderr

    # The RBAC authorizer learns of the new binding through a watch: poll, don't sleep.
    def list_secrets() -> subprocess.CompletedProcess[str] | None:
        result = cp.kubectl(
            "get", "secrets", "-n", ns, "-o", "name", kubeconfig=reader, check=False
        )
        return result if result.returncode == 0 else None

    allowed = wait_until(
        list_secrets,
        timeout=30,
        message="the bound serviceaccount to be allowed to list secrets",
    )
    assert allowed.stdout.split() == ["secret/hush"]
    # The Role grants secrets, nothing else.
    other = cp.kubectl("get", "configmaps", "-n", ns, kubeconfig=reader, check=False)
    assert "forbidden" in other.stderr
