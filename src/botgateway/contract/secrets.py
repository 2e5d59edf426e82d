"""Where a secret comes from, in the two documents that name one: the bots file says a value, a
file or an environment variable (`SecretSource`); a BotGateway names a key of a Kubernetes Secret
(`SecretKeyRef`), which the operator mounts as a file and writes into the bots file as one."""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ContractError

SourceKind = Literal["value", "file", "env"]
SUFFIXES: Mapping[SourceKind, str] = {"value": "", "file": "File", "env": "Env"}
SECRET_NAME_MAX_LENGTH = 253


@dataclass(frozen=True)
class SecretSource:
    """Where a token or webhook secret comes from: written inline, a file, or a variable."""

    kind: SourceKind
    value: str = field(repr=False)

    def key(self, name: str) -> str:
        """The field that holds it: `token`, `tokenFile` or `tokenEnv`."""
        return name + SUFFIXES[self.kind]


@dataclass(frozen=True)
class SecretKeyRef:
    """A key of a Secret in the BotGateway's namespace."""

    name: str
    key: str


SecretValue = SecretSource | SecretKeyRef
"""A secret as a document names it: resolved by the gateway (a source) or the operator (a ref)."""


def read_source(
    raw: Mapping[str, Any],
    name: str,
    kinds: Collection[SourceKind] = tuple(SUFFIXES),
    where: str = "",
) -> SecretSource | None:
    """`name`, `nameFile` or `nameEnv` of `raw` (at most one of them, and only of `kinds`);
    `where` prefixes the field path of a refusal (`handler.signing.`)."""
    given = [(kind, name + s) for kind, s in SUFFIXES.items() if raw.get(name + s) is not None]
    if not given:
        return None
    if len(given) > 1:
        raise ContractError(
            where + given[1][1], f"give only one of {', '.join(k for _, k in given)}"
        )
    kind, key = given[0]
    if kind not in kinds:
        allowed = " or ".join(name + SUFFIXES[k] for k in kinds)
        raise ContractError(where + key, f"not written in the bots file; give {allowed}")
    value = raw[key]
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise ContractError(where + key, "must be a non-empty string")
    return SecretSource(kind, str(value))


def parse_secret_ref(raw: object, where: str, default_key: str | None) -> SecretKeyRef:
    """`{name, key}` (`key` defaulted when `default_key` is given)."""
    if not isinstance(raw, Mapping):
        raise ContractError(where, "must be a mapping {name, key}")
    name = raw.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= SECRET_NAME_MAX_LENGTH:
        raise ContractError(f"{where}.name", "required: the name of a Secret")
    key = raw.get("key", default_key)
    if not isinstance(key, str) or not 0 < len(key) <= SECRET_NAME_MAX_LENGTH:
        raise ContractError(f"{where}.key", "required: a key of that Secret")
    return SecretKeyRef(name=name, key=key)


def secret_ref_schema(description: str, default_key: str | None) -> dict[str, Any]:
    """The CRD's `{name, key}` object."""
    key: dict[str, Any] = {"type": "string", "description": "Key in that Secret."}
    if default_key is not None:
        key["default"] = default_key
    key["maxLength"] = SECRET_NAME_MAX_LENGTH
    return {
        "type": "object",
        "description": description,
        "required": ["name"] if default_key is not None else ["name", "key"],
        "properties": {
            "name": {
                "type": "string",
                "description": "Name of a Secret in the BotGateway's namespace.",
                "maxLength": SECRET_NAME_MAX_LENGTH,
            },
            "key": key,
        },
    }
