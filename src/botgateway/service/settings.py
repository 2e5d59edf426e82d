"""Service settings, read from the environment once and validated at start.

Bad values raise the queue's `SettingsError`, which the CLI turns into one line naming the
variable and exit status 2, like every other setting of botgateway.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from botgateway.contract.environment import (
    BOTGATEWAY_BODY_TIMEOUT,
    BOTGATEWAY_CONFIG,
    BOTGATEWAY_MAX_BODY_BYTES,
    DATABASE_POOL_SIZE,
    TELEGRAM_API_BASE,
    WORKER_CONCURRENCY,
    WORKER_SHUTDOWN_GRACE,
)
from botgateway.queue import QueueSettings

from .bots import BotConfig, load_bots

Role = Literal["all", "webhook", "worker"]
ROLES: tuple[Role, ...] = ("all", "webhook", "worker")

DEFAULT_TELEGRAM_API_BASE: str = TELEGRAM_API_BASE.value
DEFAULT_MAX_BODY_BYTES: int = BOTGATEWAY_MAX_BODY_BYTES.value


@dataclass(frozen=True)
class ServiceSettings:
    queue: QueueSettings
    bots: tuple[BotConfig, ...] = ()
    config_path: str = ""
    role: Role = "all"
    host: str = "0.0.0.0"
    port: int = 8080
    telegram_api_base: str = DEFAULT_TELEGRAM_API_BASE
    worker_concurrency: int = WORKER_CONCURRENCY.value
    shutdown_grace: timedelta = WORKER_SHUTDOWN_GRACE.value
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_timeout: timedelta = BOTGATEWAY_BODY_TIMEOUT.value
    """How long a webhook body may take to arrive once its headers have: a client that stalls
    mid-body gets 408 instead of holding a connection and a handler for ever."""
    database_pool_size: int = DATABASE_POOL_SIZE.value
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
        settings = cls(
            queue=QueueSettings.from_env(env, listens=True),
            telegram_api_base=TELEGRAM_API_BASE.read(env),
            worker_concurrency=WORKER_CONCURRENCY.read(env),
            shutdown_grace=WORKER_SHUTDOWN_GRACE.read(env),
            max_body_bytes=BOTGATEWAY_MAX_BODY_BYTES.read(env),
            body_timeout=BOTGATEWAY_BODY_TIMEOUT.read(env),
            database_pool_size=DATABASE_POOL_SIZE.read(env),
        )
        config_path = (
            BOTGATEWAY_CONFIG.read(env) if require_config else BOTGATEWAY_CONFIG.read_optional(env)
        )
        if not config_path:
            return settings
        bots = load_bots(config_path, env, handler_types=handler_types)
        return dataclasses.replace(settings, bots=bots, config_path=config_path)
