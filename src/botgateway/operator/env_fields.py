"""BotGateway fields that become one environment variable of the gateway's containers, listed
once. The CRD's schema for each (type, limits, default, description), the spec parser and the
container builders are all derived from this list and the variable's declaration, so a new
CRD-to-environment field is one line here (plus the variable, if it is new)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botgateway.contract.environment import (
    BY_NAME,
    DATABASE_POOL_SIZE,
    DATABASE_POOLER,
    JANITOR_POOL_SIZE,
    LOG_LEVEL,
    QUEUE_DONE_RETENTION,
    QUEUE_MAX_ATTEMPTS,
    QUEUE_MAX_RETRY_AFTER,
    QUEUE_STUCK_TIMEOUT,
    TELEGRAM_API_BASE,
    WORKER_CONCURRENCY,
    EnvVar,
)
from botgateway.queue.environment import Command

from .errors import SpecError


@dataclass(frozen=True)
class EnvField:
    path: tuple[str, ...]
    """Below `spec`: ("janitor", "doneRetention")."""
    var: EnvVar[Any]
    defaulted: bool = True
    """The CRD defaults the field to the variable's default (else: unset unless given)."""

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.var.kind.schema,
            "description": f"{self.var.description} Sets {self.var.name}.",
        }
        if self.defaulted and self.var.default is not None:
            out["default"] = self.var.kind.to_json(self.var.default)
        return out


ENV_FIELDS: tuple[EnvField, ...] = (
    EnvField(("database", "pooler"), DATABASE_POOLER),
    EnvField(("database", "poolSize"), DATABASE_POOL_SIZE),
    EnvField(("janitor", "poolSize"), JANITOR_POOL_SIZE),
    EnvField(("worker", "concurrency"), WORKER_CONCURRENCY),
    EnvField(("worker", "maxAttempts"), QUEUE_MAX_ATTEMPTS),
    EnvField(("worker", "maxRetryAfter"), QUEUE_MAX_RETRY_AFTER),
    EnvField(("janitor", "doneRetention"), QUEUE_DONE_RETENTION),
    EnvField(("janitor", "stuckTimeout"), QUEUE_STUCK_TIMEOUT),
    EnvField(("telegramApiBase",), TELEGRAM_API_BASE, defaulted=False),
    EnvField(("logLevel",), LOG_LEVEL, defaulted=False),
)


def properties(*section: str) -> dict[str, dict[str, Any]]:
    """The CRD properties of `section` (`()` for `spec` itself) that set a variable."""
    return {f.path[-1]: f.schema() for f in ENV_FIELDS if f.path[:-1] == section}


def parse_env(spec: Mapping[str, Any]) -> dict[str, str]:
    """Variable name -> value from a BotGateway's `spec`, defaults applied; `SpecError` names
    the field of a value the variable would refuse."""
    found: dict[str, str] = {}
    for f in ENV_FIELDS:
        node: Any = spec
        for key in f.path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if node is None:
            if f.defaulted and f.var.default is not None:
                found[f.var.name] = f.var.default
            continue
        text = str(node)
        try:
            if isinstance(node, bool):
                raise ValueError("not a setting")
            f.var.kind.parse(text)
        except ValueError:
            where = ".".join(f.path)
            raise SpecError(f"spec.{where}: {text!r} is not {f.var.kind.expected}") from None
        found[f.var.name] = text
    return found


def env_for(command: Command, values: Mapping[str, str]) -> list[dict[str, str]]:
    """The variables among `values` that `command` reads, as container `env` entries."""
    return [
        {"name": name, "value": value}
        for name, value in values.items()
        if command in BY_NAME[name].commands
    ]
