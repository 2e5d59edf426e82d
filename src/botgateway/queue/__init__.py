"""The shared queue: schema and migrations, named queries, pure policies and the asyncpg store.

service, janitor and operator build on this package; it imports none of them.
"""

from .errors import (
    DatabaseUnavailable,
    LeaseLost,
    MigrationError,
    QueueError,
    SchemaMissing,
    SettingsError,
)
from .jobs import (
    STATUSES,
    ConnectionLimits,
    JanitorRound,
    Job,
    JobDetail,
    JobSummary,
    NewJob,
    QueueStats,
    StatusCount,
)
from .policy import DeadLetter, FailureDecision, RetryLater
from .settings import COMMAND_POOL_SIZE, DatabaseSettings, Pooler, QueueSettings
from .store import JANITOR_LEASE, Inserter, Lease, Store, redact
from .worker import (
    Deferred,
    Failed,
    Finished,
    JobHandler,
    Outcome,
    Succeeded,
    Worker,
    WorkerConfig,
)

__all__ = [
    "COMMAND_POOL_SIZE",
    "JANITOR_LEASE",
    "STATUSES",
    "ConnectionLimits",
    "DatabaseSettings",
    "DatabaseUnavailable",
    "DeadLetter",
    "Deferred",
    "Failed",
    "FailureDecision",
    "Finished",
    "Inserter",
    "JanitorRound",
    "Job",
    "JobDetail",
    "JobHandler",
    "JobSummary",
    "Lease",
    "LeaseLost",
    "MigrationError",
    "NewJob",
    "Outcome",
    "Pooler",
    "QueueError",
    "QueueSettings",
    "QueueStats",
    "RetryLater",
    "SchemaMissing",
    "SettingsError",
    "StatusCount",
    "Store",
    "Succeeded",
    "Worker",
    "WorkerConfig",
    "redact",
]
