"""What the operator and the gateway must agree on, written once: the bots file and its handler
options, the patterns and limits they share. service, janitor and operator import it (as they
import `queue`); it imports no sibling."""

from . import bots_file
from .bots_file import BotEntry, BotsFile, BotsFileError, SecretSource
from .errors import ContractError
from .forward_options import Form, Header, Signing
from .handlers import (
    BUILTIN,
    PLUGIN_OPTIONS,
    DiscardConfig,
    ForwardConfig,
    HandlerConfig,
    PluginConfig,
    TelegramEchoConfig,
    dump_handler,
    handler_schema,
    parse_handler,
    secret_problem,
    secrets_of,
    with_secrets,
)
from .secrets import SecretKeyRef, SecretValue

__all__ = [
    "BUILTIN",
    "PLUGIN_OPTIONS",
    "BotEntry",
    "BotsFile",
    "BotsFileError",
    "ContractError",
    "DiscardConfig",
    "Form",
    "ForwardConfig",
    "HandlerConfig",
    "Header",
    "PluginConfig",
    "SecretKeyRef",
    "SecretSource",
    "SecretValue",
    "Signing",
    "TelegramEchoConfig",
    "bots_file",
    "dump_handler",
    "handler_schema",
    "parse_handler",
    "secret_problem",
    "secrets_of",
    "with_secrets",
]
