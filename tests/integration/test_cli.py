"""`botgateway migrate | janitor | jobs` as people and scripts use them."""

import asyncio
import json
import socket
from pathlib import Path

import pytest

from botgateway.queue import NewJob, Store
from botgateway.queue.migrations import load_migrations
from tests.support.cli import botgateway
from tests.support.postgres import TestPostgres
from tests.support.rows import Rows
from tests.support.serve_process import start_serve

pytestmark = pytest.mark.integration


async def test_concurrent_migrations_all_succeed_and_apply_once(postgres: TestPostgres) -> None:
    url = await postgres.create_database(migrated=False)
    try:
        runs = await asyncio.gather(
            *(botgateway("migrate", env={"DATABASE_URL": url}) for _ in range(4))
        )
        assert [r.code for r in runs] == [0, 0, 0, 0], [r.err for r in runs]
        assert sum("applied 0001_gateway_jobs" in r.out for r in runs) == 1
        assert sum("up to date" in r.out for r in runs) == 3
        versions = await Rows(url).fetch("SELECT version FROM botgateway_schema_migrations")
        assert sorted(r["version"] for r in versions) == [m.version for m in load_migrations()]
    finally:
        await postgres.drop_database(url)


async def test_bad_setting_exits_2_with_one_line_naming_the_variable(database_url: str) -> None:
    ran = await botgateway(
        "janitor", "--once", env={"DATABASE_URL": database_url, "QUEUE_STUCK_TIMEOUT": "soon"}
    )
    assert ran.code == 2
    assert ran.err.strip().splitlines() == [
        "botgateway: QUEUE_STUCK_TIMEOUT='soon' is invalid: expected a Go duration greater than "
        "zero such as 90s, 30m or 168h"
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_database_exits_1_with_one_clear_line() -> None:
    url = f"postgresql://gw:hunter2@127.0.0.1:{free_port()}/gw"
    ran = await botgateway("janitor", "--once", env={"DATABASE_URL": url})
    assert ran.code == 1
    [line] = ran.err.strip().splitlines()
    assert line.startswith(
        f"botgateway: connecting to postgresql://gw@127.0.0.1:{url.split(':')[3]}"
    )
    assert "database unavailable" in line
    assert "hunter2" not in ran.err
    assert "Traceback" not in ran.err


async def test_janitor_once_prints_what_it_did(database_url: str) -> None:
    ran = await botgateway("janitor", "--once", env={"DATABASE_URL": database_url})
    assert ran.code == 0, ran.err
    assert ran.out.strip() == (
        "janitor: purged 0 done job(s) in 0 batch(es), recovered 0 stuck job(s), dead-lettered 0"
    )


def json_lines(text: str) -> list[dict[str, object]]:
    """Every line of `text` as a JSON object (a line that is not one fails the test)."""
    return [json.loads(line) for line in text.splitlines()]


async def test_janitor_once_with_json_logs_prints_only_json_lines(database_url: str) -> None:
    ran = await botgateway(
        "janitor", "--once", env={"DATABASE_URL": database_url, "LOG_FORMAT": "json"}
    )
    assert ran.code == 0, ran.err
    assert ran.out == ""
    [round_] = [e for e in json_lines(ran.err) if e["logger"] == "botgateway.janitor.loop"]
    assert round_["message"].startswith("janitor: purged 0 done job(s)")
    assert (round_["ran"], round_["recovered"], round_["dead_lettered"]) == (True, 0, 0)


async def test_every_queue_command_honours_log_format(postgres: TestPostgres) -> None:
    url = await postgres.create_database(migrated=False)
    env = {"DATABASE_URL": url, "LOG_FORMAT": "json"}
    try:
        migrated = await botgateway("migrate", env=env)
        assert migrated.code == 0, migrated.err
        assert migrated.out == ""
        assert any(e["message"].startswith("applied 0001_") for e in json_lines(migrated.err))
        broken = await botgateway(
            "jobs", "stats", env={**env, "DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}
        )
        [failure] = json_lines(broken.err)
        assert (broken.code, failure["level"]) == (1, "error")
    finally:
        await postgres.drop_database(url)


@pytest.fixture
async def some_jobs(store: Store) -> list[int]:
    await store.enqueue_many(
        [
            NewJob(slug, "discard", i, json.dumps({"update_id": i}))
            for slug, i in [("support", 1), ("support", 2), ("sales", 3)]
        ]
    )
    claimed = await store.claim("w", 1, __import__("datetime").timedelta(seconds=30))
    await store.dead_letter("w", claimed[0], "backend answered 404")
    return [claimed[0].id]


async def test_jobs_stats_table_and_json(database_url: str, some_jobs: list[int]) -> None:
    env = {"DATABASE_URL": database_url}
    table = await botgateway("jobs", "stats", env=env)
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[0].split() == [
        "BOT",
        "PENDING",
        "RUNNING",
        "DONE",
        "DEAD",
        "OLDEST",
        "PENDING",
        "S",
    ]
    assert lines[-1].split()[:5] == ["(all)", "2", "0", "0", "1"]
    data = json.loads((await botgateway("jobs", "stats", "--json", env=env)).out)
    assert data["totals"] == {"pending": 2, "running": 0, "done": 0, "dead": 1}


async def test_jobs_list_filters_by_status(database_url: str, some_jobs: list[int]) -> None:
    env = {"DATABASE_URL": database_url}
    listed = json.loads(
        (await botgateway("jobs", "list", "--status", "dead", "--json", env=env)).out
    )
    assert [j["id"] for j in listed] == some_jobs
    assert listed[0]["last_error"] == "backend answered 404"
    table = await botgateway("jobs", "list", "--status", "dead", env=env)
    assert "backend answered 404" in table.out
    none = await botgateway("jobs", "list", "--status", "running", env=env)
    assert none.out.strip() == "no jobs match"


async def test_jobs_retry_requeues_dead_jobs(
    database_url: str, some_jobs: list[int], rows: Rows
) -> None:
    env = {"DATABASE_URL": database_url}
    ran = await botgateway("jobs", "retry", "--all", env=env)
    assert ran.out.strip() == f"requeued 1 dead job(s): {some_jobs[0]}"
    assert await rows.count("dead") == 0
    again = await botgateway("jobs", "retry", "--id", str(some_jobs[0]), env=env)
    assert again.out.strip() == "no dead jobs matched; nothing requeued"


async def test_jobs_show_prints_one_job_in_full(database_url: str, some_jobs: list[int]) -> None:
    env = {"DATABASE_URL": database_url}
    [dead] = some_jobs
    shown = await botgateway("jobs", "show", str(dead), env=env)
    assert shown.code == 0, shown.err
    fields = dict(line.split(None, 1) for line in shown.out.splitlines()[:6])
    assert fields == {
        "job": str(dead),
        "bot": "sales",
        "update": "3",
        "handler": "discard",
        "status": "dead",
        "attempts": "1",
    }
    assert "next retry    -\n" in shown.out  # a dead job is never tried again
    assert "last error    backend answered 404\n" in shown.out
    assert shown.out.endswith('payload\n    {\n      "update_id": 3\n    }\n')
    data = json.loads((await botgateway("jobs", "show", str(dead), "--json", env=env)).out)
    assert (data["status"], data["payload"], data["next_retry_at"]) == (
        "dead",
        {"update_id": 3},
        None,
    )


async def test_jobs_show_of_an_unknown_id_says_so_and_exits_1(database_url: str) -> None:
    ran = await botgateway("jobs", "show", "987654321", env={"DATABASE_URL": database_url})
    assert (ran.code, ran.out) == (1, "")
    assert ran.err == "botgateway: no job with id 987654321\n"


async def test_jobs_list_shows_a_next_retry_only_for_pending_jobs(
    database_url: str, some_jobs: list[int]
) -> None:
    env = {"DATABASE_URL": database_url}
    listed = json.loads((await botgateway("jobs", "list", "--json", env=env)).out)
    retries = {j["status"]: j["next_retry_at"] for j in listed}
    assert retries["dead"] is None
    assert retries["pending"] is not None
    table = (await botgateway("jobs", "list", "--status", "dead", env=env)).out.splitlines()
    assert table[1].split()[:6] == [str(some_jobs[0]), "sales", "3", "dead", "1", "-"]


BOTS_YAML = "bots:\n  - slug: quiet\n    token: '1:x'\n    handler: {type: discard}\n"


async def test_serve_without_host_says_it_listens_on_every_interface(
    tmp_path: Path, database_url: str
) -> None:
    serve = await start_serve(tmp_path, database_url, BOTS_YAML, host=None)
    try:
        assert serve.url.startswith("http://0.0.0.0:"), serve.log
    finally:
        assert await serve.stop() == 0
