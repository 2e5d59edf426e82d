import base64
import dataclasses
from typing import Any

import pytest
import yaml

from botgateway.contract import ForwardConfig, Header, SecretSource, Signing
from botgateway.contract.environment import WORKER_SHUTDOWN_GRACE
from botgateway.operator.builders import (
    CHECKSUM_ANNOTATION,
    ChildInputs,
    Manifest,
    build_children,
    referenced_secrets,
    secret_key,
)
from botgateway.operator.builders.workload import PRE_STOP_SECONDS
from botgateway.operator.spec import BotGatewaySpec, SecretKeyRef, parse_spec
from tests.support.bots_files import HEADER_VALUE, SIGNING_KEY, gateway_reads

pytestmark = pytest.mark.unit

FULL: dict[str, Any] = {
    "image": "registry.example/botgateway:0.1.0",
    "database": {"secretRef": {"name": "gateway-db", "key": "DATABASE_URL"}},
    "bots": [
        {
            "slug": "support",
            "tokenSecretRef": {"name": "support-bot", "key": "token"},
            "webhookSecretRef": {"name": "support-bot", "key": "webhookSecret"},
            "handler": {
                "type": "forward",
                "url": "http://backend:8000/updates",
                "timeoutSeconds": 10,
            },
            "allowedUpdates": ["message"],
            "chatOrdering": True,
        },
        {
            "slug": "echo",
            "tokenSecretRef": {"name": "echo-bot"},
            "handler": {"type": "telegram-echo"},
        },
    ],
    "ingress": {"host": "bots.example.com", "className": "nginx", "tlsSecretName": "bots-tls"},
    "worker": {"concurrency": 16, "maxAttempts": 7},
    "scaling": {"minReplicas": 1, "maxReplicas": 10, "pendingJobsPerReplica": 100},
    "janitor": {"schedule": "*/5 * * * *", "doneRetention": "24h", "stuckTimeout": "10m"},
    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
    "telegramApiBase": "http://fake-telegram:8081",
}
SPEC = parse_spec("support", "bots", FULL)
VALUES = {
    "gateway-db/DATABASE_URL": "postgresql://u:p@db/gw",
    "support-bot/token": "123:ABC",
    "support-bot/webhookSecret": "s3cret",
    "echo-bot/token": "456:DEF",
}
INPUTS = ChildInputs(
    image="operator-default:1",
    replicas=3,
    secret_values=VALUES,
    generated_secrets={"echo": "generated-secret"},
)


def children(spec: BotGatewaySpec = SPEC, inputs: ChildInputs = INPUTS) -> dict[str, Manifest]:
    return {c["kind"]: c for c in build_children(spec, inputs)}


def pod_spec(kind: str, spec: BotGatewaySpec = SPEC) -> dict[str, Any]:
    obj = children(spec)[kind]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return obj["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def test_every_child_kind_in_apply_order() -> None:
    kinds = [c["kind"] for c in build_children(SPEC, INPUTS)]
    assert kinds == [
        "Secret",
        "ConfigMap",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
        "Ingress",
        "CronJob",
    ]
    names = {c["kind"]: c["metadata"]["name"] for c in build_children(SPEC, INPUTS)}
    assert names["Secret"] == "support-webhook-secrets"
    assert names["ConfigMap"] == "support-config"
    assert names["CronJob"] == "support-janitor"
    for child in build_children(SPEC, INPUTS):
        assert child["metadata"]["namespace"] == "bots"
        assert child["metadata"]["labels"]["app.kubernetes.io/instance"] == "support"
        assert child["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "botgateway-operator"


def test_bots_file_follows_the_service_format_and_holds_no_secret() -> None:
    cm = children()["ConfigMap"]
    text = cm["data"]["bots.yaml"]
    assert yaml.safe_load(text) == {
        "bots": [
            {
                "slug": "support",
                "tokenFile": "/etc/botgateway/secrets/support/token",
                "webhookSecretFile": "/etc/botgateway/secrets/support/webhook-secret",
                "chatOrdering": True,
                "handler": {
                    "type": "forward",
                    "url": "http://backend:8000/updates",
                },
            },
            {
                "slug": "echo",
                "tokenFile": "/etc/botgateway/secrets/echo/token",
                "webhookSecretFile": "/etc/botgateway/secrets/echo/webhook-secret",
                "handler": {"type": "telegram-echo"},
            },
        ]
    }
    for value in [*VALUES.values(), "generated-secret"]:
        assert value not in text


def test_generated_webhook_secret_only_for_bots_without_one() -> None:
    secret = children()["Secret"]
    assert secret["type"] == "Opaque"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "echo": "generated-secret"
    }
    own = parse_spec(
        "x",
        "bots",
        {**FULL, "bots": [FULL["bots"][0]]},
    )
    assert "Secret" not in children(own, INPUTS)


def test_secret_files_are_projected_from_the_referenced_secrets() -> None:
    volumes = {v["name"]: v for v in pod_spec("Deployment")["volumes"]}
    sources = volumes["bot-secrets"]["projected"]["sources"]
    assert [s["secret"] for s in sources] == [
        {"name": "support-bot", "items": [{"key": "token", "path": "support/token"}]},
        {
            "name": "support-bot",
            "items": [{"key": "webhookSecret", "path": "support/webhook-secret"}],
        },
        {"name": "echo-bot", "items": [{"key": "token", "path": "echo/token"}]},
        {
            "name": "support-webhook-secrets",
            "items": [{"key": "echo", "path": "echo/webhook-secret"}],
        },
    ]
    assert volumes["config"]["configMap"]["name"] == "support-config"


def test_deployment_runs_migrate_first_then_serve() -> None:
    deployment = children()["Deployment"]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "botgateway",
        "app.kubernetes.io/instance": "support",
        "app.kubernetes.io/component": "gateway",
    }
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (migrate,) = pod["initContainers"]
    (gateway,) = pod["containers"]
    assert [migrate["command"], migrate["args"]] == [["botgateway"], ["migrate"]]
    assert gateway["args"][:3] == ["serve", "--role", "all"]
    assert gateway["image"] == migrate["image"] == "registry.example/botgateway:0.1.0"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}}
    env = {e["name"]: e for e in gateway["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "gateway-db",
        "key": "DATABASE_URL",
    }
    assert env["BOTGATEWAY_CONFIG"]["value"] == "/etc/botgateway/config/bots.yaml"
    assert env["QUEUE_MAX_ATTEMPTS"]["value"] == "7"
    assert env["QUEUE_STUCK_TIMEOUT"]["value"] == "10m"
    assert env["TELEGRAM_API_BASE"]["value"] == "http://fake-telegram:8081"
    assert "value" not in env["DATABASE_URL"]


def test_a_terminating_gateway_serves_until_endpoints_forget_it_then_drains_in_time() -> None:
    """preStop keeps the webhook answering while Services and Ingress controllers drop the pod
    (a kind rolling update got 502s from Traefik without it); the delay, then the worker's own
    shutdown grace, fit in the pod's termination grace period."""
    pod = children()["Deployment"]["spec"]["template"]["spec"]
    (gateway,) = pod["containers"]
    command = gateway["lifecycle"]["preStop"]["exec"]["command"]
    assert command == ["sleep", str(PRE_STOP_SECONDS)]
    assert PRE_STOP_SECONDS >= 3
    drain = WORKER_SHUTDOWN_GRACE.value.total_seconds()
    assert PRE_STOP_SECONDS + drain < pod["terminationGracePeriodSeconds"]


def test_operator_image_is_the_default() -> None:
    spec = parse_spec("x", "bots", {k: v for k, v in FULL.items() if k != "image"})
    assert pod_spec("Deployment", spec)["containers"][0]["image"] == "operator-default:1"
    assert pod_spec("CronJob", spec)["containers"][0]["image"] == "operator-default:1"


@pytest.mark.parametrize("kind", ["Deployment", "CronJob"])
def test_pods_meet_the_restricted_pod_security_standard(kind: str) -> None:
    pod = pod_spec(kind)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in pod.get("initContainers", []) + pod["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["runAsNonRoot"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    for volume in pod["volumes"]:
        assert volume.keys() & {"configMap", "projected", "emptyDir"}


def checksum_of(spec: BotGatewaySpec, inputs: ChildInputs) -> str:
    deployment = children(spec, inputs)["Deployment"]
    value: str = deployment["spec"]["template"]["metadata"]["annotations"][CHECKSUM_ANNOTATION]
    return value


def test_checksum_is_stable_and_follows_config_and_secrets() -> None:
    base = checksum_of(SPEC, INPUTS)
    assert base == checksum_of(parse_spec("support", "bots", FULL), INPUTS)
    assert build_children(SPEC, INPUTS) == build_children(SPEC, INPUTS)

    handler = {"type": "forward", "url": "http://other:8000/updates"}
    changed = parse_spec(
        "support",
        "bots",
        {**FULL, "bots": [{**FULL["bots"][0], "handler": handler}, FULL["bots"][1]]},
    )
    assert checksum_of(changed, INPUTS) != base

    rotated = ChildInputs(
        INPUTS.image,
        INPUTS.replicas,
        {**VALUES, "echo-bot/token": "456:NEW"},
        INPUTS.generated_secrets,
    )
    assert checksum_of(SPEC, rotated) != base
    regenerated = ChildInputs(INPUTS.image, INPUTS.replicas, VALUES, {"echo": "other"})
    assert checksum_of(SPEC, regenerated) != base
    rescaled = ChildInputs(INPUTS.image, 7, VALUES, INPUTS.generated_secrets)
    assert checksum_of(SPEC, rescaled) == base


def test_service_and_pdb_select_the_gateway_pods() -> None:
    c = children()
    pod_labels = c["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert c["Service"]["spec"]["selector"].items() <= pod_labels.items()
    assert c["Service"]["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    pdb = c["PodDisruptionBudget"]["spec"]
    assert pdb["maxUnavailable"] == 1
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()


def test_ingress_publishes_only_the_webhook_path() -> None:
    ing = children()["Ingress"]["spec"]
    assert ing["ingressClassName"] == "nginx"
    assert ing["tls"] == [{"hosts": ["bots.example.com"], "secretName": "bots-tls"}]
    (rule,) = ing["rules"]
    assert rule["host"] == "bots.example.com"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/webhook/", "Prefix")
    assert path["backend"]["service"] == {"name": "support", "port": {"name": "http"}}


def test_no_ingress_without_a_host() -> None:
    spec = parse_spec("x", "bots", {k: v for k, v in FULL.items() if k != "ingress"})
    assert "Ingress" not in children(spec)


def test_janitor_cron_job() -> None:
    cron = children()["CronJob"]["spec"]
    assert cron["schedule"] == "*/5 * * * *"
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["startingDeadlineSeconds"] == 300
    job = cron["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 600
    assert job["ttlSecondsAfterFinished"] == 3600
    (container,) = job["template"]["spec"]["containers"]
    assert container["args"] == ["janitor", "--once"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["QUEUE_DONE_RETENTION"] == "24h"
    assert env["QUEUE_STUCK_TIMEOUT"] == "10m"
    assert job["template"]["spec"]["restartPolicy"] == "Never"


def test_janitor_can_be_disabled() -> None:
    spec = parse_spec("x", "bots", {**FULL, "janitor": {"enabled": False}})
    assert "CronJob" not in children(spec)


def test_referenced_secrets_are_deduplicated() -> None:
    refs = [secret_key(r) for r in referenced_secrets(SPEC)]
    assert refs == [
        "gateway-db/DATABASE_URL",
        "support-bot/token",
        "support-bot/webhookSecret",
        "echo-bot/token",
    ]


SIGNED: dict[str, Any] = {
    **FULL,
    "bots": [
        {
            **FULL["bots"][0],
            "handler": {
                **FULL["bots"][0]["handler"],
                "signing": {"secretRef": {"name": "support-backend"}},
                "headers": [
                    {
                        "name": "Authorization",
                        "valueFrom": {
                            "secretKeyRef": {"name": "support-backend", "key": "authorization"}
                        },
                    },
                    {"name": "X-Tenant", "value": "acme"},
                ],
            },
        },
        FULL["bots"][1],
    ],
}
SIGNED_SPEC = parse_spec("support", "bots", SIGNED)
SIGNED_VALUES = {
    **VALUES,
    "support-backend/signingKey": "s" * 32,
    "support-backend/authorization": "Bearer backend-t0ken",
}
SIGNED_INPUTS = ChildInputs("operator-default:1", 3, SIGNED_VALUES, {"echo": "generated-secret"})


def test_handler_secrets_are_mounted_and_named_as_files_in_the_bots_file() -> None:
    c = children(SIGNED_SPEC, SIGNED_INPUTS)
    volumes = {v["name"]: v for v in c["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    sources = [s["secret"] for s in volumes["bot-secrets"]["projected"]["sources"]]
    assert {
        "name": "support-backend",
        "items": [{"key": "signingKey", "path": "support/handler/signing.secret"}],
    } in sources
    assert {
        "name": "support-backend",
        "items": [{"key": "authorization", "path": "support/handler/headers-0.value"}],
    } in sources
    text = c["ConfigMap"]["data"]["bots.yaml"]
    handler = yaml.safe_load(text)["bots"][0]["handler"]
    assert handler["signing"] == {
        "secretFile": "/etc/botgateway/secrets/support/handler/signing.secret"
    }
    assert handler["headers"] == [
        {
            "name": "Authorization",
            "valueFile": "/etc/botgateway/secrets/support/handler/headers-0.value",
        },
        {"name": "X-Tenant", "value": "acme"},
    ]
    for value in SIGNED_VALUES.values():
        assert value not in text


def test_a_rotated_signing_key_rolls_the_pods() -> None:
    assert {"support-backend/signingKey", "support-backend/authorization"} <= {
        secret_key(r) for r in referenced_secrets(SIGNED_SPEC)
    }
    base = checksum_of(SIGNED_SPEC, SIGNED_INPUTS)
    rotated = ChildInputs(
        SIGNED_INPUTS.image,
        SIGNED_INPUTS.replicas,
        {**SIGNED_VALUES, "support-backend/signingKey": "n" * 32 + " " + "s" * 32},
        SIGNED_INPUTS.generated_secrets,
    )
    assert checksum_of(SIGNED_SPEC, rotated) != base


def test_the_gateway_reads_the_mounted_handler_secrets() -> None:
    [support, _] = gateway_reads(SIGNED_SPEC)
    assert isinstance(support.handler, ForwardConfig)
    assert support.handler.signing == Signing(SecretSource("value", SIGNING_KEY))
    assert support.handler.headers == (
        Header("Authorization", SecretSource("value", HEADER_VALUE)),
        Header("X-Tenant", SecretSource("value", "acme")),
    )


def test_a_pooler_and_a_direct_url_reach_the_containers_that_read_them() -> None:
    database = {
        "secretRef": {"name": "gateway-db"},
        "pooler": "transaction",
        "poolSize": 4,
        "directSecretRef": {"name": "gateway-db-direct"},
    }
    spec = parse_spec("support", "bots", {**FULL, "database": database, "janitor": {"poolSize": 1}})
    inputs = dataclasses.replace(
        INPUTS,
        secret_values={**VALUES, "gateway-db-direct/DATABASE_DIRECT_URL": "postgresql://db/gw"},
    )
    assert SecretKeyRef("gateway-db-direct", "DATABASE_DIRECT_URL") in referenced_secrets(spec)
    pod = children(spec, inputs)["Deployment"]["spec"]["template"]["spec"]
    (migrate,) = pod["initContainers"]
    (gateway,) = pod["containers"]
    env = {e["name"]: e for e in gateway["env"]}
    assert env["DATABASE_POOLER"]["value"] == "transaction"
    assert env["DATABASE_POOL_SIZE"]["value"] == "4"
    assert env["DATABASE_DIRECT_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "gateway-db-direct",
        "key": "DATABASE_DIRECT_URL",
    }
    assert {e["name"] for e in migrate["env"]} >= {"DATABASE_URL", "DATABASE_POOLER"}
    assert "DATABASE_DIRECT_URL" not in {e["name"] for e in migrate["env"]}
    janitor = pod_spec("CronJob", spec)["containers"][0]
    janitor_env = {e["name"]: e.get("value") for e in janitor["env"]}
    assert janitor_env["DATABASE_POOLER"] == "transaction"
    assert janitor_env["JANITOR_POOL_SIZE"] == "1"
