"""Queue settings, read from the environment once and validated at start (seed names, defaults)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from .durations import parse_duration
from .errors import SettingsError

_DURATION_HINT = "a Go duration such as 90s, 30m or 168h"


@dataclass(frozen=True)
class QueueSettings:
    database_url: str = ""
    done_retention: timedelta = timedelta(hours=168)
    stuck_timeout: timedelta = timedelta(minutes=30)
    janitor_interval: timedelta = timedelta(hours=1)
    max_attempts: int = 5
    backoff: tuple[timedelta, ...] = field(
        default=(
            timedelta(seconds=30),
            timedelta(minutes=2),
            timedelta(minutes=10),
            timedelta(hours=1),
        )
    )

    @property
    def heartbeat_interval(self) -> timedelta:
        """Workers renew their lease four times per stuck timeout, at most once a minute."""
        return min(self.stuck_timeout / 4, timedelta(minutes=1))

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, require_database: bool = True) -> "QueueSettings":
        database_url = env.get("DATABASE_URL", "").strip()
        if require_database and not database_url:
            raise SettingsError(
                "DATABASE_URL", "", "a PostgreSQL URL such as postgresql://user:pass@host/db"
            )
        return cls(
            database_url=database_url,
            done_retention=_duration(env, "QUEUE_DONE_RETENTION", "168h"),
            stuck_timeout=_duration(env, "QUEUE_STUCK_TIMEOUT", "30m", positive=True),
            janitor_interval=_duration(env, "QUEUE_JANITOR_INTERVAL", "1h", positive=True),
            max_attempts=_positive_int(env, "QUEUE_MAX_ATTEMPTS", "5"),
            backoff=_backoff(env, "QUEUE_BACKOFF", "30s,2m,10m,1h"),
        )


def _duration(
    env: Mapping[str, str], name: str, default: str, *, positive: bool = False
) -> timedelta:
    raw = env.get(name, default)
    try:
        value = parse_duration(raw)
    except ValueError:
        raise SettingsError(name, raw, _DURATION_HINT) from None
    if positive and value <= timedelta(0):
        raise SettingsError(name, raw, "a duration greater than zero")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: str) -> int:
    raw = env.get(name, default)
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(name, raw, "a whole number of at least 1") from None
    if value < 1:
        raise SettingsError(name, raw, "a whole number of at least 1")
    return value


def _backoff(env: Mapping[str, str], name: str, default: str) -> tuple[timedelta, ...]:
    raw = env.get(name, default)
    expected = "a comma-separated list of Go durations such as 30s,2m,10m,1h"
    try:
        delays = tuple(parse_duration(part) for part in raw.split(","))
    except ValueError:
        raise SettingsError(name, raw, expected) from None
    return delays
