"""deploy/ as users apply it: `kubectl apply -k`, the CRD's validation, and least-privilege RBAC."""

from __future__ import annotations

import copy
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from botgateway.contract import ContractError, parse_handler
from botgateway.operator.spec import parse_spec
from tests.support.bots_files import as_read, gateway_reads
from tests.support.cluster import ControlPlane, wait_until
from tests.support.handlers import GOOD_HANDLERS, HANDLERS

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
NS = "bots"
OPERATOR = "system:serviceaccount:botgateway-system:botgateway-operator"
_names = itertools.count()


@pytest.fixture(scope="module")
def deployed(control_plane: ControlPlane) -> ControlPlane:
    result = control_plane.kubectl("apply", "-k", str(ROOT / "deploy"))
    assert "customresourcedefinition.apiextensions.k8s.io/botgateways.botgateway.dev" in (
        result.stdout
    )
    control_plane.kubectl(
        "wait", "--for=condition=Established", "crd/botgateways.botgateway.dev", "--timeout=60s"
    )
    return control_plane


def test_apply_k_creates_everything_and_is_idempotent(deployed: ControlPlane) -> None:
    cp = deployed
    again = cp.kubectl("apply", "-k", str(ROOT / "deploy")).stdout
    assert all(line.endswith("unchanged") for line in again.strip().splitlines()), again

    deployment = cp.kubectl_json(
        "get", "deployment", "botgateway-operator", "-n", "botgateway-system"
    )
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["args"][0] == "operator"
    assert pod["serviceAccountName"] == "botgateway-operator"
    # Admitted in a namespace that enforces the restricted Pod Security Standard.
    namespace = cp.kubectl_json("get", "namespace", "botgateway-system")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    crd = cp.kubectl_json("get", "crd", "botgateways.botgateway.dev")
    assert crd["spec"]["names"]["shortNames"] == ["bgw"]


@pytest.mark.parametrize("example", ["examples", "kind"])
def test_examples_apply_and_the_gateway_is_admitted(deployed: ControlPlane, example: str) -> None:
    """deploy/examples/, and its kind overlay deploy/kind/ (docs/kubernetes/kind.md)."""
    cp = deployed
    result = cp.kubectl("apply", "-k", str(ROOT / "deploy" / example), "--dry-run=server")
    assert "botgateway.botgateway.dev/support created (server dry run)" in result.stdout
    assert "statefulset.apps/postgres created (server dry run)" in result.stdout


def test_the_documented_registry_overlay_points_operator_and_gateways_at_it(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """docs/kubernetes/manifests.md's overlay, as written, next to a copy of deploy/."""
    page = (ROOT / "docs" / "kubernetes" / "manifests.md").read_text()
    overlay = page.split("# my-botgateway/kustomization.yaml\n", 1)[1].split("```", 1)[0]
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    (tmp_path / "my-botgateway").mkdir()
    (tmp_path / "my-botgateway" / "kustomization.yaml").write_text(overlay)
    built = control_plane.kubectl("kustomize", str(tmp_path / "my-botgateway")).stdout
    (operator,) = [d for d in yaml.safe_load_all(built) if d and d["kind"] == "Deployment"]
    (container,) = operator["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["image"] == env["BOTGATEWAY_IMAGE"] == "ghcr.io/OWNER/botgateway:0.1.0"
    assert env["BOTGATEWAY_NAMESPACES"] == "bots"  # the rest of the environment is kept


def test_restricted_namespace_admits_operator_pods(deployed: ControlPlane) -> None:
    """The pod template passes the restricted Pod Security admission (server-side dry run)."""
    cp = deployed
    deployment = cp.kubectl_json(
        "get", "deployment", "botgateway-operator", "-n", "botgateway-system"
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "psa-check", "namespace": "botgateway-system"},
        "spec": deployment["spec"]["template"]["spec"],
    }
    result = cp.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod))
    assert "created (server dry run)" in result.stdout
    assert "Warning" not in result.stderr


# -- the CRD refuses bad resources with messages a person understands ----------------------------

GOOD: dict[str, Any] = {
    "apiVersion": "botgateway.dev/v1alpha1",
    "kind": "BotGateway",
    "metadata": {"name": "good", "namespace": NS},
    "spec": {
        "database": {"secretRef": {"name": "db"}},
        "bots": [
            {
                "slug": "support",
                "tokenSecretRef": {"name": "t"},
                "handler": {"type": "forward", "url": "http://backend:8000/updates"},
            }
        ],
        "ingress": {"host": "bots.example.com"},
    },
}


def _bad(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    node: Any = doc
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is None:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return doc


BOT = GOOD["spec"]["bots"][0]
CASES = [
    (
        "slug with capitals",
        _bad("spec.bots", [{**BOT, "slug": "Support_Bot"}]),
        "slug must be 1-63 characters of lowercase letters, digits and '-'",
    ),
    ("slug too long", _bad("spec.bots", [{**BOT, "slug": "a" * 64}]), "may not be more than 63"),
    ("duplicate slugs", _bad("spec.bots", [BOT, BOT]), "bot slugs must be unique"),
    ("no bots", _bad("spec.bots", []), "spec.bots in body should have at least 1 items"),
    ("no database", _bad("spec.database", None), "spec.database: Required value"),
    (
        "min above max",
        _bad("spec.scaling", {"minReplicas": 5, "maxReplicas": 2}),
        "minReplicas must be less than or equal to maxReplicas",
    ),
    (
        "fixed and automatic",
        _bad("spec.scaling", {"replicas": 2, "maxReplicas": 4}),
        "set either replicas (fixed) or minReplicas/maxReplicas (automatic), not both",
    ),
    (
        "min without max",
        _bad("spec.scaling", {"minReplicas": 2}),
        "set replicas (fixed) or maxReplicas (automatic scaling)",
    ),
    (
        "forward without url",
        _bad("spec.bots", [{**BOT, "handler": {"type": "forward"}}]),
        "spec.bots[0].handler.url: Required value: handler.url is required for a forward handler",
    ),
    (
        "url not http",
        _bad("spec.bots", [{**BOT, "handler": {"type": "forward", "url": "ftp://x"}}]),
        "handler.url must be an http:// or https:// URL with a host",
    ),
    (
        # the gateway refuses it at start, so every pod would crash-loop: refused here instead
        "an option forward does not take",
        _bad("spec.bots", [{**BOT, "handler": {**BOT["handler"], "retries": 3}}]),
        'unknown field "spec.bots[0].handler.retries"',
    ),
    (
        "a misspelt option",
        _bad("spec.bots", [{**BOT, "handler": {**BOT["handler"], "timeoutSecond": 3}}]),
        'unknown field "spec.bots[0].handler.timeoutSecond"',
    ),
    (
        "url on discard",
        _bad("spec.bots", [{**BOT, "handler": {"type": "discard", "url": "http://x"}}]),
        "spec.bots[0].handler.url: Forbidden: handler.url is an option of forward handlers only",
    ),
    (
        "plugin settings outside options",
        _bad("spec.bots", [{**BOT, "handler": {"type": "my-plugin", "colour": "blue"}}]),
        'unknown field "spec.bots[0].handler.colour"',
    ),
    (
        "a static header the gateway sets itself",
        _bad(
            "spec.bots",
            [{**BOT, "handler": {**BOT["handler"], "headers": [{"name": "Host", "value": "x"}]}}],
        ),
        "handler.headers[].name may not be a hop-by-hop header, Host",
    ),
    (
        "a header value that would smuggle in another header",
        _bad(
            "spec.bots",
            [
                {
                    **BOT,
                    "handler": {
                        **BOT["handler"],
                        "headers": [{"name": "X-A", "value": "a\r\nX-Botgateway-Signature: v1=0"}],
                    },
                }
            ],
        ),
        "handler.headers[].value must be one line",
    ),
    (
        "one header name twice",
        _bad(
            "spec.bots",
            [
                {
                    **BOT,
                    "handler": {
                        **BOT["handler"],
                        "headers": [
                            {"name": "Authorization", "value": "a"},
                            {"name": "authorization", "value": "b"},
                        ],
                    },
                }
            ],
        ),
        "handler.headers: each name once (names ignore case)",
    ),
    (
        "signing without a Secret",
        _bad("spec.bots", [{**BOT, "handler": {**BOT["handler"], "signing": {}}}]),
        "spec.bots[0].handler.signing.secretRef: Required value",
    ),
    (
        "registration without a public url",
        _bad("spec.ingress", None),
        "webhook registration needs a public URL",
    ),
    (
        "bad duration",
        _bad("spec.janitor", {"doneRetention": "a week"}),
        "spec.janitor.doneRetention in body should match",
    ),
    (
        "max connections out of range",
        _bad("spec.webhook", {"maxConnections": 500}),
        "should be less than or equal to 100",
    ),
    (
        "name too long",
        _bad("metadata.name", "g" * 41),
        "a BotGateway name may have at most 40 characters",
    ),
]


@pytest.mark.parametrize(("case", "manifest", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_resources_are_refused_with_a_clear_message(
    deployed: ControlPlane, case: str, manifest: dict[str, Any], message: str
) -> None:
    result = deployed.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(manifest), check=False
    )
    assert result.returncode != 0, f"{case}: accepted"
    assert message in result.stderr, result.stderr


def test_good_resource_is_accepted_and_defaulted(deployed: ControlPlane) -> None:
    result = deployed.kubectl(
        "apply", "--dry-run=server", "-o", "json", "-f", "-", input=yaml.safe_dump(GOOD)
    )
    spec = yaml.safe_load(result.stdout)["spec"]
    assert spec["scaling"] == {
        "replicas": 1,
        "pendingJobsPerReplica": 100,
        "scaleDownStabilizationSeconds": 300,
    }
    assert spec["webhook"] == {"register": True, "maxConnections": 40, "dropPendingUpdates": False}
    assert spec["janitor"]["schedule"] == "*/15 * * * *"
    assert spec["bots"][0]["tokenSecretRef"]["key"] == "token"


# -- RBAC: what the operator's ServiceAccount may and may not do ----------------------------------


def _can(cp: ControlPlane, verb: str, resource: str, namespace: str | None) -> bool:
    args = ["auth", "can-i", verb, resource, f"--as={OPERATOR}"]
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    result = cp.kubectl(*args, check=False)
    return result.stdout.strip() == "yes"


ALLOWED_IN_BOTS = [
    ("watch", "botgateways.botgateway.dev"),
    ("patch", "botgateways.botgateway.dev/status"),
    ("get", "secrets"),
    ("create", "secrets"),
    ("patch", "deployments.apps"),
    ("patch", "configmaps"),
    ("patch", "services"),
    ("patch", "cronjobs.batch"),
    ("patch", "ingresses.networking.k8s.io"),
    ("patch", "poddisruptionbudgets.policy"),
    ("create", "events"),
]
DENIED_IN_BOTS = [
    ("list", "secrets"),
    ("watch", "secrets"),
    ("update", "secrets"),
    ("create", "pods"),
    ("get", "pods"),
    ("create", "roles.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("delete", "botgateways.botgateway.dev"),
    ("create", "serviceaccounts"),
    ("create", "pods/exec"),
]


def test_operator_role_allows_what_it_needs_in_its_namespace(deployed: ControlPlane) -> None:
    cp = deployed

    def missing() -> list[tuple[str, str]]:
        return [(verb, res) for verb, res in ALLOWED_IN_BOTS if not _can(cp, verb, res, NS)]

    wait_until(
        lambda: not missing(),
        timeout=30,
        message=lambda: f"the RoleBinding to grant {missing()}",
    )


@pytest.mark.parametrize(("verb", "resource"), DENIED_IN_BOTS)
def test_operator_role_grants_nothing_more(
    deployed: ControlPlane, verb: str, resource: str
) -> None:
    assert not _can(deployed, verb, resource, NS)


def test_operator_cannot_touch_other_namespaces(deployed: ControlPlane) -> None:
    cp = deployed
    other = f"elsewhere-{next(_names)}"
    cp.kubectl("create", "namespace", other)
    cp.kubectl("create", "secret", "generic", "private", "-n", other, "--from-literal=k=v")
    for verb, resource in ALLOWED_IN_BOTS:
        assert not _can(cp, verb, resource, other), (verb, resource)
    assert not _can(cp, "get", "secrets", None)
    assert not _can(cp, "list", "namespaces", None)
    assert not _can(cp, "list", "customresourcedefinitions.apiextensions.k8s.io", None)

    # With the real token, not just impersonation.
    kubeconfig = cp.service_account_kubeconfig("botgateway-system", "botgateway-operator")
    denied = cp.kubectl("get", "secret", "private", "-n", other, kubeconfig=kubeconfig, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr
    allowed = cp.kubectl("auth", "can-i", "get", "secrets", "-n", NS, kubeconfig=kubeconfig)
    assert allowed.stdout.strip() == "yes"


# -- the API server and the gateway agree on every handler ---------------------------------------


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(handler=HANDLERS | GOOD_HANDLERS)
def test_the_api_server_accepts_exactly_the_handlers_the_gateway_accepts(
    deployed: ControlPlane, handler: dict[str, Any]
) -> None:
    """The unit tier proves this against a model of the CRD; here the real API server decides."""
    manifest = _bad("spec.bots", [{**BOT, "handler": handler}])
    result = deployed.kubectl(
        "apply", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(manifest),
        check=False,
    )  # fmt: skip
    try:
        parse_handler(handler, form="resource")
        gateway_accepts = True
    except ContractError:
        gateway_accepts = False
    assert (result.returncode == 0) == gateway_accepts, result.stderr
    if gateway_accepts:
        # what the API server stored (defaulted, pruned) makes a bots file the gateway loads
        stored = json.loads(result.stdout)
        [bot] = gateway_reads(parse_spec("good", NS, stored["spec"]))
        assert bot.handler == as_read(parse_handler(handler, form="resource"))
