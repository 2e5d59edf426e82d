"""The asyncpg store: the only module that talks to PostgreSQL. Driver errors become QueueErrors."""

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .errors import DatabaseUnavailable, LeaseLost, QueueError, SchemaMissing
from .jobs import (
    ConnectionLimits,
    JanitorRound,
    Job,
    JobDetail,
    JobSummary,
    NewJob,
    QueueStats,
    Settlement,
    StatusCount,
    StuckJob,
)
from .migrations import Migration, load_migrations, pending_migrations
from .policy import parked_in_batch
from .queries import query
from .settings import DatabaseSettings, Pooler

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "gateway_jobs"


class StuckBatch:
    """Stuck jobs held under their row locks, and the one statement that settles them."""

    def __init__(self, jobs: tuple[StuckJob, ...], conn: Any) -> None:
        self.jobs = jobs
        self._conn = conn

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        if settlements:
            await self._conn.execute(
                query("settle_stuck"),
                [s.id for s in settlements],
                [s.status for s in settlements],
                [s.error for s in settlements],
            )


@dataclass(frozen=True)
class Lease:
    """A lease held in the database (see `Store.lease`)."""

    store: "Store"
    name: str
    holder: str
    ttl: timedelta

    async def keep(self) -> None:
        """Renew the lease; LeaseLost when it lapsed and another holder took it."""
        if not await self.store.renew_lease(self.name, self.holder, self.ttl):
            raise LeaseLost(
                f"lease {self.name!r} lapsed and was taken over while {self.holder} held it"
            )


@dataclass(frozen=True)
class Listening:
    woken: asyncio.Event
    lost: asyncio.Event


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key derived from a name."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


MIGRATION_LOCK = advisory_key("botgateway.migrate")
"""Transaction-level (held by the migrating transaction): fine behind any pooler."""
JANITOR_LEASE = "janitor"

_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    # raised by a pooled connection that the server dropped mid-operation
    asyncpg.InternalClientError,
)


def redact(dsn: str) -> str:
    """The database URL without its password, for messages; the rest (a socket directory in
    `?host=`, a port) stays, so a URL without a password still works as printed."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "<unparseable DATABASE_URL>"
    user, at, hostport = parts.netloc.rpartition("@")
    netloc = f"{user.split(':', 1)[0]}@{hostport}" if at else hostport
    query = "&".join(p for p in parts.query.split("&") if not p.startswith("password="))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        raise DatabaseUnavailable(
            f"{action}: database unavailable ({_describe(exc)}){_pooler_hint(exc)}"
        ) from exc
    except (asyncpg.UndefinedTableError, asyncpg.UndefinedFunctionError) as exc:
        # a table, or the claim function of migration 0006, is not there yet
        raise SchemaMissing(
            f"{action}: {_describe(exc)}; `botgateway migrate` has not run"
        ) from exc
    except asyncpg.PostgresError as exc:
        raise QueueError(f"{action}: {_describe(exc)}{_pooler_hint(exc)}") from exc


_POOLER_SYMPTOMS = (
    asyncpg.DuplicatePreparedStatementError,
    asyncpg.InvalidSQLStatementNameError,
)


def _pooler_hint(exc: BaseException) -> str:
    """What to set when an error is what an undeclared pooler causes."""
    if "unsupported startup parameter" in str(exc):
        return "; a connection pooler is in front: set DATABASE_POOLER=transaction or session"
    if isinstance(exc, _POOLER_SYMPTOMS):
        return "; a transaction-mode pooler is in front? set DATABASE_POOLER=transaction"
    return ""


async def _keep_session(_: "asyncpg.Connection[asyncpg.Record]") -> None:
    return None


# The array-join statements (complete_many, release) turn quadratic under the generic plan
# PostgreSQL switches a prepared statement to after five runs: force custom plans.
_PLAN_CACHE_MODE = "force_custom_plan"


async def _set_plan_cache_mode(conn: "asyncpg.Connection[asyncpg.Record]") -> None:
    await conn.execute(f"SET plan_cache_mode = {_PLAN_CACHE_MODE}")


def _session_options(pooler: Pooler) -> dict[str, Any]:
    """How each pooled connection is set up for what stands in front of PostgreSQL.

    - none: plan_cache_mode as a startup parameter (no extra round trip).
    - session: poolers refuse startup parameters they do not know (PgBouncer:
      "unsupported startup parameter"), so it is SET once per connection, which keeps its
      server connection for life.
    - transaction: each transaction may run on another server connection, so no session
      state and no named prepared statements (asyncpg's cache would meet "prepared statement
      already exists" / "does not exist"). With the cache off, asyncpg parses every statement
      unnamed, and PostgreSQL plans unnamed statements afresh each time: custom plans anyway.
    """
    if pooler == "transaction":
        return {"statement_cache_size": 0}
    if pooler == "session":
        return {"init": _set_plan_cache_mode}
    return {"server_settings": {"plan_cache_mode": _PLAN_CACHE_MODE}}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _rows_changed(status: str) -> int:
    """The row count of a command tag such as `UPDATE 3` or `DELETE 500`."""
    return int(status.rsplit(" ", 1)[1])


def _seconds(value: timedelta) -> float:
    return value.total_seconds()


def bot_array(bots: Collection[str] | None) -> str | None:
    """`bots` as one PostgreSQL array literal (None: any bot), sorted, each element quoted.

    The claim takes its bot list as text and casts it to text[] in the server: asyncpg encodes
    a list parameter element by element in Python (type checks included), which cost a gateway
    serving 10,000 bots more CPU per claim than the rest of the claim. A worker passes the same
    frozenset on every claim, so its literal is built once."""
    if bots is None:
        return None
    if isinstance(bots, frozenset):
        return _cached_bot_array(bots)
    return _array_literal(bots)


@functools.lru_cache(maxsize=16)
def _cached_bot_array(bots: frozenset[str]) -> str:
    return _array_literal(bots)


def _array_literal(items: Collection[str]) -> str:
    quoted = (item.replace("\\", "\\\\").replace('"', '\\"') for item in sorted(items))
    return "{" + ",".join(f'"{item}"' for item in quoted) + "}"


def _job(r: asyncpg.Record) -> Job:
    return Job(
        r["id"],
        r["bot_slug"],
        r["handler_type"],
        r["update_id"],
        r["payload"],
        r["attempts"],
        r["chat_key"],
        r["created_at"],
    )


class Inserter:
    """`Store.enqueue_many` over one held connection (see `Store.inserter`)."""

    def __init__(self, conn: "PoolConnectionProxy[asyncpg.Record]") -> None:
        self._conn = conn

    async def enqueue(self, job: NewJob) -> bool:
        """True when stored, False when it was a redelivery of a job already there."""
        return bool(await self.enqueue_many([job]))

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> set[tuple[str, int]]:
        """Store many jobs in one statement; returns the (bot_slug, update_id) newly stored."""
        if not jobs:
            return set()
        ordered = sorted(jobs, key=lambda j: (j.bot_slug, j.update_id))
        chat_keys = [j.chat_key for j in ordered]
        parked = (
            parked_in_batch([(j.bot_slug, j.chat_key) for j in ordered])
            if any(key is not None for key in chat_keys)
            else None
        )
        with _translated("enqueue"):
            rows = await self._conn.fetch(
                query("enqueue_many"),
                [j.bot_slug for j in ordered],
                [j.handler_type for j in ordered],
                [j.update_id for j in ordered],
                [j.payload for j in ordered],
                chat_keys,
                parked,
            )
        return {(r["bot_slug"], r["update_id"]) for r in rows}


class Store:
    """Queue operations over a connection pool. Create with `await Store.connect(dsn)`."""

    def __init__(
        self,
        pool: "asyncpg.Pool[asyncpg.Record]",
        dsn: str,
        *,
        listen_dsn: str | None = None,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._listen_dsn = listen_dsn

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
        pooler: Pooler = "none",
        listen_dsn: str | None = None,
    ) -> "Store":
        """A pool of up to `max_size` connections. `pooler` says what stands in front of
        PostgreSQL (see DatabaseSettings); `listen_dsn` defaults to `dsn` unless that is a
        transaction pooler, where LISTEN cannot hold a session."""
        if listen_dsn is None and pooler != "transaction":
            listen_dsn = dsn
        with _translated(f"connecting to {redact(dsn)}"):
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=connect_timeout,
                command_timeout=60,
                # asyncpg still rolls back and drops listeners on release; the full reset
                # (RESET ALL, UNLISTEN *, unlock all) is a round trip per call that we do not
                # need: the only session state we set is plan_cache_mode, below.
                reset=_keep_session,
                **_session_options(pooler),
            )
        return cls(pool, dsn, listen_dsn=listen_dsn)

    @classmethod
    async def open(cls, database: DatabaseSettings, **pool: Any) -> "Store":
        """`connect` with what the settings say about the database (URL, pooler, direct URL)."""
        return await cls.connect(
            database.url,
            pooler=database.pooler,
            listen_dsn=database.listen_url,
            **pool,
        )

    async def close(self) -> None:
        await self._pool.close()

    @property
    def dsn(self) -> str:
        return self._dsn

    @property
    def can_listen(self) -> bool:
        """Whether `notifications` has a session to LISTEN on (not through a transaction
        pooler without a direct URL)."""
        return self._listen_dsn is not None

    async def ping(self) -> None:
        with _translated("ping"):
            await self._pool.fetchval(query("ping"), timeout=5)

    async def connection_limits(self) -> ConnectionLimits:
        """The server's connection slots for ordinary roles (behind a pooler: the server's,
        not the pooler's, since the query runs on PostgreSQL)."""
        with _translated("reading connection limits"):
            row = await self._pool.fetchrow(query("connection_limits"))
        assert row is not None
        return ConnectionLimits(row["max_connections"], row["reserved"])

    # -- schema ---------------------------------------------------------------------------

    async def migrate(self, migrations: Sequence[Migration] | None = None) -> list[Migration]:
        """Apply what is missing, in one transaction under an advisory lock, so several pods
        starting together take turns and all succeed. Returns what this call applied."""
        wanted = list(migrations) if migrations is not None else load_migrations()
        with _translated("migrating"):
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(query("migration_lock"), MIGRATION_LOCK)
                await conn.execute(query("create_migrations_table"))
                applied = {r["version"] for r in await conn.fetch(query("applied_migrations"))}
                todo = pending_migrations(wanted, applied)
                for migration in todo:
                    await conn.execute(migration.sql)
                    await conn.execute(query("record_migration"), migration.version, migration.name)
        return todo

    # -- producers ------------------------------------------------------------------------

    async def enqueue(self, job: NewJob) -> bool:
        """True when stored, False when it was a redelivery of a job already there."""
        return bool(await self.enqueue_many([job]))

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> set[tuple[str, int]]:
        """Store many jobs in one statement; returns the (bot_slug, update_id) newly stored."""
        if not jobs:
            return set()  # without taking a connection
        async with self.inserter() as inserter:
            return await inserter.enqueue_many(jobs)

    @contextlib.asynccontextmanager
    async def inserter(self) -> AsyncIterator["Inserter"]:
        """One pooled connection for a run of inserts, such as a busy group commit's.

        Through the pool every statement also acquires and releases a connection, and asyncpg
        releases in a task of its own: ~80 µs of CPU per statement, a quarter of what a 32-row
        insert costs the process (9.0-9.8 against 6.2-7.6 µs per row)."""
        with _translated("enqueue"):
            conn = await self._pool.acquire()
        try:
            yield Inserter(conn)
        finally:
            with _translated("enqueue"):  # as a statement through the pool would say it
                await self._pool.release(conn)

    # -- workers --------------------------------------------------------------------------

    async def claim(
        self,
        owner: str,
        limit: int,
        lease: timedelta,
        *,
        bots: Collection[str] | None = None,
    ) -> list[Job]:
        """The oldest due jobs of `bots` (None: any bot), up to `limit`, leased to `owner`;
        isolated jobs are not among them (see `claim_isolated`)."""
        with _translated("claim"):
            rows = await self._pool.fetch(
                query("claim"), limit, owner, _seconds(lease), False, bot_array(bots)
            )
        jobs = [_job(r) for r in rows]
        jobs.sort(key=lambda j: j.id)
        return jobs

    async def claim_isolated(
        self, owner: str, lease: timedelta, *, bots: Collection[str] | None = None
    ) -> Job | None:
        """One isolated job (its last worker was lost holding it), for a caller that holds
        nothing else and will claim nothing more until it settles."""
        with _translated("claim"):
            row = await self._pool.fetchrow(
                query("claim"), 1, owner, _seconds(lease), True, bot_array(bots)
            )
        return _job(row) if row is not None else None

    async def isolated_due(self, *, bots: Collection[str] | None = None) -> bool:
        """Whether an isolated job (of `bots`, None: any) is waiting to be claimed."""
        with _translated("claim"):
            return bool(await self._pool.fetchval(query("isolated_due"), bot_array(bots)))

    async def heartbeat(self, owner: str, ids: Sequence[int], lease: timedelta) -> set[int]:
        """Renew leases; returns the ids still held (a missing one was taken back)."""
        if not ids:
            return set()
        with _translated("heartbeat"):
            rows = await self._pool.fetch(query("heartbeat"), list(ids), owner, _seconds(lease))
        return {r["id"] for r in rows}

    async def complete_many(self, owner: str, held: Sequence[tuple[int, int]]) -> set[int]:
        """Mark held jobs done; returns the ids that were still held and are now done."""
        if not held:
            return set()
        with _translated("complete"):
            rows = await self._pool.fetch(
                query("complete_many"), [h[0] for h in held], [h[1] for h in held], owner
            )
        return {r["id"] for r in rows}

    async def retry(self, owner: str, job: Job, delay: timedelta, error: str) -> bool:
        with _translated("retry"):
            row = await self._pool.fetchval(
                query("retry"), job.id, job.attempts, owner, _seconds(delay), error
            )
        return row is not None

    async def defer(self, owner: str, job: Job, delay: timedelta) -> bool:
        """Back to pending after `delay`, with the attempt given back."""
        with _translated("defer"):
            row = await self._pool.fetchval(
                query("defer"), job.id, job.attempts, owner, _seconds(delay)
            )
        return row is not None

    async def dead_letter(self, owner: str, job: Job, error: str) -> bool:
        with _translated("dead-letter"):
            row = await self._pool.fetchval(
                query("dead_letter"), job.id, job.attempts, owner, error
            )
        return row is not None

    async def release(
        self,
        owner: str,
        held: Sequence[tuple[int, int]],
        *,
        charge: bool,
        isolate: bool = False,
    ) -> set[int]:
        """Hand held jobs back as pending, due now; returns the ids handed back. Without
        `charge` the attempt is given back; `isolate` makes them run alone next time."""
        if not held:
            return set()
        refund = 0 if charge else 1
        with _translated("release"):
            rows = await self._pool.fetch(
                query("release"),
                [h[0] for h in held],
                [h[1] for h in held],
                owner,
                refund,
                isolate,
            )
        return {r["id"] for r in rows}

    @contextlib.asynccontextmanager
    async def notifications(self, channel: str = NOTIFY_CHANNEL) -> AsyncIterator[Listening]:
        """LISTEN on `channel` over a dedicated connection; `woken` is set on every NOTIFY and
        `lost` when the connection drops (a database restart), so the caller can listen again."""
        listening = Listening(asyncio.Event(), asyncio.Event())

        def on_notify(*_: Any) -> None:
            listening.woken.set()

        def on_lost(*_: Any) -> None:
            listening.lost.set()
            listening.woken.set()

        if self._listen_dsn is None:
            raise QueueError("listen: no session to LISTEN on behind a transaction pooler")
        with _translated("listen"):
            conn = await asyncpg.connect(self._listen_dsn, timeout=10)
        try:
            conn.add_termination_listener(on_lost)
            with _translated("listen"):
                await conn.add_listener(channel, on_notify)
            yield listening
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

    # -- janitor --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def stuck_jobs(
        self, *, stuck_timeout: timedelta, limit: int
    ) -> AsyncIterator["StuckBatch"]:
        """One bounded batch of stuck jobs, row-locked until the block ends: the caller (the
        janitor) decides each one and settles them inside the block, so a heartbeat racing the
        decision waits, and a job is never settled after its worker renewed it."""
        with _translated("recover"):
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(query("stuck_candidates"), _seconds(stuck_timeout), limit)
                yield StuckBatch(tuple(StuckJob(**dict(r)) for r in rows), conn)

    async def purge_done_batch(self, older_than: timedelta, limit: int) -> int:
        """Delete up to `limit` done rows older than `older_than`, oldest first, in one
        statement (its own transaction); returns how many."""
        with _translated("purge"):
            status = await self._pool.execute(
                query("purge_done_batch"), _seconds(older_than), limit
            )
        return _rows_changed(status)

    async def unpark_stalled(self, limit: int) -> int:
        """Make due up to `limit` parked jobs whose chat has nothing left to unpark them (see
        migration 0008); returns how many. Zero unless another writer finished jobs."""
        with _translated("unpark"):
            status = await self._pool.execute(query("unpark_stalled"), limit)
        return _rows_changed(status)

    async def record_janitor_round(
        self,
        runner: str,
        host: str,
        *,
        duration_seconds: float,
        recovered: int,
        dead_lettered: int,
        purged: int,
    ) -> None:
        with _translated("recording the janitor round"):
            await self._pool.execute(
                query("record_janitor_round"),
                runner,
                host,
                duration_seconds,
                recovered,
                dead_lettered,
                purged,
            )

    async def last_janitor_rounds(self) -> list[JanitorRound]:
        """The latest round of each runner; none on a database that an older release migrated
        (no rounds table yet), so readers need no case of their own for it."""
        try:
            with _translated("reading janitor rounds"):
                rows = await self._pool.fetch(query("last_janitor_rounds"))
        except SchemaMissing:
            return []
        return [JanitorRound(**dict(r)) for r in rows]

    @contextlib.asynccontextmanager
    async def lease(self, name: str, holder: str, ttl: timedelta) -> AsyncIterator["Lease | None"]:
        """The named lease for the block (None: someone else holds it), dropped at the end.
        A row, not a session lock, so it holds across transactions behind any pooler; the
        holder renews it (`Lease.keep`) before it could lapse."""
        with _translated("taking the lease"):
            taken = await self._pool.fetchval(query("take_lease"), name, holder, _seconds(ttl))
        if taken is None:
            yield None
            return
        try:
            yield Lease(self, name, holder, ttl)
        finally:
            with contextlib.suppress(QueueError), _translated("dropping the lease"):
                await self._pool.execute(query("drop_lease"), name, holder)

    async def renew_lease(self, name: str, holder: str, ttl: timedelta) -> bool:
        """False when the lease is no longer `holder`'s (it lapsed and someone took it)."""
        with _translated("renewing the lease"):
            row = await self._pool.fetchval(query("renew_lease"), name, holder, _seconds(ttl))
        return row is not None

    # -- people on call -------------------------------------------------------------------

    async def stats(self) -> QueueStats:
        with _translated("stats"):
            rows = await self._pool.fetch(query("stats"))
        return QueueStats(tuple(StatusCount(**dict(r)) for r in rows))

    async def list_jobs(
        self, *, status: str | None = None, bot_slug: str | None = None, limit: int = 50
    ) -> list[JobSummary]:
        with _translated("list"):
            rows = await self._pool.fetch(query("list_jobs"), status, bot_slug, limit)
        return [JobSummary(**dict(r)) for r in rows]

    async def job(self, job_id: int) -> JobDetail | None:
        with _translated("show"):
            row = await self._pool.fetchrow(query("job_detail"), job_id)
        return JobDetail(**dict(row)) if row is not None else None

    async def requeue_dead(
        self, *, ids: Sequence[int] | None = None, bot_slug: str | None = None
    ) -> list[int]:
        with _translated("requeue"):
            rows = await self._pool.fetch(
                query("requeue_dead"), list(ids) if ids is not None else None, bot_slug
            )
        return sorted(r["id"] for r in rows)
