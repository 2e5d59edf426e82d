"""The gateway's own parser run on a bots file the operator built: the token, webhook-secret and
handler secret files it names are mounted Secrets in a pod, so here they are written to a
temporary folder."""

import tempfile
from pathlib import Path

import yaml

from botgateway.contract import HandlerConfig, SecretSource, secrets_of, with_secrets
from botgateway.contract.handlers import SIGNING_SECRET
from botgateway.operator.builders.common import SECRETS_DIR
from botgateway.operator.builders.config import bots_file, handler_secret_files
from botgateway.operator.spec import BotGatewaySpec
from botgateway.service.bots import BotConfig, parse_bots

SIGNING_KEY = "k" * 32
HEADER_VALUE = "Bearer mounted"


def mounted_value(field: str) -> str:
    """What the test Secret holds for a handler secret field."""
    return SIGNING_KEY if field == SIGNING_SECRET else HEADER_VALUE


def as_read(handler: HandlerConfig) -> HandlerConfig:
    """`handler` (as the operator parsed it) with each Secret read as `mounted_value`."""
    return with_secrets(
        handler, {f: SecretSource("value", mounted_value(f)) for f in secrets_of(handler)}
    )


def gateway_reads(spec: BotGatewaySpec) -> tuple[BotConfig, ...]:
    """What a gateway pod would load from the operator's ConfigMap for `spec`."""
    with tempfile.TemporaryDirectory() as tmp:
        for bot in spec.bots:
            (Path(tmp) / bot.slug).mkdir()
            (Path(tmp) / bot.slug / "token").write_text("1:token")
            (Path(tmp) / bot.slug / "webhook-secret").write_text("secret")
            for field, (_, path) in handler_secret_files(bot).items():
                (Path(tmp) / path).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / path).write_text(mounted_value(field) + "\n")
        return parse_bots(yaml.safe_load(bots_file(spec).replace(SECRETS_DIR, tmp)), {})
