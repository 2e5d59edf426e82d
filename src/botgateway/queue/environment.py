"""Environment variables as declarations: name, default (its one copy), how the text is parsed,
what it means and which `botgateway` commands read it. Every settings `from_env` reads through
these; the operator's container builders and the README's reference are derived from the same
list (`botgateway.contract.environment.CATALOGUE`). The queue's own variables live here because
the queue imports no sibling."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from .durations import GO_DURATION_PATTERN, parse_duration
from .errors import SettingsError

T = TypeVar("T")
Command = Literal["serve", "dev", "migrate", "janitor", "jobs", "operator"]
COMMANDS: tuple[Command, ...] = ("serve", "dev", "migrate", "janitor", "jobs", "operator")
EVERY_COMMAND: frozenset[Command] = frozenset(COMMANDS)
DATABASE_COMMANDS: frozenset[Command] = frozenset({"serve", "dev", "migrate", "janitor", "jobs"})
WORKER_COMMANDS: frozenset[Command] = frozenset({"serve", "dev"})


@dataclass(frozen=True)
class Kind(Generic[T]):
    """How a variable's text is read, and the same rule as an OpenAPI schema for a CRD field
    that sets it (`to_json` turns the text into that field's value)."""

    parse: Callable[[str], T]
    """Raises ValueError when the text is unusable."""
    expected: str
    schema: Mapping[str, Any]
    to_json: Callable[[str], Any] = str


def duration(*, positive: bool = False) -> Kind[timedelta]:
    def parse(text: str) -> timedelta:
        value = parse_duration(text)
        if positive and value <= timedelta(0):
            raise ValueError("not positive")
        return value

    more = " greater than zero" if positive else ""
    return Kind(
        parse,
        f"a Go duration{more} such as 90s, 30m or 168h",
        {"type": "string", "pattern": GO_DURATION_PATTERN},
    )


def whole(minimum: int, maximum: int | None = None) -> Kind[int]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError("out of range")
        return value

    schema: dict[str, Any] = {"type": "integer", "minimum": minimum}
    bound = f"at least {minimum}"
    if maximum is not None:
        schema["maximum"] = maximum
        bound = f"from {minimum} to {maximum}"
    return Kind(parse, f"a whole number {bound}", schema, to_json=int)


def durations() -> Kind[tuple[timedelta, ...]]:
    return Kind(
        lambda text: tuple(parse_duration(part) for part in text.split(",")),
        "a comma-separated list of Go durations such as 30s,2m,10m,1h",
        {"type": "string"},
    )


def choice(*values: str, fold: Callable[[str], str] = str.lower) -> Kind[str]:
    def parse(text: str) -> str:
        value = fold(text.strip())
        if value not in values:
            raise ValueError("not a choice")
        return value

    return Kind(parse, " or ".join(values), {"type": "string", "enum": list(values)})


def _http_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http URL")
    return text.strip().rstrip("/")


HTTP_URL: Kind[str] = Kind(
    _http_url, "an http:// or https:// URL", {"type": "string", "maxLength": 2048}
)
TEXT: Kind[str] = Kind(lambda text: text.strip(), "a text", {"type": "string"})
POSTGRES_URL: Kind[str] = Kind(
    lambda text: text.strip(),
    "a PostgreSQL URL such as postgresql://user:pass@host/db",
    {"type": "string"},
)


@dataclass(frozen=True)
class EnvVar(Generic[T]):
    name: str
    kind: Kind[T]
    default: str | None
    """The one copy of the default, as text; None: required (`required`) or simply unset."""
    description: str
    commands: frozenset[Command]
    required: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", self.name):
            raise ValueError(f"not an environment variable name: {self.name!r}")
        if self.default is not None:
            self.kind.parse(self.default)  # a default that does not parse is a bug here

    def read(self, env: Mapping[str, str]) -> T:
        """The value in `env`, else the default; SettingsError names the variable."""
        raw = env.get(self.name, "")
        if not raw.strip():
            if self.default is None:
                raise SettingsError(self.name, raw, self.kind.expected)
            raw = self.default
        try:
            return self.kind.parse(raw)
        except ValueError:
            raise SettingsError(self.name, raw, self.kind.expected) from None

    def read_optional(self, env: Mapping[str, str]) -> T | None:
        """Like `read`, for a variable without a default: None when unset."""
        if not env.get(self.name, "").strip() and self.default is None:
            return None
        return self.read(env)

    @property
    def value(self) -> T:
        """The parsed default, for a settings dataclass's field default."""
        if self.default is None:
            raise ValueError(f"{self.name} has no default")
        return self.kind.parse(self.default)


DATABASE_URL = EnvVar(
    "DATABASE_URL",
    POSTGRES_URL,
    None,
    "PostgreSQL URL, e.g. `postgresql://gw:secret@db:5432/gateway`.",
    DATABASE_COMMANDS,
    required=True,
)
DATABASE_POOLER = EnvVar(
    "DATABASE_POOLER",
    choice("none", "transaction", "session"),
    "none",
    "What stands between botgateway and PostgreSQL: `none`, or a connection pooler (PgBouncer, "
    "CloudNativePG's Pooler) in `transaction` or `session` mode. `transaction` turns off "
    "prepared-statement caching and LISTEN (see `DATABASE_DIRECT_URL`). Declared, not detected: "
    "a transaction pooler looks like PostgreSQL to a client until a statement goes wrong.",
    DATABASE_COMMANDS,
)
DATABASE_DIRECT_URL = EnvVar(
    "DATABASE_DIRECT_URL",
    POSTGRES_URL,
    None,
    "PostgreSQL URL that bypasses the pooler, used only for the workers' LISTEN connection "
    "(one per gateway process). Behind a `transaction` pooler without it, workers poll "
    "every second instead of waking on NOTIFY.",
    WORKER_COMMANDS,
)
JANITOR_POOL_SIZE = EnvVar(
    "JANITOR_POOL_SIZE",
    whole(1, 100),
    "2",
    "PostgreSQL connections of `botgateway janitor` (the CronJob); the in-process loop of "
    "`serve` shares the gateway's pool.",
    frozenset({"janitor"}),
)
QUEUE_DONE_RETENTION = EnvVar(
    "QUEUE_DONE_RETENTION",
    duration(),
    "168h",
    "How long `done` rows are kept before the janitor deletes them.",
    frozenset({"serve", "dev", "janitor"}),
)
QUEUE_STUCK_TIMEOUT = EnvVar(
    "QUEUE_STUCK_TIMEOUT",
    duration(positive=True),
    "30m",
    "How long a running job may go without a heartbeat before it counts as stuck (also the "
    "lease length; workers heartbeat every quarter of it, at most every minute).",
    frozenset({"serve", "dev", "janitor"}),
)
QUEUE_JANITOR_INTERVAL = EnvVar(
    "QUEUE_JANITOR_INTERVAL",
    duration(positive=True),
    "1h",
    "Period of the in-process janitor loop (`serve`, `dev`, `janitor` without `--once`).",
    frozenset({"serve", "dev", "janitor"}),
)
QUEUE_MAX_ATTEMPTS = EnvVar(
    "QUEUE_MAX_ATTEMPTS",
    whole(1, 100),
    "5",
    "Attempts before a job is `dead` (the janitor dead-letters a stuck job that used them all).",
    frozenset({"serve", "dev", "janitor"}),
)
QUEUE_BACKOFF = EnvVar(
    "QUEUE_BACKOFF",
    durations(),
    "30s,2m,10m,1h",
    "Delays between attempts, comma-separated; the last one repeats. ±10% jitter is added.",
    frozenset({"serve", "dev", "janitor"}),
)
QUEUE_MAX_RETRY_AFTER = EnvVar(
    "QUEUE_MAX_RETRY_AFTER",
    duration(positive=True),
    "1h",
    "Longest wait a backend's or Telegram's `Retry-After` can impose before the next attempt; "
    "a longer one is cut to this and logged. The default matches the backoff's longest step.",
    frozenset({"serve", "dev", "janitor"}),
)

QUEUE_VARIABLES: tuple[EnvVar[Any], ...] = (
    DATABASE_URL,
    DATABASE_POOLER,
    DATABASE_DIRECT_URL,
    JANITOR_POOL_SIZE,
    QUEUE_DONE_RETENTION,
    QUEUE_STUCK_TIMEOUT,
    QUEUE_JANITOR_INTERVAL,
    QUEUE_MAX_ATTEMPTS,
    QUEUE_BACKOFF,
    QUEUE_MAX_RETRY_AFTER,
)
