"""The gateway under test, as it runs in production: one `botgateway serve --role webhook`
process and a few `botgateway serve --role worker` processes (each with the in-process janitor
loop), configured through a bots file and the environment, migrated by `botgateway migrate`."""

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from tests.support.cluster import free_port
from tests.support.plugin_dist import install_plugin

from .processes import LogBook, Managed, Supervisor, botgateway_argv, run_once

REPO_ROOT = Path(__file__).resolve().parents[2]
SLUG = "relia"
TOKEN = "918273645:AAF-reliability-TOKEN-q7Zx3vR9wLm2"
SECRET = "reliability-SECRET-k2Jf8LwP0tNv5"
"""Distinctive enough that a leak cannot hide in ordinary text; the logs are searched for both."""
TOKEN_SECRET = TOKEN.split(":", 1)[1]
"""The part of every bot's token that must never be logged (bot i's token is its own id + it)."""


@dataclass(frozen=True)
class GatewayConfig:
    workers: int = 3
    concurrency: int = 8
    stuck_timeout_s: float = 5.0
    janitor_interval_s: float = 1.0
    max_attempts: int = 5
    backoff: str = "1s"
    bots: int = 1
    """Bots the one gateway serves, each with its own token; the load is spread over them."""
    handler: dict[str, Any] = field(default_factory=dict)
    """The bot's `handler:` mapping (forward to the backend by default)."""
    plugins: tuple[str, ...] = ()
    """Entry-point lines for `botgateway.handlers`, installed through a throw-away dist-info."""
    webhook_log_format: str = "json"
    worker_log_formats: tuple[str, ...] = ("text", "json")
    """Worker i logs in worker_log_formats[i % len]: both formats in every run."""

    @property
    def heartbeat_s(self) -> float:
        return min(self.stuck_timeout_s / 4, 60.0)


def _go_duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        database_url: str,
        workdir: Path,
        logs: LogBook,
        *,
        via: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.database_url = database_url
        """Direct, for the run's own probes."""
        self.via = dict(via or {})
        """How the gateway's processes reach the database instead (DATABASE_URL and
        DATABASE_POOLER of a pooler in front), when not directly."""
        self.workdir = workdir
        self.logs = logs
        self.supervisor = Supervisor(logs)
        self.webhook: Managed | None = None
        self.workers: list[Managed] = []
        self.exit_codes: dict[str, int | None] = {}

    def env(self, **extra: str) -> dict[str, str]:
        paths = [str(REPO_ROOT)]
        if self.config.plugins:
            plugins = install_plugin(
                self.workdir / "plugins",
                "botgateway-reliability-plugin",
                {"botgateway.handlers": list(self.config.plugins)},
            )
            paths.insert(0, str(plugins))
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("QUEUE_", "BOTGATEWAY_", "WORKER_", "LOG_", "DATABASE_"))
        }
        return inherited | {
            "PYTHONPATH": os.pathsep.join(paths),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self.database_url,
            "BOTGATEWAY_CONFIG": str(self.bots_file()),
            "QUEUE_STUCK_TIMEOUT": _go_duration(self.config.stuck_timeout_s),
            "QUEUE_JANITOR_INTERVAL": _go_duration(self.config.janitor_interval_s),
            "QUEUE_MAX_ATTEMPTS": str(self.config.max_attempts),
            "QUEUE_BACKOFF": self.config.backoff,
            "WORKER_CONCURRENCY": str(self.config.concurrency),
            "WORKER_SHUTDOWN_GRACE": "5s",
            "DATABASE_POOL_SIZE": "5",
            "LOG_LEVEL": "INFO",
            **self.via,
            **extra,
        }

    def bots_file(self) -> Path:
        path = self.workdir / "bots.yaml"
        if not path.exists():
            bot_id = int(TOKEN.split(":", 1)[0])
            bots = {
                "bots": [
                    {
                        "slug": slug,
                        "token": f"{bot_id + i}:{TOKEN_SECRET}",
                        "webhookSecret": SECRET,
                        "handler": self.config.handler,
                    }
                    for i, slug in enumerate(self.slugs)
                ]
            }
            # JSON is YAML; the file is what an operator would write by hand.
            path.write_text(json.dumps(bots, indent=2))
        return path

    @property
    def slugs(self) -> list[str]:
        return [SLUG, *(f"{SLUG}-{i}" for i in range(2, self.config.bots + 1))]

    @property
    def webhook_urls(self) -> list[str]:
        """Each bot's webhook URL, in the order of `slugs`."""
        assert self.webhook is not None
        assert self.webhook.port is not None
        return [f"http://127.0.0.1:{self.webhook.port}/webhook/{slug}" for slug in self.slugs]

    async def migrate(self) -> str:
        code, out = await run_once(botgateway_argv("migrate"), self.env(), self.logs, "migrate")
        if code != 0:
            raise RuntimeError(f"botgateway migrate exited {code}")
        return out.strip()

    async def start(self, *, workers: bool = True, timeout: float = 60.0) -> None:
        # A fixed port, so Telegram's URL stays right when the webhook process is restarted.
        port = str(free_port())
        serve = ("serve", "--host", "127.0.0.1", "--port", port, "--role")
        self.webhook = self.supervisor.spawn(
            "webhook",
            botgateway_argv(*serve, "webhook"),
            self.env(LOG_FORMAT=self.config.webhook_log_format),
        )
        if workers:
            self.start_workers()
        await self.wait_ready(timeout)

    def start_workers(self) -> None:
        serve = ("serve", "--host", "127.0.0.1", "--port", "0", "--role", "worker")
        formats = self.config.worker_log_formats
        for i in range(self.config.workers):
            self.workers.append(
                self.supervisor.spawn(
                    f"worker-{i + 1}",
                    botgateway_argv(*serve),
                    self.env(LOG_FORMAT=formats[i % len(formats)]),
                )
            )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        waits = [m.ready.wait() for m in self.supervisor.managed.values()]
        await asyncio.wait_for(asyncio.gather(*waits), timeout)

    def log_format_of(self, process: str) -> str:
        """The LOG_FORMAT of a supervised process, by its log name (`worker-2#3`)."""
        name = process.split("#", 1)[0]
        managed = self.supervisor.managed.get(name)
        return managed.env.get("LOG_FORMAT", "text") if managed is not None else "text"

    async def janitor_once(self) -> str:
        code, out = await run_once(
            botgateway_argv("janitor", "--once"), self.env(), self.logs, "janitor-once"
        )
        if code != 0:
            raise RuntimeError(f"botgateway janitor --once exited {code}")
        return out.strip()

    async def job_totals(self) -> dict[str, int]:
        """`botgateway jobs stats --json`, as someone on call would ask."""
        code, out = await run_once(
            botgateway_argv("jobs", "stats", "--json"), self.env(), self.logs, "jobs-stats"
        )
        if code != 0:
            raise RuntimeError(f"botgateway jobs stats exited {code}")
        totals: dict[str, int] = json.loads(out)["totals"]
        return totals

    async def stop(self) -> dict[str, int | None]:
        self.exit_codes = await self.supervisor.stop()
        return self.exit_codes


async def fetch(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """One short-lived connection per probe, so probes work across a PostgreSQL restart."""
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def unfinished(database_url: str) -> int:
    rows = await fetch(
        database_url,
        "SELECT count(*) AS n FROM gateway_jobs WHERE status IN ('pending', 'running')",
    )
    return int(rows[0]["n"])


async def jobs_held_by(database_url: str, pid: int) -> int:
    """Running jobs leased to the process `pid` (lease owners are host:pid:nonce)."""
    try:
        rows = await fetch(
            database_url,
            "SELECT count(*) AS n FROM gateway_jobs WHERE status = 'running' "
            "AND split_part(lease_owner, ':', 2) = $1",
            str(pid),
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return -1
    return int(rows[0]["n"])
