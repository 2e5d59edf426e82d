"""Handler types and their options: each built-in type declares its options once, as the fields
of its config dataclass; parsing, dumping, the CRD's `handler` schema and the README all read
those declarations. A plugin's settings go under `handler.options`, the one open mapping, so an
option a built-in type does not have is refused everywhere (API server and gateway alike)."""

import dataclasses
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from .errors import ContractError
from .forward_options import (
    Form,
    Header,
    Signing,
    dump_headers,
    dump_signing,
    header_value_problem,
    headers_schema,
    parse_headers,
    parse_signing,
    parse_signing_keys,
    signing_schema,
)
from .limits import (
    FORWARD_TIMEOUT_DEFAULT,
    FORWARD_TIMEOUT_MAX,
    HANDLER_TYPE_MAX_LENGTH,
    URL_MAX_LENGTH,
    URL_PATTERN,
    is_http_url,
    is_seconds,
)
from .secrets import SecretSource, SecretValue

PLUGIN_OPTIONS = "options"
"""The plugin escape hatch: `handler.options` is passed to the plugin as it is written."""

Schema = dict[str, Any]


@dataclass(frozen=True)
class OptionKind:
    """What values an option takes, said three ways that must agree: an OpenAPI schema (plus CEL
    rules where OpenAPI cannot say it) for the API server, and a check for the gateway.

    A structured option (`signing`, `headers`) brings its own `read`, which names the field
    inside it that it refuses and knows the document's `Form`, and its own `dump`; its schema
    (the BotGateway's form) carries its own CEL rules."""

    schema: Mapping[str, Any]
    accepts: Callable[[Any], bool] = lambda value: True
    rule: str = ""
    """The refusal, for a person: `must be ...`."""
    cel: str | None = None
    convert: Callable[[Any], Any] = lambda value: value
    read: Callable[[Any, str, Form], Any] | None = None
    dump: Callable[[Any], Any] = lambda value: value

    def parse(self, value: Any, field: str, form: Form) -> Any:
        if self.read is not None:
            return self.read(value, field, form)
        if not self.accepts(value):
            raise ContractError(field, self.rule)
        return self.convert(value)


HTTP_URL = OptionKind(
    schema={"type": "string", "maxLength": URL_MAX_LENGTH},
    accepts=is_http_url,
    rule="must be an http:// or https:// URL with a host",
    cel=f"self.matches(r'{URL_PATTERN}')",
)
TIMEOUT_SECONDS = OptionKind(
    schema={
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": FORWARD_TIMEOUT_MAX,
    },
    accepts=lambda value: is_seconds(value, FORWARD_TIMEOUT_MAX),
    rule=f"must be a number of seconds in (0, {FORWARD_TIMEOUT_MAX:g}]",
    convert=float,
)
SIGNING = OptionKind(schema=signing_schema(), read=parse_signing, dump=dump_signing)
HEADERS = OptionKind(schema=headers_schema(), read=parse_headers, dump=dump_headers)


@dataclass(frozen=True)
class Option:
    key: str
    """The name in YAML (`timeoutSeconds`); the dataclass field is its Python name."""
    kind: OptionKind
    description: str


def option(key: str, kind: OptionKind, description: str, **default: Any) -> Any:
    """A config field that is also a handler option (`default=` when optional)."""
    return field(metadata={"option": Option(key, kind, description)}, **default)


@dataclass(frozen=True)
class ForwardConfig:
    """POSTs each update to a backend."""

    type: ClassVar[str] = "forward"
    url: str = option("url", HTTP_URL, "Where each update is POSTed.")
    timeout_seconds: float = option(
        "timeoutSeconds",
        TIMEOUT_SECONDS,
        f"Request timeout, in (0, {FORWARD_TIMEOUT_MAX:g}] seconds.",
        default=FORWARD_TIMEOUT_DEFAULT,
    )
    signing: Signing | None = option(
        "signing",
        SIGNING,
        "Sign each request with HMAC-SHA256 (headers X-Botgateway-Timestamp and "
        "X-Botgateway-Signature; see Request signing) using the key(s) of a secret: "
        "`secretRef` in a BotGateway, `secretFile` or `secretEnv` in the bots file.",
        default=None,
    )
    headers: tuple[Header, ...] = option(
        "headers",
        HEADERS,
        "Headers sent with each request, e.g. an Authorization value: `[{name, value}]`, the "
        "value written inline or, for a secret, from `valueFrom.secretKeyRef` in a BotGateway "
        "or `valueFile`/`valueEnv` in the bots file. Hop-by-hop headers, Host, Content-Type, "
        "Content-Length, User-Agent and X-Botgateway-* are refused.",
        default=(),
    )


@dataclass(frozen=True)
class TelegramEchoConfig:
    """Answers a text message with the same text through the Bot API."""

    type: ClassVar[str] = "telegram-echo"


@dataclass(frozen=True)
class DiscardConfig:
    """Completes every job at once."""

    type: ClassVar[str] = "discard"


@dataclass(frozen=True)
class PluginConfig:
    """A handler registered under the `botgateway.handlers` entry points; `options` is its own."""

    type: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


BuiltinConfig = ForwardConfig | TelegramEchoConfig | DiscardConfig
HandlerConfig = BuiltinConfig | PluginConfig
BUILTIN: Mapping[str, type[BuiltinConfig]] = MappingProxyType(
    {c.type: c for c in (ForwardConfig, TelegramEchoConfig, DiscardConfig)}
)


def options_of(config: type[BuiltinConfig]) -> tuple[tuple[dataclasses.Field[Any], Option], ...]:
    return tuple((f, f.metadata["option"]) for f in dataclasses.fields(config))


def is_required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def all_options() -> dict[str, tuple[Option, tuple[str, ...]]]:
    """Every built-in option key, with the types that take it (in BUILTIN order)."""
    found: dict[str, tuple[Option, tuple[str, ...]]] = {}
    for name, config in BUILTIN.items():
        for _, opt in options_of(config):
            previous = found.get(opt.key)
            if previous is not None and previous[0] != opt:
                raise RuntimeError(f"option {opt.key!r} is declared twice, differently")
            found[opt.key] = (opt, (*(previous[1] if previous else ()), name))
    return found


def parse_handler(
    raw: object, plugin_types: Collection[str] | None = None, form: Form = "bots-file"
) -> HandlerConfig:
    """A `handler:` mapping as typed config; `plugin_types` (when known) are the installed
    plugins; `form` says which document it is from (how its secrets are named).
    `ContractError` names the field (`handler.retries`)."""
    if raw is None:
        raise ContractError("handler", "missing; give at least `type:`")
    if not isinstance(raw, Mapping):
        raise ContractError("handler", "must be a mapping with a `type:`")
    kind = raw.get("type")
    if not isinstance(kind, str) or not 0 < len(kind) <= HANDLER_TYPE_MAX_LENGTH:
        raise ContractError("handler.type", f"missing; {_known(plugin_types)}")
    config = BUILTIN.get(kind)
    if config is None:
        return _plugin(kind, raw, plugin_types)
    declared = options_of(config)
    keys = [opt.key for _, opt in declared]
    unknown = sorted(set(raw) - {"type", *keys})
    if unknown:
        takes = f"it takes {', '.join(keys)}" if keys else "it takes no options"
        hint = "; `options` is for plugin handlers" if PLUGIN_OPTIONS in unknown else ""
        raise ContractError(
            f"handler.{unknown[0]}", f"not an option of a {kind} handler ({takes}){hint}"
        )
    values: dict[str, Any] = {}
    for f, opt in declared:
        if opt.key not in raw:
            if is_required(f):
                raise ContractError(f"handler.{opt.key}", f"required for a {kind} handler")
            continue
        values[f.name] = opt.kind.parse(raw[opt.key], f"handler.{opt.key}", form)
    return config(**values)


def _plugin(
    kind: str, raw: Mapping[Any, Any], plugin_types: Collection[str] | None
) -> HandlerConfig:
    if plugin_types is not None and kind not in plugin_types:
        raise ContractError("handler.type", f"unknown handler {kind!r}; {_known(plugin_types)}")
    inline = sorted(str(k) for k in set(raw) - {"type", PLUGIN_OPTIONS})
    if inline:
        raise ContractError(
            f"handler.{inline[0]}",
            f"a plugin handler takes its settings under handler.{PLUGIN_OPTIONS}",
        )
    options = raw.get(PLUGIN_OPTIONS, {})
    if not isinstance(options, Mapping):
        raise ContractError(f"handler.{PLUGIN_OPTIONS}", "must be a mapping")
    return PluginConfig(kind, MappingProxyType(dict(options)))


def _known(plugin_types: Collection[str] | None) -> str:
    names = sorted({*BUILTIN, *(plugin_types or ())})
    more = "" if plugin_types is not None else " or a plugin"
    return f"known: {', '.join(names)}{more}"


def dump_handler(config: HandlerConfig) -> dict[str, Any]:
    """The `handler:` mapping for `config`; options at their default are left out."""
    out: dict[str, Any] = {"type": config.type}
    if isinstance(config, PluginConfig):
        if config.options:
            out[PLUGIN_OPTIONS] = dict(config.options)
        return out
    for f, opt in options_of(type(config)):
        value = getattr(config, f.name)
        if is_required(f) or value != f.default:
            out[opt.key] = opt.kind.dump(value)
    return out


SIGNING_SECRET = "handler.signing.secret"


def secrets_of(config: HandlerConfig) -> dict[str, SecretValue]:
    """The secrets a handler's options name, by field (`handler.signing.secret`,
    `handler.headers[0].value`); a header written inline is not one. The gateway reads them,
    the operator mounts them."""
    if not isinstance(config, ForwardConfig):
        return {}
    found: dict[str, SecretValue] = {}
    if config.signing is not None:
        found[SIGNING_SECRET] = config.signing.secret
    for index, header in enumerate(config.headers):
        if not (isinstance(header.value, SecretSource) and header.value.kind == "value"):
            found[f"handler.headers[{index}].value"] = header.value
    return found


def secret_problem(field: str, value: str) -> str | None:
    """What is wrong with the value read for a secret of `secrets_of` (never repeating it)."""
    if field == SIGNING_SECRET:
        try:
            parse_signing_keys(value)
        except ValueError as exc:
            return str(exc)
        return None
    return header_value_problem(value)


def with_secrets(config: HandlerConfig, secrets: Mapping[str, SecretValue]) -> HandlerConfig:
    """`config` with the secrets of `secrets_of` replaced (by the value read, or the file the
    operator mounts)."""
    if not isinstance(config, ForwardConfig):
        return config
    signing = config.signing
    if signing is not None:
        signing = Signing(secrets.get(SIGNING_SECRET, signing.secret))
    headers = tuple(
        Header(h.name, secrets.get(f"handler.headers[{i}].value", h.value))
        for i, h in enumerate(config.headers)
    )
    return dataclasses.replace(config, signing=signing, headers=headers)


def handler_schema() -> Schema:
    """The CRD's `handler` schema. Each option is a property; a CEL rule per option refuses it
    on the types that do not take it, and one per required option asks for it."""
    builtins = list(BUILTIN)
    properties: Schema = {
        "type": {
            "type": "string",
            "description": f"{', '.join(builtins)}, or a registered plugin.",
            "minLength": 1,
            "maxLength": HANDLER_TYPE_MAX_LENGTH,
        }
    }
    rules: list[Schema] = []
    for key, (opt, types) in all_options().items():
        prop: Schema = {**opt.kind.schema, "description": f"{_only(types)}{opt.description}"}
        if opt.kind.cel:
            prop["x-kubernetes-validations"] = [
                {"rule": opt.kind.cel, "message": f"handler.{key} {opt.kind.rule}"}
            ]
        properties[key] = prop
        if set(types) != set(builtins):
            rules.append(
                _rule(
                    f"!has(self.{key}) || self.type in {_cel_list(types)}",
                    f"handler.{key} is an option of {' and '.join(types)} handlers only",
                    key,
                    "FieldValueForbidden",
                )
            )
        for name in types:
            required = [o.key for f, o in options_of(BUILTIN[name]) if is_required(f)]
            if key in required:
                rules.append(
                    _rule(
                        f"self.type != '{name}' || has(self.{key})",
                        f"handler.{key} is required for a {name} handler",
                        key,
                        "FieldValueRequired",
                    )
                )
    properties[PLUGIN_OPTIONS] = {
        "type": "object",
        "description": "Plugin handlers only: the plugin's own settings, passed as written.",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    rules.append(
        _rule(
            f"!has(self.{PLUGIN_OPTIONS}) || !(self.type in {_cel_list(builtins)})",
            f"handler.{PLUGIN_OPTIONS} is for plugin handlers; {', '.join(builtins)} take "
            "their options as fields of handler",
            PLUGIN_OPTIONS,
            "FieldValueForbidden",
        )
    )
    return {
        "type": "object",
        "description": "What the worker does with each update. Options a handler type does not "
        f"take are refused; a plugin's settings go under `{PLUGIN_OPTIONS}`.",
        "required": ["type"],
        "properties": properties,
        "x-kubernetes-validations": rules,
    }


def _only(types: tuple[str, ...]) -> str:
    return "" if set(types) == set(BUILTIN) else f"{' and '.join(types)} only. "


def _cel_list(items: Collection[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


def _rule(rule: str, message: str, key: str, reason: str) -> Schema:
    return {"rule": rule, "message": message, "fieldPath": f".{key}", "reason": reason}
