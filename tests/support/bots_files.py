"""The gateway's own parser run on a bots file the operator built: the token and webhook-secret
files it names are mounted Secrets in a pod, so here they are written to a temporary folder."""

import tempfile
from pathlib import Path

import yaml

from botgateway.operator.builders.common import SECRETS_DIR
from botgateway.operator.builders.config import bots_file
from botgateway.operator.spec import BotGatewaySpec
from botgateway.service.bots import BotConfig, parse_bots


def gateway_reads(spec: BotGatewaySpec) -> tuple[BotConfig, ...]:
    """What a gateway pod would load from the operator's ConfigMap for `spec`."""
    with tempfile.TemporaryDirectory() as tmp:
        for bot in spec.bots:
            (Path(tmp) / bot.slug).mkdir()
            (Path(tmp) / bot.slug / "token").write_text("1:token")
            (Path(tmp) / bot.slug / "webhook-secret").write_text("secret")
        return parse_bots(yaml.safe_load(bots_file(spec).replace(SECRETS_DIR, tmp)), {})
