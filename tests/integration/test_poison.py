"""A poison update: its handler SIGKILLs the worker process that runs it, every time.

With workers restarted by a supervisor and the in-process janitor recovering what they held,
the poison must end `dead` after QUEUE_MAX_ATTEMPTS attempts, while every other update, also
those claimed in the same batch as the poison and those posted during its life, ends `done`,
and is processed during the poison's life, not only after it."""

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.gateway import SECRET, Gateway, GatewayConfig, fetch
from tests.reliability.loadgen import Telegram, real_update
from tests.reliability.processes import LogBook
from tests.support.backend import Answer, Backend
from tests.support.poison_handler import ENTRY_POINT, POISON_TEXT
from tests.support.postgres import TestPostgres
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

MAX_ATTEMPTS = 4
POISON_ID = 1_000_000


def poison_update() -> dict[str, Any]:
    return {
        "update_id": POISON_ID,
        "message": {
            "message_id": 1,
            "date": 1_717_171_717,
            "chat": {"id": 42, "type": "private", "first_name": "Mallory"},
            "from": {"id": 42, "is_bot": False, "first_name": "Mallory"},
            "text": POISON_TEXT,
        },
    }


async def job(database_url: str, update_id: int) -> dict[str, Any]:
    rows = await fetch(
        database_url,
        "SELECT status, attempts, last_error FROM gateway_jobs WHERE update_id = $1",
        update_id,
    )
    return dict(rows[0]) if rows else {}


async def test_poison_update_dies_alone(postgres: TestPostgres, tmp_path: Path) -> None:
    database_url = await postgres.create_database(migrated=False)
    backend = Backend()
    backend.answer_for = lambda _: Answer(delay=0.02)
    await backend.start()
    config = GatewayConfig(
        workers=2,
        concurrency=8,
        stuck_timeout_s=2.0,
        janitor_interval_s=0.5,
        max_attempts=MAX_ATTEMPTS,
        handler={"type": "reliability-poison", "options": {"url": backend.url}},
        plugins=(ENTRY_POINT,),
    )
    logs = LogBook(tmp_path / "logs")
    gateway = Gateway(config, database_url, tmp_path, logs)
    try:
        await gateway.migrate()
        # A backlog first, the poison in its middle, so workers claim it in a batch with others.
        await gateway.start(workers=False)
        async with Telegram(gateway.webhook_urls, SECRET) as telegram:
            backlog = [telegram.send(real_update(i)) for i in range(1, 11)]
            backlog.append(telegram.send(poison_update()))
            backlog += [telegram.send(real_update(i)) for i in range(11, 21)]

            async def backlog_stored() -> bool:
                return all(d.accepted for d in backlog)

            await eventually(backlog_stored, timeout=30, what="the backlog stored")
            gateway.start_workers()
            await gateway.wait_ready()

            # Steady traffic for the poison's whole life.
            stop = asyncio.Event()
            traffic = asyncio.create_task(
                telegram.run(rate=20, first_id=100, duration=120, stop=stop)
            )
            poison = await eventually(
                lambda: job(database_url, POISON_ID),
                lambda j: j.get("status") == "dead",
                timeout=90,
                interval=0.1,
                what="the poison dead-lettered",
            )
            poison_dead_at = time.monotonic()
            stop.set()
            await traffic
            await telegram.settle(timeout=30)
        sent = set(telegram.deliveries) - {POISON_ID}
        await eventually(
            lambda: fetch(
                database_url,
                "SELECT update_id, status, attempts FROM gateway_jobs "
                "WHERE update_id <> $1 AND status <> 'done'",
                POISON_ID,
            ),
            lambda rows: not rows,
            timeout=60,
            interval=0.2,
            what="every other update done",
        )
        attempts = await fetch(
            database_url,
            "SELECT attempts, count(*) AS n FROM gateway_jobs WHERE update_id <> $1 "
            "GROUP BY attempts ORDER BY attempts",
            POISON_ID,
        )
    finally:
        await gateway.stop()
        await backend.stop()
        logs.close()
        await postgres.drop_database(database_url)

    assert poison["attempts"] == MAX_ATTEMPTS, poison
    assert "worker lost" in poison["last_error"]
    # Batch-mates of the poison's first claim went down with it once, then ran alone and
    # passed: one attempt lost to the crash, never more.
    by_attempts = {r["attempts"]: r["n"] for r in attempts}
    assert set(by_attempts) <= {1, 2}, by_attempts
    assert by_attempts.get(2, 0) >= 1, "no job was claimed beside the poison: nothing proven"
    deaths = [code for w in gateway.workers for code in w.exits if code != 0]
    assert len(deaths) == MAX_ATTEMPTS, deaths
    first_received: dict[int, float] = {}
    for received in backend.received:
        first_received.setdefault(received.update_id, received.at)
    assert POISON_ID not in first_received
    assert sent <= set(first_received)
    # Processed during the poison's life, not only after: everything accepted while it still
    # had attempts left (with a margin for the last moments) was delivered before it died.
    during = {
        u
        for u, d in telegram.deliveries.items()
        if u != POISON_ID and d.accepted_at is not None and d.accepted_at < poison_dead_at - 3
    }
    late = sorted(u for u in during if first_received[u] > poison_dead_at)
    assert len(during) > 20
    assert not late, f"updates delivered only after the poison died: {late}"
