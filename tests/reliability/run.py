"""One reliability run: the gateway's processes, load through the webhook, workers killed and
PostgreSQL restarted meanwhile, then a drained queue and the figures."""

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.backend import Answer, Backend
from tests.support.pgbouncer import PgBouncer
from tests.support.postgres import TestPostgres
from tests.support.replication import ReplicatedPostgres
from tests.support.waiting import eventually

from .chaos import (
    Outage,
    database_outage_at,
    fail_over,
    kill_webhook_at,
    kill_workers,
    restart_postgres,
)
from .gateway import SECRET, TOKEN_SECRET, Gateway, GatewayConfig, unfinished
from .loadgen import Telegram
from .processes import LogBook
from .report import Figures, lease_lapsed


@dataclass(frozen=True)
class Scenario:
    duration_s: float = 60.0
    rate: float = 150.0
    workers: int = 3
    concurrency: int = 8
    stuck_timeout_s: float = 5.0
    kill_every_s: tuple[float, float] = (2.0, 6.0)
    database_outage: str = "restart"
    """What happens to PostgreSQL once mid-load: "restart" (the server stops and starts again),
    "failover" (the primary dies and its standby is promoted: `run_scenario` needs `replicas`)
    or "none"."""
    kill_webhook: bool = True
    bots: int = 1
    seed: int = field(default_factory=lambda: random.randrange(1 << 30))
    drain_timeout_s: float = 120.0
    backend_latency_s: tuple[float, float] = (0.01, 0.15)
    """A backend takes its time, so a killed worker usually holds jobs mid-delivery."""

    def gateway_config(self, backend_url: str) -> GatewayConfig:
        return GatewayConfig(
            workers=self.workers,
            concurrency=self.concurrency,
            stuck_timeout_s=self.stuck_timeout_s,
            bots=self.bots,
            handler={"type": "forward", "url": backend_url, "timeoutSeconds": 10},
        )


@dataclass
class Outcome:
    figures: Figures
    janitor: str
    exit_codes: dict[str, int | None]
    log_dir: Path | None


async def run_scenario(
    scenario: Scenario,
    pg: TestPostgres,
    database_url: str,
    workdir: Path,
    *,
    log_dir: Path | None = None,
    progress: bool = False,
    replicas: ReplicatedPostgres | None = None,
    pooler: PgBouncer | None = None,
) -> Outcome:
    rng = random.Random(scenario.seed)
    logs = LogBook(log_dir)
    backend = Backend()
    latency = random.Random(scenario.seed + 1)
    backend.answer_for = lambda _: Answer(delay=latency.uniform(*scenario.backend_latency_s))
    await backend.start()
    via = (
        {"DATABASE_URL": pooler.url_for(database_url), "DATABASE_POOLER": pooler.mode}
        if pooler is not None
        else None
    )
    gateway = Gateway(scenario.gateway_config(backend.url), database_url, workdir, logs, via=via)
    outage: Outage | None = None
    try:
        await gateway.migrate()
        await gateway.start()
        say = print if progress else (lambda *_: None)
        say(f"reliability: gateway up (seed {scenario.seed}); load for {scenario.duration_s:g} s")
        async with Telegram(gateway.webhook_urls, SECRET) as telegram:
            stop = asyncio.Event()
            chaos = asyncio.create_task(kill_workers(gateway, rng, scenario.kill_every_s, stop))
            # An outage or kill turned off is not started at all (a never-set stop event would
            # only have delayed it).
            interrupt = _database_outage(scenario, pg, replicas)
            pg_outage = (
                asyncio.create_task(
                    database_outage_at(
                        interrupt, rng.uniform(0.35, 0.65) * scenario.duration_s, stop
                    )
                )
                if interrupt is not None
                else None
            )
            webhook_kill = (
                asyncio.create_task(
                    kill_webhook_at(gateway, rng.uniform(0.1, 0.3) * scenario.duration_s, stop)
                )
                if scenario.kill_webhook
                else None
            )
            load_started = time.monotonic()
            sent = await telegram.run(rate=scenario.rate, first_id=1, duration=scenario.duration_s)
            load_ended = time.monotonic()
            stop.set()
            await chaos
            outage = await pg_outage if pg_outage is not None else None
            webhook_kills = await webhook_kill if webhook_kill is not None else 0
            say(f"reliability: {sent} updates sent; waiting for redeliveries and the queue")
            await telegram.settle(timeout=60)
        await eventually(
            lambda: unfinished(database_url),
            lambda n: n == 0,
            timeout=scenario.drain_timeout_s,
            interval=0.25,
            what="no pending or running jobs",
        )
        drain_s = time.monotonic() - load_ended
        janitor = await gateway.janitor_once()
        totals = await gateway.job_totals()
        exit_codes = await gateway.stop()
    finally:
        await gateway.stop()
        await backend.stop()
        logs.close()

    config = gateway.config
    deliveries = telegram.deliveries.values()
    answers = telegram.answers()
    accepted = {d.update_id for d in deliveries if d.accepted}
    received = Counter(backend.update_ids())
    kills = [k for k in gateway.supervisor.kills if k.name != "webhook"]
    lapses = int(
        outage is not None
        and lease_lapsed(outage.seconds, config.stuck_timeout_s, config.heartbeat_s)
    )
    figures = Figures(
        duration_s=scenario.duration_s,
        rate=scenario.rate,
        bots=scenario.bots,
        workers=scenario.workers,
        concurrency=scenario.concurrency,
        sent=len(telegram.deliveries),
        posts=sum(answers.values()),
        accepted=len(accepted),
        answers_503=answers[503],
        updates_503=sum(1 for d in deliveries if 503 in d.answers),
        connection_errors=sum(n for a, n in answers.items() if isinstance(a, str)),
        other_answers=sum(
            n for a, n in answers.items() if isinstance(a, int) and a not in (200, 503)
        ),
        processed=len(received),
        lost=len(accepted - set(received)),
        unexpected=len(set(received) - set(telegram.deliveries)),
        duplicated_updates=sum(1 for n in received.values() if n > 1),
        extra_deliveries=sum(n - 1 for n in received.values()),
        kills=len(kills),
        kills_mid_load=sum(1 for k in kills if load_started < k.at < load_ended),
        jobs_held_at_kills=sum(max(k.jobs_held, 0) for k in kills),
        webhook_kills=webhook_kills,
        outage_kind=scenario.database_outage,
        pooler=pooler.mode if pooler is not None else "none",
        database_outages=int(outage is not None),
        database_outages_mid_load=int(
            outage is not None and load_started < outage.started and outage.ended < load_ended
        ),
        outage_s=outage.seconds if outage is not None else 0.0,
        lease_lapses=lapses,
        drain_s=drain_s,
        pending=totals.get("pending", 0),
        running=totals.get("running", 0),
        done=totals.get("done", 0),
        dead=totals.get("dead", 0),
        log_lines=len(logs.lines),
        token_lines=len(logs.containing(TOKEN_SECRET)),
        secret_lines=len(logs.containing(SECRET)),
        non_json_lines=sum(
            1
            for line in logs.lines
            if line.stream == "stderr"
            and gateway.log_format_of(line.process) == "json"
            and not _is_json(line.text)
        ),
    )
    return Outcome(figures, janitor, exit_codes, log_dir)


def _database_outage(
    scenario: Scenario, pg: TestPostgres, replicas: ReplicatedPostgres | None
) -> Callable[[], Awaitable[Outage]] | None:
    if scenario.database_outage == "restart":
        return lambda: restart_postgres(pg, pg.base_url)
    if scenario.database_outage == "failover":
        if replicas is None:
            raise ValueError("a failover run needs a primary with a standby (replicas=)")
        return lambda: fail_over(replicas)
    if scenario.database_outage == "none":
        return None
    raise ValueError(f"unknown database outage {scenario.database_outage!r}")


def _is_json(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
