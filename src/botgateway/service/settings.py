"""Service settings, read from the environment once and validated at start.

Bad values raise the queue's `SettingsError`, which the CLI turns into one line naming the
variable and exit status 2, like every other setting of botgateway.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from botgateway.queue import QueueSettings, SettingsError
from botgateway.queue.durations import parse_duration

from .bots import BotConfig, load_bots

Role = Literal["all", "webhook", "worker"]
ROLES: tuple[Role, ...] = ("all", "webhook", "worker")
LogFormat = Literal["text", "json"]

DEFAULT_TELEGRAM_API_BASE = "https://api.telegram.org"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ServiceSettings:
    queue: QueueSettings
    bots: tuple[BotConfig, ...] = ()
    config_path: str = ""
    role: Role = "all"
    host: str = "0.0.0.0"
    port: int = 8080
    telegram_api_base: str = DEFAULT_TELEGRAM_API_BASE
    worker_concurrency: int = 32
    shutdown_grace: timedelta = timedelta(seconds=20)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_timeout: timedelta = timedelta(seconds=10)
    """How long a webhook body may take to arrive once its headers have: a client that stalls
    mid-body gets 408 instead of holding a connection and a handler for ever."""
    database_pool_size: int = 10
    log_format: LogFormat = "text"
    retry_after_seconds: int = 5
    """What a 503 asks Telegram to wait before redelivering."""
    poll_interval: timedelta = field(default=timedelta(seconds=1))
    log_each_job: bool = False
    """Log every finished job at INFO (`botgateway dev` does, for newcomers); otherwise
    successes are DEBUG, since one line per job costs a third of the worker's time."""

    @property
    def runs_webhook(self) -> bool:
        return self.role in ("all", "webhook")

    @property
    def runs_worker(self) -> bool:
        return self.role in ("all", "worker")

    def secrets(self) -> list[str]:
        """Every token and webhook secret, for the log redactor."""
        return [s for bot in self.bots for s in (bot.token, bot.webhook_secret) if s]

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        require_config: bool = True,
        handler_types: frozenset[str] | None = None,
    ) -> "ServiceSettings":
        """Everything the service needs from the environment, the bots file included."""
        queue = QueueSettings.from_env(env)
        settings = cls(
            queue=queue,
            telegram_api_base=_http_url(env, "TELEGRAM_API_BASE", DEFAULT_TELEGRAM_API_BASE),
            worker_concurrency=_int(env, "WORKER_CONCURRENCY", 32, minimum=1),
            shutdown_grace=_duration(env, "WORKER_SHUTDOWN_GRACE", "20s"),
            max_body_bytes=_int(
                env, "BOTGATEWAY_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=1024
            ),
            body_timeout=_duration(env, "BOTGATEWAY_BODY_TIMEOUT", "10s", positive=True),
            database_pool_size=_int(env, "DATABASE_POOL_SIZE", 10, minimum=2),
            log_format=_log_format(env),
        )
        config_path = env.get("BOTGATEWAY_CONFIG", "").strip()
        if not config_path:
            if require_config:
                raise SettingsError(
                    "BOTGATEWAY_CONFIG", "", "the path of the bots YAML file (see the README)"
                )
            return settings
        bots = load_bots(config_path, env, handler_types=handler_types)
        return dataclasses.replace(settings, bots=bots, config_path=config_path)


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, str(default))
    expected = f"a whole number of at least {minimum}"
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(name, raw, expected) from None
    if value < minimum:
        raise SettingsError(name, raw, expected)
    return value


def _duration(
    env: Mapping[str, str], name: str, default: str, *, positive: bool = False
) -> timedelta:
    raw = env.get(name, default)
    try:
        value = parse_duration(raw)
    except ValueError:
        raise SettingsError(name, raw, "a Go duration such as 20s or 1m30s") from None
    if positive and value <= timedelta(0):
        raise SettingsError(name, raw, "a duration greater than zero")
    return value


def _http_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, default).strip() or default
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(name, raw, "an http:// or https:// URL")
    return raw.rstrip("/")


def _log_format(env: Mapping[str, str]) -> LogFormat:
    raw = env.get("LOG_FORMAT", "text").strip().lower()
    if raw == "text":
        return "text"
    if raw == "json":
        return "json"
    raise SettingsError("LOG_FORMAT", raw, "text or json")
