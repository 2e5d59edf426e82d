"""The one catalogue of environment variables (the queue's own are declared in
`botgateway.queue.environment`, which the queue reads without importing us). Each settings
`from_env` reads through these declarations, the operator sets only variables that the command
in a container reads, and the README's table is rendered from this list."""

from typing import Any

from botgateway.queue.environment import (
    DATABASE_COMMANDS,
    DATABASE_DIRECT_URL,
    DATABASE_POOLER,
    DATABASE_URL,
    EVERY_COMMAND,
    HTTP_URL,
    JANITOR_POOL_SIZE,
    QUEUE_BACKOFF,
    QUEUE_DONE_RETENTION,
    QUEUE_JANITOR_INTERVAL,
    QUEUE_MAX_ATTEMPTS,
    QUEUE_MAX_RETRY_AFTER,
    QUEUE_STUCK_TIMEOUT,
    QUEUE_VARIABLES,
    TEXT,
    WORKER_COMMANDS,
    EnvVar,
    Kind,
    choice,
    duration,
    whole,
)

LOG_LEVEL = EnvVar(
    "LOG_LEVEL",
    choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", fold=str.upper),
    "INFO",
    "Each finished job is logged at `DEBUG` (retries at `WARNING`, dead-letterings at `ERROR`); "
    "`botgateway dev` logs every job at `INFO`.",
    EVERY_COMMAND,
)
LOG_FORMAT = EnvVar(
    "LOG_FORMAT",
    choice("text", "json"),
    "text",
    "`text` for people, `json` for one JSON object per line (containers).",
    EVERY_COMMAND,
)
TELEGRAM_API_BASE = EnvVar(
    "TELEGRAM_API_BASE",
    HTTP_URL,
    "https://api.telegram.org",
    "Bot API base URL: the gateway's for `telegram-echo` and plugins, the operator's for "
    "`setWebhook` and friends (tests point it at a local fake).",
    frozenset({*WORKER_COMMANDS, "operator"}),
)

# -- the gateway (`serve`, `dev`) ----------------------------------------------------------------
BOTGATEWAY_CONFIG = EnvVar(
    "BOTGATEWAY_CONFIG",
    TEXT,
    None,
    "Path of the bots file (see the bots file reference). `dev` serves its demo bot when unset.",
    WORKER_COMMANDS,
    required=True,
)
WORKER_CONCURRENCY = EnvVar(
    "WORKER_CONCURRENCY",
    whole(1, 1024),
    "32",
    "Jobs handled at once per gateway process.",
    WORKER_COMMANDS,
)
WORKER_SHUTDOWN_GRACE = EnvVar(
    "WORKER_SHUTDOWN_GRACE",
    duration(),
    "20s",
    "How long running jobs may finish after SIGTERM before they are handed back.",
    WORKER_COMMANDS,
)
BOTGATEWAY_EVENT_LOOP = EnvVar(
    "BOTGATEWAY_EVENT_LOOP",
    choice("auto", "uvloop", "asyncio"),
    "auto",
    "`auto`: uvloop when it is installed (it is a dependency on Linux and macOS), else "
    "asyncio's own loop; `asyncio` turns uvloop off; `uvloop` refuses to start without it.",
    WORKER_COMMANDS,
)
BOTGATEWAY_MAX_BODY_BYTES = EnvVar(
    "BOTGATEWAY_MAX_BODY_BYTES",
    whole(1024),
    str(1024 * 1024),
    "Webhook body limit in bytes (413 above it).",
    WORKER_COMMANDS,
)
BOTGATEWAY_BODY_TIMEOUT = EnvVar(
    "BOTGATEWAY_BODY_TIMEOUT",
    duration(positive=True),
    "10s",
    "How long a webhook body may take to arrive after its headers (408 after it).",
    WORKER_COMMANDS,
)
DATABASE_POOL_SIZE = EnvVar(
    "DATABASE_POOL_SIZE",
    whole(2),
    "10",
    "PostgreSQL connections per gateway process.",
    WORKER_COMMANDS,
)
BOTGATEWAY_DEV_DIR = EnvVar(
    "BOTGATEWAY_DEV_DIR",
    TEXT,
    ".cache/dev",
    "`dev` only: where the embedded PostgreSQL keeps its data (`--data-dir` wins).",
    frozenset({"dev"}),
)

# -- the operator --------------------------------------------------------------------------------
NAMESPACE_LIST: Kind[tuple[str, ...]] = Kind(
    lambda text: tuple(n.strip() for n in text.split(",") if n.strip()),
    "namespace names, comma-separated",
    {"type": "string"},
)
BOTGATEWAY_NAMESPACES = EnvVar(
    "BOTGATEWAY_NAMESPACES",
    NAMESPACE_LIST,
    None,
    "Namespaces to watch, comma-separated, when no `--namespace` is given (or `--all-namespaces`).",
    frozenset({"operator"}),
)
BOTGATEWAY_IMAGE = EnvVar(
    "BOTGATEWAY_IMAGE",
    TEXT,
    "botgateway:0.1.0",
    "Gateway image for BotGateways that name none; keep it equal to the operator's image.",
    frozenset({"operator"}),
)
BOTGATEWAY_OPERATOR_INTERVAL = EnvVar(
    "BOTGATEWAY_OPERATOR_INTERVAL",
    duration(positive=True),
    "30s",
    "How often each BotGateway is re-synced: Secrets, children, queue depth and scaling, "
    "webhooks that are due for a check.",
    frozenset({"operator"}),
)
BOTGATEWAY_WEBHOOK_CHECK_INTERVAL = EnvVar(
    "BOTGATEWAY_WEBHOOK_CHECK_INTERVAL",
    duration(positive=True),
    "10m",
    "How often each bot's webhook is checked with `getWebhookInfo` (each bot on its own period "
    "within ±25% of this, so checks spread out); a spec or Secret change is registered at once.",
    frozenset({"operator"}),
)
BOTGATEWAY_RETRY_DELAY = EnvVar(
    "BOTGATEWAY_RETRY_DELAY",
    duration(positive=True),
    "15s",
    "Wait before a retry after a missing Secret or an unreachable Bot API.",
    frozenset({"operator"}),
)
BOTGATEWAY_LIVENESS = EnvVar(
    "BOTGATEWAY_LIVENESS",
    TEXT,
    "http://0.0.0.0:8080/healthz",
    "Default of `--liveness`: the operator's liveness endpoint (`--liveness ''` disables it).",
    frozenset({"operator"}),
)
BOTGATEWAY_COUNT_REQUESTS = EnvVar(
    "BOTGATEWAY_COUNT_REQUESTS",
    choice("0", "1"),
    "0",
    "`1`: count the operator's Kubernetes API requests and log them at exit (benchmarks).",
    frozenset({"operator"}),
)

CATALOGUE: tuple[EnvVar[Any], ...] = (
    LOG_LEVEL,
    LOG_FORMAT,
    *QUEUE_VARIABLES,
    BOTGATEWAY_CONFIG,
    TELEGRAM_API_BASE,
    WORKER_CONCURRENCY,
    WORKER_SHUTDOWN_GRACE,
    BOTGATEWAY_EVENT_LOOP,
    BOTGATEWAY_MAX_BODY_BYTES,
    BOTGATEWAY_BODY_TIMEOUT,
    DATABASE_POOL_SIZE,
    BOTGATEWAY_DEV_DIR,
    BOTGATEWAY_NAMESPACES,
    BOTGATEWAY_IMAGE,
    BOTGATEWAY_OPERATOR_INTERVAL,
    BOTGATEWAY_WEBHOOK_CHECK_INTERVAL,
    BOTGATEWAY_RETRY_DELAY,
    BOTGATEWAY_LIVENESS,
    BOTGATEWAY_COUNT_REQUESTS,
)
BY_NAME: dict[str, EnvVar[Any]] = {v.name: v for v in CATALOGUE}

__all__ = [
    "BY_NAME",
    "CATALOGUE",
    "DATABASE_COMMANDS",
    "DATABASE_DIRECT_URL",
    "DATABASE_POOLER",
    "DATABASE_URL",
    "JANITOR_POOL_SIZE",
    "QUEUE_BACKOFF",
    "QUEUE_DONE_RETENTION",
    "QUEUE_JANITOR_INTERVAL",
    "QUEUE_MAX_ATTEMPTS",
    "QUEUE_MAX_RETRY_AFTER",
    "QUEUE_STUCK_TIMEOUT",
    "EnvVar",
]
