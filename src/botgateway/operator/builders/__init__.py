"""Pure builders: a BotGateway spec (plus the Secret values the operator read) -> child manifests.

No I/O here: the handlers read Secrets, generate random webhook secrets and apply what these
functions return, so every manifest is tested without a cluster.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from botgateway.contract import SecretKeyRef

from ..spec import BotGatewaySpec, handler_secret_refs
from .common import CHECKSUM_ANNOTATION, Manifest, Names, checksum, labels
from .config import bots_file, config_map, webhook_secret
from .ingress import ingress
from .janitor import cron_job
from .workload import deployment, pod_disruption_budget, service

__all__ = [
    "CHECKSUM_ANNOTATION",
    "ChildInputs",
    "Manifest",
    "Names",
    "bots_file",
    "build_children",
    "config_checksum",
    "labels",
    "referenced_secrets",
    "secret_key",
]


@dataclass(frozen=True)
class ChildInputs:
    """What the builders need besides the spec.

    `secret_values` maps `secret_key(ref)` to the value read from the cluster, for every ref of
    `referenced_secrets(spec)`; `generated_secrets` maps slug to generated webhook secret.
    """

    image: str
    replicas: int
    secret_values: Mapping[str, str]
    generated_secrets: Mapping[str, str]


def secret_key(ref: SecretKeyRef) -> str:
    return f"{ref.name}/{ref.key}"


def referenced_secrets(spec: BotGatewaySpec) -> list[SecretKeyRef]:
    """Every Secret key the gateway reads that the user provides (generated ones excluded)."""
    refs = [spec.database]
    if spec.direct_database is not None:
        refs.append(spec.direct_database)
    for bot in spec.bots:
        refs.append(bot.token)
        if bot.webhook_secret is not None:
            refs.append(bot.webhook_secret)
        refs.extend(handler_secret_refs(bot).values())
    return list(dict.fromkeys(refs))


def config_checksum(spec: BotGatewaySpec, inputs: ChildInputs) -> str:
    """Digest of the bots file and every secret value the pods read: any change rolls them."""
    return checksum(
        {
            "bots.yaml": bots_file(spec),
            "secrets": {k: inputs.secret_values[k] for k in sorted(inputs.secret_values)},
            "generated": {k: inputs.generated_secrets[k] for k in sorted(inputs.generated_secrets)},
        }
    )


def build_children(spec: BotGatewaySpec, inputs: ChildInputs) -> list[Manifest]:
    """Every child in apply order (what the pods mount comes before the pods)."""
    children: list[Manifest | None] = [
        webhook_secret(spec, inputs.generated_secrets),
        config_map(spec),
        service(spec),
        deployment(
            spec,
            image=inputs.image,
            replicas=inputs.replicas,
            config_checksum=config_checksum(spec, inputs),
        ),
        pod_disruption_budget(spec),
        ingress(spec),
        cron_job(spec, image=inputs.image),
    ]
    return [c for c in children if c is not None]
