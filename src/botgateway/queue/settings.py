"""Queue settings, read from the environment once and validated at start (seed names, defaults
in `environment.py`)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from .environment import (
    DATABASE_URL,
    QUEUE_BACKOFF,
    QUEUE_DONE_RETENTION,
    QUEUE_JANITOR_INTERVAL,
    QUEUE_MAX_ATTEMPTS,
    QUEUE_MAX_RETRY_AFTER,
    QUEUE_STUCK_TIMEOUT,
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

    @property
    def heartbeat_interval(self) -> timedelta:
        """Workers renew their lease four times per stuck timeout, at most once a minute."""
        return min(self.stuck_timeout / 4, timedelta(minutes=1))

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, require_database: bool = True) -> "QueueSettings":
        return cls(
            database_url=(
                DATABASE_URL.read(env) if require_database else DATABASE_URL.read_optional(env)
            )
            or "",
            done_retention=QUEUE_DONE_RETENTION.read(env),
            stuck_timeout=QUEUE_STUCK_TIMEOUT.read(env),
            janitor_interval=QUEUE_JANITOR_INTERVAL.read(env),
            max_attempts=QUEUE_MAX_ATTEMPTS.read(env),
            backoff=QUEUE_BACKOFF.read(env),
            max_retry_after=QUEUE_MAX_RETRY_AFTER.read(env),
        )
