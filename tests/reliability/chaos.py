"""What dies during a run: worker processes, SIGKILLed at random moments (the supervisor starts
them again), and PostgreSQL, restarted once or failed over to its standby once."""

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tests.support.postgres import TestPostgres
from tests.support.replication import ReplicatedPostgres

from .gateway import Gateway, jobs_held_by


@dataclass(frozen=True)
class Outage:
    started: float
    ended: float
    """time.monotonic() when PostgreSQL was stopped, and when it answered again."""

    @property
    def seconds(self) -> float:
        return self.ended - self.started


async def kill_workers(
    gateway: Gateway, rng: random.Random, every: tuple[float, float], stop: asyncio.Event
) -> None:
    """SIGKILL a random live worker after a random pause in `every`, until `stop`."""
    while not await _stopped_within(stop, rng.uniform(*every)):
        alive = [w for w in gateway.workers if gateway.supervisor.alive(w)]
        if not alive:
            continue
        victim = rng.choice(alive)
        assert victim.pid is not None
        held = await jobs_held_by(gateway.database_url, victim.pid)
        if gateway.supervisor.alive(victim):
            gateway.supervisor.kill(victim, jobs_held=held)


async def kill_webhook_at(gateway: Gateway, delay: float, stop: asyncio.Event) -> int:
    """SIGKILL the webhook once, mid-request for some updates: those were not answered 200, so
    Telegram delivers them again once the supervisor has it back. Returns the kills (0 or 1)."""
    if await _stopped_within(stop, delay):
        return 0
    assert gateway.webhook is not None
    if not gateway.supervisor.alive(gateway.webhook):
        return 0
    gateway.supervisor.kill(gateway.webhook)
    return 1


async def restart_postgres(pg: TestPostgres, base_url: str) -> Outage:
    """Stop (fast: clients are cut off) and start the server again; its URL must not change."""
    started = time.monotonic()
    await asyncio.to_thread(pg.stop)
    await asyncio.to_thread(pg.start)
    ended = time.monotonic()
    if pg.server is not None and pg.server.get_uri("postgres") != base_url:
        raise AssertionError("the PostgreSQL URL changed across the restart")
    return Outage(started, ended)


async def fail_over(replicas: ReplicatedPostgres) -> Outage:
    """The primary dies; the standby is promoted. The outage lasts until the new primary takes
    writes: no client could commit anything in between."""
    started = time.monotonic()
    await asyncio.to_thread(replicas.fail_over)
    return Outage(started, time.monotonic())


async def database_outage_at(
    interrupt: Callable[[], Awaitable[Outage]], delay: float, stop: asyncio.Event
) -> Outage | None:
    """`interrupt` the database once after `delay`, unless the load stopped first."""
    if await _stopped_within(stop, delay):
        return None
    return await interrupt()


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `stop`; True when it was set by then."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
