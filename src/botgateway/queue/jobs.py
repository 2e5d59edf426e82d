"""Plain data the queue hands to and takes from its users."""

from dataclasses import dataclass
from datetime import MAXYEAR, datetime
from typing import Literal, NamedTuple

STATUSES = ("pending", "running", "done", "dead")


class NewJob(NamedTuple):
    """An update to store. A named tuple, not a frozen dataclass: one is built per webhook
    request, and a frozen dataclass's __init__ costs ~1 µs more."""

    bot_slug: str
    handler_type: str
    update_id: int
    payload: str
    """The update as JSON text, stored as jsonb."""
    chat_key: str | None = None
    """Set when the bot wants per-chat ordering: jobs with one key run one at a time."""


@dataclass(frozen=True)
class Job:
    id: int
    bot_slug: str
    handler_type: str
    update_id: int
    payload: str
    attempts: int
    chat_key: str | None
    created_at: datetime

    @property
    def held(self) -> tuple[int, int]:
        """(id, attempt): what proves the caller still holds this job."""
        return (self.id, self.attempts)


@dataclass(frozen=True)
class StuckJob:
    """A `running` job the store found stuck (SQL `stuck_candidates`: lease expired, or no
    lease and untouched for the stuck timeout), locked for the janitor's decision."""

    id: int
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    updated_at: datetime
    now: datetime


@dataclass(frozen=True)
class Settlement:
    """What becomes of a stuck job: back to `pending` now, or `dead`, with the reason."""

    id: int
    status: Literal["pending", "dead"]
    error: str


@dataclass(frozen=True)
class JobSummary:
    id: int
    bot_slug: str
    handler_type: str
    update_id: int
    status: str
    attempts: int
    next_retry_at: datetime
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def waits_for_chat(self) -> bool:
        """Parked behind an earlier update of its chat (chatOrdering, migration 0008): due
        'infinity' until that one finishes. The driver reads 'infinity' as the latest datetime."""
        return self.status == "pending" and self.next_retry_at.year == MAXYEAR


@dataclass(frozen=True)
class JobDetail(JobSummary):
    """One job in full, for `botgateway jobs show`."""

    payload: str
    """The update as JSON text."""
    chat_key: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    isolated: bool


@dataclass(frozen=True)
class StatusCount:
    bot_slug: str
    status: str
    jobs: int
    oldest_due_seconds: float | None
    due: int = 0
    """Pending jobs whose next_retry_at has come (0 for other statuses)."""


@dataclass(frozen=True)
class JanitorRound:
    """A janitor round as recorded in the database: what the gateways' /metrics and the
    BotGateway status show, whichever process ran it."""

    runner: str
    host: str
    finished_at: datetime
    duration_seconds: float
    recovered: int
    dead_lettered: int
    purged: int


@dataclass(frozen=True)
class QueueStats:
    rows: tuple[StatusCount, ...]

    def count(self, status: str, bot_slug: str | None = None) -> int:
        return sum(
            r.jobs
            for r in self.rows
            if r.status == status and (bot_slug is None or r.bot_slug == bot_slug)
        )

    def due(self, bot_slug: str | None = None) -> int:
        """Pending jobs a worker could take now (not those waiting out a back-off)."""
        return sum(r.due for r in self.rows if bot_slug is None or r.bot_slug == bot_slug)

    def oldest_pending_seconds(self, bot_slug: str | None = None) -> float:
        ages = [
            r.oldest_due_seconds
            for r in self.rows
            if r.oldest_due_seconds is not None and (bot_slug is None or r.bot_slug == bot_slug)
        ]
        return max(ages, default=0.0)

    def totals(self) -> dict[str, int]:
        return {status: self.count(status) for status in STATUSES}


@dataclass(frozen=True)
class ConnectionLimits:
    """What the PostgreSQL server lets clients open: `max_connections` less the slots kept
    for superusers (`superuser_reserved_connections`) and, from PostgreSQL 16, for roles with
    pg_use_reserved_connections (`reserved_connections`)."""

    max_connections: int
    reserved: int

    @property
    def available(self) -> int:
        return self.max_connections - self.reserved
