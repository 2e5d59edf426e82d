"""The forward handler's structured options, `signing` and `headers`, in their two forms: the
bots file names each secret as a file or an environment variable, a BotGateway as a key of a
Kubernetes Secret. The signature scheme's header names and key rules live here too, since the
gateway signs with them and both documents refuse a static header that would collide."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ContractError
from .secrets import (
    SecretSource,
    SecretValue,
    parse_secret_ref,
    read_source,
    secret_ref_schema,
)

Form = Literal["bots-file", "resource"]
"""Which document a handler is read from: the gateway's bots file, or a BotGateway's spec."""

HEADER_PREFIX = "X-Botgateway-"
SIGNATURE_HEADER = "X-Botgateway-Signature"
TIMESTAMP_HEADER = "X-Botgateway-Timestamp"
SIGNATURE_SCHEME = "v1"

SIGNING_KEY_PATTERN = r"^[!-~]{32,256}$"
SIGNING_KEY = re.compile(SIGNING_KEY_PATTERN)
SIGNING_KEYS_MAX = 4
SIGNING_KEY_RULE = (
    f"must hold 1 to {SIGNING_KEYS_MAX} keys separated by white space (the first is the current "
    "one, the others are still accepted while backends rotate), each 32 to 256 printable ASCII "
    "characters; make one with `openssl rand -hex 32`"
)
DEFAULT_SIGNING_SECRET_KEY = "signingKey"

HEADER_NAME_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$"
"""An HTTP field name (RFC 9110 token), at most 256 characters."""
HEADER_NAME = re.compile(HEADER_NAME_PATTERN)
HEADER_VALUE_PATTERN = r"^[^\r\n\x00]*$"
"""No line breaks or NUL: a header value cannot smuggle in another header."""
HEADER_VALUE = re.compile(HEADER_VALUE_PATTERN)
HEADER_VALUE_MAX_LENGTH = 4096
"""Within the API server's CEL cost budget for 64 bots of 16 headers."""
HEADERS_MAX = 16
RESERVED_HEADERS = (
    # hop-by-hop (RFC 9110 §7.6.1): meant for one connection, never for the backend
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    # what the gateway itself sets on every request
    "host",
    "content-length",
    "content-type",
    "user-agent",
)
HEADER_NAME_RULE = (
    "may not be a hop-by-hop header, Host, Content-Length, Content-Type, User-Agent or "
    f"{HEADER_PREFIX}*: the gateway sets those itself"
)


@dataclass(frozen=True)
class Signing:
    """Sign every request with the key(s) that `secret` holds."""

    secret: SecretValue


@dataclass(frozen=True)
class Header:
    """A header sent with every request; `value` is a literal (`SecretSource("value", …)`) or
    comes from a secret."""

    name: str
    value: SecretValue


def parse_signing_keys(text: str) -> tuple[str, ...]:
    """The keys a signing secret holds, the current one first; `ValueError` says what is wrong
    without repeating the secret."""
    keys = tuple(text.split())
    if not 0 < len(keys) <= SIGNING_KEYS_MAX or not all(SIGNING_KEY.fullmatch(k) for k in keys):
        raise ValueError(SIGNING_KEY_RULE)
    return keys


def header_name_problem(name: object) -> str | None:
    """Why `name` cannot be a static header, or None when it can."""
    if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
        return "must be an HTTP header name (letters, digits and -, at most 256 characters)"
    lowered = name.lower()
    if lowered in RESERVED_HEADERS or lowered.startswith(HEADER_PREFIX.lower()):
        return f"{name!r} {HEADER_NAME_RULE}"
    return None


def header_value_problem(value: str) -> str | None:
    if len(value) > HEADER_VALUE_MAX_LENGTH or not HEADER_VALUE.fullmatch(value):
        return (
            f"must be one line (no CR, LF or NUL) of at most {HEADER_VALUE_MAX_LENGTH} characters"
        )
    return None


def parse_signing(raw: Any, field: str, form: Form) -> Signing:
    if not isinstance(raw, Mapping):
        raise ContractError(field, "must be a mapping")
    if form == "resource":
        _only_keys(raw, field, {"secretRef"})
        if "secretRef" not in raw:
            raise ContractError(f"{field}.secretRef", "required: the Secret holding the key")
        return Signing(
            parse_secret_ref(raw["secretRef"], f"{field}.secretRef", DEFAULT_SIGNING_SECRET_KEY)
        )
    _only_keys(raw, field, {"secret", "secretFile", "secretEnv"})
    # A key written in the bots file would sit in a ConfigMap or a repository in plain text.
    source = read_source(raw, "secret", ("file", "env"), f"{field}.")
    if source is None:
        raise ContractError(field, "give secretFile or secretEnv: where the signing key is")
    return Signing(source)


def parse_headers(raw: Any, field: str, form: Form) -> tuple[Header, ...]:
    if not isinstance(raw, list) or len(raw) > HEADERS_MAX:
        raise ContractError(field, f"must be a list of at most {HEADERS_MAX} {{name, value}}")
    headers: list[Header] = []
    for index, item in enumerate(raw):
        where = f"{field}[{index}]"
        header = _header(item, where, form)
        if any(h.name.lower() == header.name.lower() for h in headers):
            raise ContractError(field, f"{header.name!r} is given twice (names ignore case)")
        headers.append(header)
    return tuple(headers)


def _header(raw: Any, where: str, form: Form) -> Header:
    if not isinstance(raw, Mapping):
        raise ContractError(where, "must be a mapping {name, value}")
    name = raw.get("name")
    problem = header_name_problem(name)
    if problem is not None:
        raise ContractError(f"{where}.name", problem)
    assert isinstance(name, str)
    value: SecretValue | None
    if form == "resource":
        _only_keys(raw, where, {"name", "value", "valueFrom"})
        value = _resource_value(raw, where)
    else:
        _only_keys(raw, where, {"name", "value", "valueFile", "valueEnv"})
        value = read_source(raw, "value", where=f"{where}.")
    if value is None:
        raise ContractError(where, "give a value (or where to read it from)")
    if isinstance(value, SecretSource) and value.kind == "value":
        problem = header_value_problem(value.value)
        if problem is not None:
            raise ContractError(f"{where}.value", problem)
    return Header(name, value)


def _resource_value(raw: Mapping[str, Any], where: str) -> SecretValue | None:
    if "value" in raw and "valueFrom" in raw:
        raise ContractError(where, "give exactly one of value or valueFrom")
    if "valueFrom" in raw:
        source = raw["valueFrom"]
        if not isinstance(source, Mapping) or set(source) != {"secretKeyRef"}:
            raise ContractError(f"{where}.valueFrom", "must be {secretKeyRef: {name, key}}")
        return parse_secret_ref(source["secretKeyRef"], f"{where}.valueFrom.secretKeyRef", None)
    value = raw.get("value")
    if value is None:
        return None
    if not isinstance(value, str):
        raise ContractError(f"{where}.value", "must be a string")
    return SecretSource("value", value)


def _only_keys(raw: Mapping[str, Any], where: str, known: set[str]) -> None:
    unknown = sorted(str(k) for k in set(raw) - known)
    if unknown:
        raise ContractError(
            f"{where}.{unknown[0]}", f"unknown field; known: {', '.join(sorted(known))}"
        )


def _bots_file_form(value: SecretValue) -> SecretSource:
    """A secret as the bots file names it: the operator turns each ref into a file first."""
    if not isinstance(value, SecretSource):
        raise ValueError(f"Secret {value.name}/{value.key} has no bots-file form; mount it first")
    return value


def dump_signing(signing: Signing) -> dict[str, Any]:
    source = _bots_file_form(signing.secret)
    return {source.key("secret"): source.value}


def dump_headers(headers: tuple[Header, ...]) -> list[dict[str, Any]]:
    out = []
    for header in headers:
        source = _bots_file_form(header.value)
        out.append({"name": header.name, source.key("value"): source.value})
    return out


def signing_schema() -> dict[str, Any]:
    """`signing` in a BotGateway (the CRD's form)."""
    return {
        "type": "object",
        "required": ["secretRef"],
        "properties": {
            "secretRef": secret_ref_schema(
                "The Secret key holding the signing key(s): 1 to "
                f"{SIGNING_KEYS_MAX} keys separated by white space, each 32 to 256 printable "
                "characters; every key signs, the first is the current one. Mounted into the "
                "gateway pods; a change rolls them.",
                DEFAULT_SIGNING_SECRET_KEY,
            )
        },
    }


def headers_schema() -> dict[str, Any]:
    """`headers` in a BotGateway (the CRD's form): a list keyed by name (so server-side apply
    merges it by name), whose names differ in more than case."""
    reserved = ", ".join(f"'{h}'" for h in RESERVED_HEADERS)
    return {
        "type": "array",
        "maxItems": HEADERS_MAX,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "x-kubernetes-validations": [
            {
                "rule": "self.all(h, self.filter(g, g.name.lowerAscii() == h.name.lowerAscii())"
                ".size() == 1)",
                "message": "handler.headers: each name once (names ignore case)",
            }
        ],
        "items": {
            "type": "object",
            "description": "One header: a literal `value`, or `valueFrom.secretKeyRef`.",
            "required": ["name"],
            "properties": {
                "name": {
                    "type": "string",
                    "description": "The header's name.",
                    "maxLength": 256,
                    "x-kubernetes-validations": [
                        {
                            "rule": f'self.matches(r"{HEADER_NAME_PATTERN}")',
                            "message": "handler.headers[].name must be an HTTP header name",
                        },
                        {
                            "rule": f"!(self.lowerAscii() in [{reserved}]) && "
                            f"!self.lowerAscii().startsWith('{HEADER_PREFIX.lower()}')",
                            "message": f"handler.headers[].name {HEADER_NAME_RULE}",
                        },
                    ],
                },
                "value": {
                    "type": "string",
                    "description": "The value as written (not for secrets: see valueFrom).",
                    "maxLength": HEADER_VALUE_MAX_LENGTH,
                    "x-kubernetes-validations": [
                        {
                            "rule": f'self.matches(r"{HEADER_VALUE_PATTERN}")',
                            "message": "handler.headers[].value must be one line (no CR, LF "
                            "or NUL)",
                        }
                    ],
                },
                "valueFrom": {
                    "type": "object",
                    "description": "Where the value comes from.",
                    "required": ["secretKeyRef"],
                    "properties": {
                        "secretKeyRef": secret_ref_schema(
                            "The Secret key holding the value (mounted into the gateway pods).",
                            None,
                        )
                    },
                },
            },
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.value) != has(self.valueFrom)",
                    "message": "handler.headers[]: give exactly one of value or valueFrom",
                }
            ],
        },
    }
