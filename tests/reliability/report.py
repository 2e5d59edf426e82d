"""The figures of one reliability run, the duplicate bound they must respect, and the table."""

from dataclasses import dataclass

from botgateway.console import render_table
from botgateway.queue import WorkerConfig
from botgateway.queue.policy import settle_limit


def duplicate_bound(*, kills: int, concurrency: int, workers: int, lease_lapses: int) -> int:
    """How many extra deliveries a run may show.

    A job is delivered to the backend again only when the worker that delivered it did not get
    its completion committed and lost the job: the worker died, or its lease ran out while the
    database was away. At most `concurrency` jobs of a worker are in handlers at once, and at
    most `settle_limit` more finished ones wait for (or are inside) the
    group-committed completion: past that the worker claims nothing (`policy.plan_claim`; jobs
    claimed ahead that wait for a handler were never delivered). So one kill can duplicate at
    most `held_at_most(concurrency)` deliveries, and one database outage that outlasts the
    leases at most that many per live worker."""
    return (kills + lease_lapses * workers) * held_at_most(concurrency)


def held_at_most(concurrency: int) -> int:
    """Jobs a gateway worker (the service's claim batch size) can have run without their
    outcome in the database."""
    return concurrency + settle_limit(concurrency, WorkerConfig().batch_size)


def lease_lapsed(outage_s: float, stuck_timeout_s: float, heartbeat_s: float) -> bool:
    """Could a live worker's lease have run out during an outage? Its last heartbeat was at most
    one interval before the outage and the next comes at most one interval after, so leases
    hold while outage + 2 intervals < the stuck timeout."""
    return outage_s + 2 * heartbeat_s >= stuck_timeout_s


@dataclass(frozen=True)
class Figures:
    duration_s: float
    rate: float
    bots: int
    workers: int
    concurrency: int
    sent: int
    posts: int
    accepted: int
    answers_503: int
    updates_503: int
    connection_errors: int
    other_answers: int
    processed: int
    lost: int
    unexpected: int
    duplicated_updates: int
    extra_deliveries: int
    kills: int
    kills_mid_load: int
    jobs_held_at_kills: int
    webhook_kills: int
    pooler: str
    """What stood between the gateway's processes and PostgreSQL: none, or PgBouncer's mode."""
    outage_kind: str
    """What happened to PostgreSQL: "restart", "failover" or "none"."""
    database_outages: int
    database_outages_mid_load: int
    outage_s: float
    lease_lapses: int
    drain_s: float
    """From the end of the load until no job was pending or running."""
    pending: int
    running: int
    done: int
    dead: int
    log_lines: int
    token_lines: int
    secret_lines: int
    non_json_lines: int

    @property
    def bound(self) -> int:
        return duplicate_bound(
            kills=self.kills,
            concurrency=self.concurrency,
            workers=self.workers,
            lease_lapses=self.lease_lapses,
        )

    def problems(self) -> list[str]:
        """Every check the run failed; empty when it proved what it should."""
        found = []
        if self.lost:
            found.append(f"{self.lost} update(s) answered 200 were never processed")
        if self.sent != self.accepted:
            found.append(f"{self.sent - self.accepted} update(s) never accepted")
        if self.other_answers:
            found.append(f"{self.other_answers} answer(s) other than 200 and 503")
        if self.running or self.pending:
            found.append(f"{self.pending} pending and {self.running} running job(s) left")
        if self.dead:
            found.append(f"{self.dead} dead job(s) with a healthy backend")
        if self.extra_deliveries > self.bound:
            found.append(f"{self.extra_deliveries} extra deliveries exceed the bound {self.bound}")
        if self.token_lines or self.secret_lines:
            found.append(
                f"the bot token is in {self.token_lines} log line(s), "
                f"the webhook secret in {self.secret_lines}"
            )
        return found

    def table(self) -> str:
        rows: list[list[object]] = [
            [
                "load",
                f"{self.rate:g} updates/s for {self.duration_s:g} s",
                f"to {self.bots} bot(s) of one gateway",
            ],
            ["updates sent", self.sent, f"{self.posts} POSTs with redeliveries"],
            ["answered 200", self.accepted, "distinct updates"],
            ["answered 503", self.answers_503, f"{self.updates_503} update(s) redelivered"],
            ["connection errors", self.connection_errors, "redelivered"],
            ["other answers", self.other_answers, "must be 0"],
            ["processed", self.processed, "distinct update_ids the backend received"],
            ["lost", self.lost, "answered 200, never processed: must be 0"],
            ["unexpected", self.unexpected, "processed, never sent"],
            [
                "processed > once",
                self.duplicated_updates,
                f"{self.extra_deliveries} extra deliveries <= bound {self.bound}",
            ],
            [
                "duplicate bound",
                self.bound,
                f"(kills {self.kills} + lease lapses {self.lease_lapses} x workers "
                f"{self.workers}) x {held_at_most(self.concurrency)} "
                f"(concurrency {self.concurrency} + finished jobs awaiting completion)",
            ],
            [
                "worker kills",
                self.kills,
                f"{self.kills_mid_load} mid-load, {self.jobs_held_at_kills} jobs held",
            ],
            ["webhook kills", self.webhook_kills, "its updates in flight are redelivered"],
            ["pooler", self.pooler, "PgBouncer pool mode (none: PostgreSQL directly)"],
            [
                f"postgres {self.outage_kind}",
                self.database_outages,
                f"{self.database_outages_mid_load} mid-load, "
                f"{self.outage_s:.2f} s without a primary",
            ],
            [
                "drained",
                f"{self.drain_s:.1f} s",
                "from the end of the load to an empty queue (redeliveries included)",
            ],
            ["still pending", self.pending, "must be 0"],
            ["still running", self.running, "must be 0"],
            ["done", self.done, None],
            ["dead", self.dead, "must be 0"],
            ["log lines", self.log_lines, f"{self.non_json_lines} not JSON from JSON loggers"],
            ["token in logs", self.token_lines, "must be 0"],
            ["secret in logs", self.secret_lines, "must be 0"],
        ]
        return render_table(["figure", "value", "note"], rows)
