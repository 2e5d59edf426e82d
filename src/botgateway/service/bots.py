"""The bots file (`BOTGATEWAY_CONFIG`): load and validate it, resolving tokens and webhook secrets
from a value, a file or an environment variable. Every error names the bot and the field."""

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import ConfigError

SLUG = re.compile(r"^[a-z0-9-]{1,63}$")
TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
"""Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - as a webhook secret token."""

BUILTIN_HANDLERS = frozenset({"forward", "telegram-echo", "discard"})
DEFAULT_FORWARD_TIMEOUT = 10.0
_BOT_FIELDS = frozenset(
    {
        "slug",
        "token",
        "tokenFile",
        "tokenEnv",
        "webhookSecret",
        "webhookSecretFile",
        "webhookSecretEnv",
        "chatOrdering",
        "handler",
    }
)
_FORWARD_FIELDS = frozenset({"type", "url", "timeoutSeconds"})


@dataclass(frozen=True)
class HandlerSpec:
    type: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """The handler's own fields as written in the file, `type` excluded (plugins read these)."""
    url: str | None = None
    """forward: where updates are POSTed."""
    timeout_seconds: float = DEFAULT_FORWARD_TIMEOUT


@dataclass(frozen=True)
class BotConfig:
    slug: str
    token: str = field(repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    chat_ordering: bool = False
    handler: HandlerSpec = field(default_factory=lambda: HandlerSpec("discard"))


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
    if not isinstance(document, dict) or "bots" not in document:
        raise ConfigError(f"{source}: expected a mapping with a `bots:` list at the top")
    extra = sorted(set(document) - {"bots"})
    if extra:
        raise ConfigError(f"{source}: unknown top-level field(s) {', '.join(map(str, extra))}")
    entries = document["bots"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: `bots` must be a non-empty list")
    bots: list[BotConfig] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        parser = _BotParser(source, index, entry, env, base_dir, handler_types)
        bot = parser.parse()
        if bot.slug in seen:
            raise parser.error("slug", f"duplicate slug {bot.slug!r}: slugs must be unique")
        seen.add(bot.slug)
        bots.append(bot)
    return tuple(bots)


class _BotParser:
    def __init__(
        self,
        source: str,
        index: int,
        entry: object,
        env: Mapping[str, str],
        base_dir: Path | None,
        handler_types: Collection[str] | None,
    ) -> None:
        self.source = source
        self.label = f"bots[{index}]"
        self.entry = entry
        self.env = env
        self.base_dir = base_dir
        self.handler_types = handler_types

    def error(self, field_name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: bot {self.label}: field {field_name!r}: {problem}")

    def parse(self) -> BotConfig:
        if not isinstance(self.entry, dict):
            raise ConfigError(f"{self.source}: {self.label}: each bot must be a mapping")
        data: dict[str, Any] = self.entry
        slug = data.get("slug")
        if isinstance(slug, str) and SLUG.match(slug):
            self.label = f"{slug!r} ({self.label})"
        elif slug is None:
            raise self.error("slug", "missing; give 1 to 63 characters of a-z, 0-9 and -")
        else:
            raise self.error("slug", f"{slug!r} is not 1 to 63 characters of a-z, 0-9 and -")
        unknown = sorted(set(data) - _BOT_FIELDS)
        if unknown:
            raise self.error(unknown[0], "unknown field")
        token = self._secret(data, "token", required=True)
        assert token is not None
        if not TOKEN.match(token):
            raise self.error(
                self._source_field(data, "token"), "does not look like a Bot API token"
            )
        secret = self._secret(data, "webhookSecret", required=False)
        if secret is not None and not WEBHOOK_SECRET.match(secret):
            raise self.error(
                self._source_field(data, "webhookSecret"),
                "must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -",
            )
        ordering = data.get("chatOrdering", False)
        if not isinstance(ordering, bool):
            raise self.error("chatOrdering", "must be true or false")
        return BotConfig(
            slug=slug,
            token=token,
            webhook_secret=secret,
            chat_ordering=ordering,
            handler=self._handler(data.get("handler")),
        )

    @staticmethod
    def _source_field(data: Mapping[str, Any], name: str) -> str:
        for suffix in ("", "File", "Env"):
            if name + suffix in data:
                return name + suffix
        return name

    def _secret(self, data: Mapping[str, Any], name: str, *, required: bool) -> str | None:
        """`name`, `nameFile` or `nameEnv`: exactly one of them (or none when optional)."""
        given = [k for k in (name, f"{name}File", f"{name}Env") if data.get(k) is not None]
        if not given:
            if required:
                raise self.error(name, f"missing; give one of {name}, {name}File or {name}Env")
            return None
        if len(given) > 1:
            raise self.error(given[1], f"give only one of {', '.join(given)}")
        key = given[0]
        raw = data[key]
        if not isinstance(raw, str | int) or isinstance(raw, bool) or str(raw) == "":
            raise self.error(key, "must be a non-empty string")
        if key == name:
            return str(raw).strip()
        if key.endswith("File"):
            file = Path(str(raw))
            if not file.is_absolute() and self.base_dir is not None:
                file = self.base_dir / file
            try:
                value = file.read_text("utf-8").strip()
            except OSError as exc:
                raise self.error(key, f"cannot read {file} ({exc.strerror or exc})") from None
            if not value:
                raise self.error(key, f"{file} is empty")
            return value
        value = self.env.get(str(raw), "").strip()
        if not value:
            raise self.error(key, f"environment variable {raw} is not set or empty")
        return value

    def _handler(self, raw: object) -> HandlerSpec:
        if raw is None:
            raise self.error("handler", "missing; give at least `type:`")
        if not isinstance(raw, dict):
            raise self.error("handler", "must be a mapping with a `type:`")
        kind = raw.get("type")
        if not isinstance(kind, str) or not kind:
            raise self.error("handler.type", "missing; forward, telegram-echo, discard or a plugin")
        known = BUILTIN_HANDLERS | frozenset(self.handler_types or ())
        if self.handler_types is not None and kind not in known:
            raise self.error(
                "handler.type", f"unknown handler {kind!r}; known: {', '.join(sorted(known))}"
            )
        options = MappingProxyType({k: v for k, v in raw.items() if k != "type"})
        if kind != "forward":
            return HandlerSpec(kind, options)
        unknown = sorted(set(raw) - _FORWARD_FIELDS)
        if unknown:
            raise self.error(f"handler.{unknown[0]}", "unknown field for a forward handler")
        url = raw.get("url")
        if not isinstance(url, str) or not _is_http_url(url):
            raise self.error("handler.url", "must be an http:// or https:// URL")
        timeout = raw.get("timeoutSeconds", DEFAULT_FORWARD_TIMEOUT)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or not 0 < timeout <= 3600
        ):
            raise self.error("handler.timeoutSeconds", "must be a number of seconds in (0, 3600]")
        return HandlerSpec(kind, options, url=url, timeout_seconds=float(timeout))


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(problem)
