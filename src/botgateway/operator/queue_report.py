"""What the queue says about one gateway, as a pure function of its stats: the status fields,
the QueueHealthy condition and the due count that scaling follows.

Scaling follows *due* jobs, not every pending one: a job waiting out a retry back-off cannot be
worked on, so more pods would only sit idle (250 updates for an unreachable backend once scaled
a gateway 1 -> 3 with nothing to do).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botgateway.queue import ConnectionLimits, JanitorRound

from . import conditions as cond
from .conditions import Condition
from .ports import QueueSnapshot


@dataclass(frozen=True)
class QueueReport:
    condition: Condition
    fields: dict[str, Any] = field(default_factory=dict)
    due: int | None = None
    """None when the queue could not be read: no scaling decision is taken on no data."""
    janitor: dict[str, Any] | None = None
    limits: ConnectionLimits | None = None
    """The server's connection slots (None: not read), for the connection budget."""


def queue_report(
    snapshot: QueueSnapshot, slugs: Sequence[str], backlog_seconds: int
) -> QueueReport:
    stats = snapshot.stats
    pending = sum(stats.count("pending", s) for s in slugs)
    due = sum(stats.due(s) for s in slugs)
    running = sum(stats.count("running", s) for s in slugs)
    dead = sum(stats.count("dead", s) for s in slugs)
    oldest = int(max((stats.oldest_pending_seconds(s) for s in slugs), default=0.0))
    fields = {
        "pending": pending,
        "due": due,
        "running": running,
        "dead": dead,
        "oldestPendingSeconds": oldest,
    }
    summary = f"{pending} pending ({due} due), {running} running, {dead} dead"
    if oldest > backlog_seconds:
        message = f"oldest due job has waited {oldest}s (limit {backlog_seconds}s); {summary}"
        condition = Condition.false(cond.QUEUE_HEALTHY, "Backlog", message)
    else:
        condition = Condition.true(cond.QUEUE_HEALTHY, "Healthy", summary)
    return QueueReport(
        condition, fields, due, janitor_status(snapshot.janitor_rounds), snapshot.limits
    )


def janitor_status(rounds: Sequence[JanitorRound]) -> dict[str, Any] | None:
    """The database's last janitor round, whoever ran it (rounds cover the whole database, not
    only this gateway's bots); None before the first."""
    if not rounds:
        return None
    last = max(rounds, key=lambda r: r.finished_at)
    return {
        "lastRoundTime": cond.timestamp(last.finished_at),
        "runner": last.runner,
        "host": last.host,
        "durationSeconds": round(last.duration_seconds, 3),
        "recovered": last.recovered,
        "deadLettered": last.dead_lettered,
        "purged": last.purged,
    }


def not_migrated(error: str) -> QueueReport:
    """A fresh install before the gateway's migrate init container ran: expected, not a fault."""
    return QueueReport(
        Condition.unknown(
            cond.QUEUE_HEALTHY,
            "NotMigrated",
            f"the queue tables do not exist yet; the gateway pods' migrate init container "
            f"creates them ({error})",
        )
    )


def unreadable(reason: str, message: str) -> QueueReport:
    return QueueReport(Condition.false(cond.QUEUE_HEALTHY, reason, message))
