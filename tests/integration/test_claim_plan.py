"""The claim's plan does not depend on planner statistics.

A new or restored database has none until autovacuum's first ANALYZE. The claim must then read
what it takes through the due index, in order, as it does once statistics exist: not read every
pending row and sort them, which made a fresh database's first burst drain six times slower."""

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from botgateway.queue import NewJob, SchemaMissing, Store
from botgateway.queue.queries import query
from botgateway.queue.store import bot_array

pytestmark = pytest.mark.integration

BACKLOG = 5_000
CLAIM = 100


def backlog() -> list[NewJob]:
    """Updates of one bot; every other one has a chat key, so the ordering check runs too."""
    return [
        NewJob("support", "discard", i, json.dumps({"update_id": i}), chat_key=_chat(i))
        for i in range(BACKLOG)
    ]


def _chat(update_id: int) -> str | None:
    return f"chat-{update_id % 50}" if update_id % 2 else None


@pytest.fixture
async def explained(database_url: str) -> AsyncIterator[tuple[asyncpg.Connection, list[Any]]]:
    """A connection whose statements, the claim function's inner one too, send their plans
    (with actual row counts) back as notices, collected in the list."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("LOAD 'auto_explain'")
    except asyncpg.InsufficientPrivilegeError:
        await conn.close()
        pytest.skip("auto_explain needs a superuser (TEST_DATABASE_URL is not one)")
    await conn.execute(
        "SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;"
        " SET auto_explain.log_nested_statements = on; SET auto_explain.log_format = json;"
        " SET auto_explain.log_level = notice"
    )
    plans: list[Any] = []

    def collect(_: object, message: asyncpg.PostgresLogMessage) -> None:
        text = message.message
        if "{" in text:
            plans.append(json.loads(text[text.index("{") :])["Plan"])

    conn.add_log_listener(collect)
    yield conn, plans
    await conn.close()


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def claim_plans(
    conn: asyncpg.Connection, plans: list[Any], *, isolated: bool = False
) -> tuple[int, list[dict[str, Any]]]:
    plans.clear()
    claimed = await conn.fetch(query("claim"), CLAIM, "w", 30.0, isolated, "{support}")
    return len(claimed), [node for plan in plans for node in nodes(plan)]


def reads_of_the_backlog(scanned: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The scans of gateway_jobs that pick the due jobs (not the per-chat check, not the
    primary-key lookups of the UPDATE)."""
    return [node for node in scanned if str(node.get("Alias", "")).startswith("j")]


def assert_reads_in_index_order(scanned: list[dict[str, Any]], index: str) -> None:
    # A Sort over an arm that cannot run ($4 rules it out) sorts nothing; none sorts rows.
    assert [n for n in scanned if n["Node Type"] == "Sort" and n["Actual Rows"] > 0] == []
    assert not {"Hash Join", "Merge Join"} & {node["Node Type"] for node in scanned}
    scans = {
        n["Node Type"]
        for n in scanned
        if n.get("Relation Name") == "gateway_jobs" and n["Node Type"] != "ModifyTable"
    }
    # Every read of the table goes through an index (the per-chat check's running probe reads
    # its own index only); none is a sequential or bitmap scan of the backlog.
    assert scans <= {"Index Scan", "Index Only Scan"}
    ran = [n["Index Name"] for n in reads_of_the_backlog(scanned) if n["Actual Loops"] > 0]
    assert ran == [index]


async def fill(database_url: str) -> None:
    store = await Store.connect(database_url, max_size=1)
    try:
        await store.enqueue_many(backlog())
    finally:
        await store.close()


# force_generic_plan: how PostgreSQL before 18 plans a SQL function's statement (without its
# parameters' values), and how any version plans it once a generic plan is cached.
PLANNINGS = ["auto", "force_generic_plan"]


@pytest.mark.parametrize("planning", PLANNINGS)
@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh", "analyzed"])
async def test_claim_reads_the_due_index_in_order_with_or_without_statistics(
    database_url: str,
    explained: tuple[asyncpg.Connection, list[Any]],
    analyzed: bool,
    planning: str,
) -> None:
    conn, plans = explained
    await conn.execute("ALTER TABLE gateway_jobs SET (autovacuum_enabled = off)")
    await fill(database_url)
    if analyzed:
        await conn.execute("ANALYZE gateway_jobs")
    has_statistics = await conn.fetchval(
        "SELECT count(*) > 0 FROM pg_stats WHERE tablename = 'gateway_jobs'"
    )
    assert has_statistics == analyzed
    await conn.execute(f"SET plan_cache_mode = {planning}")

    claimed, scanned = await claim_plans(conn, plans)

    assert claimed == CLAIM
    assert_reads_in_index_order(scanned, "gateway_jobs_due_idx")
    [due] = [n for n in scanned if n.get("Index Name") == "gateway_jobs_due_idx"]
    # What it takes, plus the chat-keyed rows it steps over (an earlier update of their chat
    # waits): never the whole backlog.
    assert due["Actual Rows"] + due.get("Rows Removed by Filter", 0) <= 2 * CLAIM


@pytest.mark.parametrize("planning", PLANNINGS)
async def test_isolated_claim_reads_the_isolated_index_on_a_fresh_database(
    database_url: str, explained: tuple[asyncpg.Connection, list[Any]], planning: str
) -> None:
    conn, plans = explained
    await conn.execute("ALTER TABLE gateway_jobs SET (autovacuum_enabled = off)")
    await fill(database_url)
    await conn.execute("UPDATE gateway_jobs SET isolated = true WHERE update_id % 10 = 0")
    await conn.execute(f"SET plan_cache_mode = {planning}")

    claimed, scanned = await claim_plans(conn, plans, isolated=True)

    assert claimed == CLAIM
    assert_reads_in_index_order(scanned, "gateway_jobs_isolated_due_idx")


async def test_claim_function_keeps_the_leases_and_order(store: Store) -> None:
    await store.enqueue_many(backlog()[:10])
    jobs = await store.claim("worker-a", 3, timedelta(seconds=30))
    assert [j.update_id for j in jobs] == [0, 1, 2]
    assert [j.attempts for j in jobs] == [1, 1, 1]


async def test_a_database_not_migrated_to_the_claim_function_says_to_migrate(
    store: Store, database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DROP FUNCTION gateway_claim")
    finally:
        await conn.close()
    with pytest.raises(SchemaMissing, match="`botgateway migrate` has not run"):
        await store.claim("worker-a", 3, timedelta(seconds=30))


MANY_BOTS = 10_000


@pytest.mark.parametrize("planning", PLANNINGS)
async def test_a_claim_for_10000_bots_probes_a_hash_of_them_not_the_list(
    database_url: str, explained: tuple[asyncpg.Connection, list[Any]], planning: str
) -> None:
    """The bot filter compared each row with the whole list (a gateway serving 10,000 bots
    drained at a quarter of its one-bot rate); it must hash the list once per claim, and still
    leave other gateways' bots alone."""
    conn, plans = explained
    store = await Store.connect(database_url, max_size=1)
    try:
        await store.enqueue_many(
            [
                NewJob(f"bot-{i % (2 * MANY_BOTS)}", "discard", i, json.dumps({"update_id": i}))
                for i in range(4 * MANY_BOTS)
            ]
        )
    finally:
        await store.close()
    ours = frozenset(f"bot-{n}" for n in range(0, 2 * MANY_BOTS, 2))
    assert len(ours) == MANY_BOTS
    await conn.execute(f"SET plan_cache_mode = {planning}")
    plans.clear()

    claimed = await conn.fetch(query("claim"), CLAIM, "w", 30.0, False, bot_array(ours))

    assert len(claimed) == CLAIM
    assert {row["bot_slug"] for row in claimed} <= ours
    scanned = [node for plan in plans for node in nodes(plan)]
    [pick] = [n for n in reads_of_the_backlog(scanned) if n["Actual Loops"] > 0]
    assert pick["Index Name"] == "gateway_jobs_due_idx"
    assert "hashed SubPlan" in pick["Filter"]


async def test_a_busy_chats_backlog_costs_other_chats_claims_nothing(
    database_url: str, explained: tuple[asyncpg.Connection, list[Any]]
) -> None:
    """One chat's head runs while its later updates wait: the claims of everything else must
    not step over them (each one cost a per-chat probe, and a backlog over 100 busy chats
    drained at 0.08x the rate with ordering off)."""
    conn, plans = explained
    store = await Store.connect(database_url, max_size=1)
    try:
        await store.enqueue_many(
            [NewJob("support", "discard", i, "{}", chat_key="busy") for i in range(BACKLOG)]
        )
        [head] = await store.claim("w", 1, timedelta(seconds=30))
        assert head.update_id == 0
        # The next in line (update 1) is left due, and read: one more row, not 4,998 more.
        await store.enqueue_many(
            [NewJob("support", "discard", BACKLOG + i, "{}") for i in range(CLAIM)]
        )
    finally:
        await store.close()
    plans.clear()

    claimed, scanned = await claim_plans(conn, plans)

    assert claimed == CLAIM
    [due] = [n for n in scanned if n.get("Index Name") == "gateway_jobs_due_idx"]
    assert due["Actual Rows"] + due.get("Rows Removed by Filter", 0) == CLAIM + 1
