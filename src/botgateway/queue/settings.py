"""Queue settings, read from the environment once and validated at start (seed names, defaults
in `environment.py`)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, cast

from .environment import (
    DATABASE_DIRECT_URL,
    DATABASE_POOLER,
    DATABASE_URL,
    QUEUE_BACKOFF,
    QUEUE_DONE_RETENTION,
    QUEUE_JANITOR_INTERVAL,
    QUEUE_MAX_ATTEMPTS,
    QUEUE_MAX_RETRY_AFTER,
    QUEUE_STUCK_TIMEOUT,
)

Pooler = Literal["none", "transaction", "session"]

COMMAND_POOL_SIZE = 2
"""Connections of the one-off commands (`migrate`, `jobs`; `janitor` has JANITOR_POOL_SIZE):
`migrate` runs one transaction, so a gateway pod's migrate init container stays within it."""


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the queue's database is, and what stands in front of it."""

    url: str = ""
    pooler: Pooler = "none"
    direct_url: str = ""
    """A URL that bypasses the pooler, for LISTEN only ("" when none is given)."""

    @property
    def listen_url(self) -> str | None:
        """Where LISTEN can hold its session: the direct URL when given, else the main one
        unless a transaction pooler hands each transaction to another server connection
        (None: poll instead)."""
        if self.direct_url:
            return self.direct_url
        return None if self.pooler == "transaction" else self.url

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, require_url: bool = True, listens: bool = False
    ) -> "DatabaseSettings":
        """`listens`: the command runs workers, which alone use the direct URL."""
        url = DATABASE_URL.read(env) if require_url else DATABASE_URL.read_optional(env)
        direct = DATABASE_DIRECT_URL.read_optional(env) if listens else None
        return cls(
            url=url or "",
            pooler=cast(Pooler, DATABASE_POOLER.read(env)),
            direct_url=direct or "",
        )


@dataclass(frozen=True)
class QueueSettings:
    database_url: str = ""
    done_retention: timedelta = QUEUE_DONE_RETENTION.value
    stuck_timeout: timedelta = QUEUE_STUCK_TIMEOUT.value
    janitor_interval: timedelta = QUEUE_JANITOR_INTERVAL.value
    max_attempts: int = QUEUE_MAX_ATTEMPTS.value
    backoff: tuple[timedelta, ...] = field(default=QUEUE_BACKOFF.value)
    max_retry_after: timedelta = QUEUE_MAX_RETRY_AFTER.value
    pooler: Pooler = "none"
    direct_url: str = ""

    @property
    def database(self) -> DatabaseSettings:
        return DatabaseSettings(self.database_url, self.pooler, self.direct_url)

    @property
    def heartbeat_interval(self) -> timedelta:
        """Workers renew their lease four times per stuck timeout, at most once a minute."""
        return min(self.stuck_timeout / 4, timedelta(minutes=1))

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, require_database: bool = True, listens: bool = False
    ) -> "QueueSettings":
        database = DatabaseSettings.from_env(env, require_url=require_database, listens=listens)
        return cls(
            database_url=database.url,
            pooler=database.pooler,
            direct_url=database.direct_url,
            done_retention=QUEUE_DONE_RETENTION.read(env),
            stuck_timeout=QUEUE_STUCK_TIMEOUT.read(env),
            janitor_interval=QUEUE_JANITOR_INTERVAL.read(env),
            max_attempts=QUEUE_MAX_ATTEMPTS.read(env),
            backoff=QUEUE_BACKOFF.read(env),
            max_retry_after=QUEUE_MAX_RETRY_AFTER.read(env),
        )
