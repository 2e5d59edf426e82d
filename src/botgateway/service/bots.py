"""The bots file (`BOTGATEWAY_CONFIG`): its shape is the contract's (`botgateway.contract`);
here each bot's token, webhook secret and handler secrets (a signing key, a header's value) are
read from a value, a file or an environment variable. Every error names the bot and the field."""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from botgateway.contract import (
    BotsFileError,
    DiscardConfig,
    HandlerConfig,
    SecretSource,
    secret_problem,
    secrets_of,
    with_secrets,
)
from botgateway.contract import bots_file as contract
from botgateway.contract.limits import TOKEN, WEBHOOK_SECRET, WEBHOOK_SECRET_RULE

from .errors import ConfigError


@dataclass(frozen=True)
class BotConfig:
    slug: str
    token: str = field(repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    chat_ordering: bool = False
    handler: HandlerConfig = field(default_factory=DiscardConfig)


def load_bots(
    path: str | Path,
    env: Mapping[str, str],
    *,
    handler_types: Collection[str] | None = None,
) -> tuple[BotConfig, ...]:
    """Read and validate the bots file; `handler_types` (built-ins and plugins) when known."""
    where = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the bots file ({exc.strerror or exc})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML ({_yaml_problem(exc)})") from None
    return parse_bots(
        document, env, source=where, base_dir=Path(path).parent, handler_types=handler_types
    )


def parse_bots(
    document: object,
    env: Mapping[str, str],
    *,
    source: str = "bots file",
    base_dir: Path | None = None,
    handler_types: Collection[str] | None = None,
) -> tuple[BotConfig, ...]:
    try:
        parsed = contract.parse(document, handler_types)
        return tuple(_resolve(index, bot, env, base_dir) for index, bot in enumerate(parsed.bots))
    except BotsFileError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _resolve(
    index: int, bot: contract.BotEntry, env: Mapping[str, str], base_dir: Path | None
) -> BotConfig:
    def refuse(source: SecretSource, name: str, problem: str) -> BotsFileError:
        return BotsFileError(index, bot.slug, source.key(name), problem)

    def read(source: SecretSource, name: str) -> str:
        if source.kind == "value":
            return source.value.strip()
        if source.kind == "file":
            file = Path(source.value)
            if not file.is_absolute() and base_dir is not None:
                file = base_dir / file
            try:
                value = file.read_text("utf-8").strip()
            except OSError as exc:
                raise refuse(source, name, f"cannot read {file} ({exc.strerror or exc})") from None
            if not value:
                raise refuse(source, name, f"{file} is empty")
            return value
        value = env.get(source.value, "").strip()
        if not value:
            raise refuse(source, name, f"environment variable {source.value} is not set or empty")
        return value

    token = read(bot.token, "token")
    if not TOKEN.match(token):
        raise refuse(bot.token, "token", "does not look like a Bot API token")
    secret = None
    if bot.webhook_secret is not None:
        secret = read(bot.webhook_secret, "webhookSecret")
        if not WEBHOOK_SECRET.match(secret):
            raise refuse(bot.webhook_secret, "webhookSecret", f"must be {WEBHOOK_SECRET_RULE}")
    handler_secrets: dict[str, SecretSource] = {}
    for name, source in secrets_of(bot.handler).items():
        if not isinstance(source, SecretSource):  # the contract parses only sources here
            raise TypeError(f"{name}: a Secret reference in a bots file")
        value = read(source, name)
        problem = secret_problem(name, value)
        if problem is not None:
            raise refuse(source, name, problem)
        handler_secrets[name] = SecretSource("value", value)
    return BotConfig(
        slug=bot.slug,
        token=token,
        webhook_secret=secret,
        chat_ordering=bot.chat_ordering,
        handler=with_secrets(bot.handler, handler_secrets),
    )


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(problem)
