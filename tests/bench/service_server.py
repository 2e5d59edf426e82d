"""A server under test for the service bench, run as its own process
(`python -m tests.bench.service_server KIND`), on loopback, until SIGTERM.

- `service`: botgateway's own app, set up as `botgateway serve` sets it up (settings from the
  environment and a bots file, the service's logging, the in-process janitor), one bot `bench`
  with a webhook secret.
- `bare`: an aiohttp handler that reads the body and answers 200 (the HTTP stack's ceiling).
- `naive`: an aiohttp handler that inserts each update with its own INSERT (one transaction per
  request) through an asyncpg pool of the service's pool size.
- `aiogram`: aiogram 3's webhook handler dispatching in memory to a no-op (`aiogram_server.py`).

Once listening it prints one JSON line, `{"port": ...}`, on stdout. The service also answers
`GET /bench/stats` with what the bench measures inside the server: with `--record`, per update,
the time between the webhook's 200 and the handler starting (one process, one clock); with
`--drain-jobs`, how long the worker took to complete that many jobs from the service's start.
"""

import argparse
import asyncio
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from botgateway.contract.environment import BOTGATEWAY_EVENT_LOOP
from botgateway.logs import configure_from_env, redact_secrets
from botgateway.service.app import WORKER
from botgateway.service.handlers import available_handler_types
from botgateway.service.runner import RunningService, stop_on_signals
from botgateway.service.runner import run as run_on_loop
from botgateway.service.settings import ServiceSettings
from botgateway.wiring import janitor_maintenance

from . import record_handler
from .loadgen import UPDATE_ID_HEADER
from .workload import bench_slug

HOST = "127.0.0.1"
SECRET = "bench-secret"
TOKEN = "123456:bench-token"
NAIVE_INSERT_SQL = """
INSERT INTO gateway_jobs (bot_slug, handler_type, update_id, payload)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (bot_slug, update_id) DO NOTHING
"""
DRAIN_POLL_S = 0.005
KINDS = ("service", "bare", "naive", "aiogram")


def bots_yaml(handler_type: str, bots: int = 1, *, chat_ordering: bool = False) -> str:
    """`bots` bots (`bench_slug(0)` ... `bench_slug(bots - 1)`) with one handler type."""
    ordering = "    chatOrdering: true\n" if chat_ordering else ""
    return "bots:\n" + "".join(
        f"  - slug: {bench_slug(n)}\n"
        f'    token: "{TOKEN}"\n'
        f'    webhookSecret: "{SECRET}"\n'
        f"{ordering}"
        "    handler:\n"
        f"      type: {handler_type}\n"
        for n in range(bots)
    )


def install_record_plugin(root: Path) -> None:
    """`bench-record` as an installed plugin: a dist-info with the entry point, on sys.path."""
    dist = root / "botgateway_bench_record-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: botgateway-bench-record\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(f"[botgateway.handlers]\n{record_handler.ENTRY_POINT}\n")
    sys.path.insert(0, str(root))


def service_settings(args: argparse.Namespace, workdir: Path) -> ServiceSettings:
    """What `botgateway serve` would build from this environment and bots file."""
    config = workdir / "bots.yaml"
    config.write_text(bots_yaml(args.handler, args.bots, chat_ordering=args.chat_ordering))
    env = dict(os.environ)
    env["DATABASE_URL"] = args.database_url
    env["BOTGATEWAY_CONFIG"] = str(config)
    settings = ServiceSettings.from_env(env, handler_types=available_handler_types())
    return dataclasses.replace(settings, host=HOST, port=0, role=args.role)


Stats = dict[str, Any]


def _recording(service: RunningService) -> Callable[[], Stats]:
    """Note when each update's 200 is answered; pair it with when the handler started."""
    answered: dict[int, float] = {}

    @web.middleware
    async def mark_answered(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        if response.status == 200 and request.path.startswith("/webhook/"):
            answered[int(request.headers[UPDATE_ID_HEADER])] = time.perf_counter()
        return response

    service.app.middlewares.append(mark_answered)

    def stats() -> Stats:
        started = record_handler.STARTED
        return {
            "answered": len(answered),
            "started": len(started),
            "latency_ms": {
                str(update_id): (started[update_id] - at) * 1000
                for update_id, at in answered.items()
                if update_id in started
            },
        }

    return stats


def _draining(
    service: RunningService, jobs: int, budget_s: float, began: float
) -> Callable[[], Stats]:
    """Watch the worker complete `jobs` (counted once their completion committed)."""
    result: Stats = {}

    async def watch(app: web.Application) -> None:
        worker = app[WORKER]
        deadline = began + (budget_s or math.inf)
        while True:
            if worker.processed >= jobs or time.perf_counter() >= deadline:
                break
            await asyncio.sleep(DRAIN_POLL_S)
        elapsed = time.perf_counter() - began
        result["drain"] = {
            "jobs": worker.processed,
            "seconds": elapsed,
            "finished": worker.processed >= jobs,
        }

    watching: list[asyncio.Task[None]] = []

    async def start_watching(app: web.Application) -> None:
        watching.append(asyncio.create_task(watch(app), name="bench-drain-watch"))

    service.app.on_startup.append(start_watching)

    def stats() -> Stats:
        # `processed` live, so a bench driving several processes can sum them.
        worker = service.app.get(WORKER)
        return result | {"processed": worker.processed if worker is not None else 0}

    return stats


async def run_service(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="botgateway-bench-server-") as tmp:
        workdir = Path(tmp)
        install_record_plugin(workdir)
        settings = service_settings(args, workdir)
        configure_from_env(os.environ)
        redact_secrets(settings.secrets())
        service = RunningService(settings, maintenance=janitor_maintenance)
        stats_sources: list[Callable[[], Stats]] = []
        if args.record:
            stats_sources.append(_recording(service))
        began = time.perf_counter()
        if args.drain_jobs:
            stats_sources.append(_draining(service, args.drain_jobs, args.budget, began))

        async def bench_stats(_: web.Request) -> web.Response:
            merged: Stats = {}
            for source in stats_sources:
                merged |= source()
            return web.json_response(merged)

        service.app.router.add_get("/bench/stats", bench_stats)
        stop = asyncio.Event()
        stop_on_signals(stop)
        await service.start()
        try:
            ready(service.port)
            await stop.wait()
        finally:
            await service.stop()


async def run_plain(app: web.Application, stop: asyncio.Event) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        ready(next(a[1] for a in runner.addresses if isinstance(a, tuple)))
        await stop.wait()
    finally:
        await runner.cleanup()


async def run_bare(_: argparse.Namespace) -> None:
    async def webhook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/webhook/{slug}", webhook)
    stop = asyncio.Event()
    stop_on_signals(stop)
    await run_plain(app, stop)


async def run_naive(args: argparse.Namespace) -> None:
    size = args.pool_size
    pool = await asyncpg.create_pool(args.database_url, min_size=size, max_size=size)

    async def webhook(request: web.Request) -> web.Response:
        raw = await request.read()
        update_id = json.loads(raw)["update_id"]
        await pool.execute(
            NAIVE_INSERT_SQL, request.match_info["slug"], "discard", update_id, raw.decode()
        )
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/webhook/{slug}", webhook)
    stop = asyncio.Event()
    stop_on_signals(stop)
    try:
        await run_plain(app, stop)
    finally:
        await pool.close()


def ready(port: int) -> None:
    print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.service_server", description=__doc__
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--role", choices=("all", "webhook", "worker"), default="all")
    parser.add_argument("--handler", default="discard", help="the bench bot's handler type")
    parser.add_argument(
        "--record", action="store_true", help="pair each 200 with its handler's start"
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=ServiceSettings.database_pool_size,
        help="naive: connections (the service takes DATABASE_POOL_SIZE from its environment)",
    )
    parser.add_argument("--bots", type=int, default=1, help="bots in the bots file")
    parser.add_argument(
        "--chat-ordering", action="store_true", help="chatOrdering: true for every bot"
    )
    parser.add_argument("--drain-jobs", type=int, default=0)
    parser.add_argument("--budget", type=float, default=0.0, help="drain: seconds (0: no limit)")
    args = parser.parse_args(argv)
    if args.kind in ("service", "naive") and not args.database_url:
        parser.error(f"{args.kind} needs --database-url")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.kind == "aiogram":
        # Imported here: aiogram is a bench extra, and only this server needs it.
        from .aiogram_server import run_aiogram

        run = run_aiogram
    else:
        run = {"service": run_service, "bare": run_bare, "naive": run_naive}[args.kind]
    # Every server on the event loop botgateway serve would pick: a baseline gets the same.
    run_on_loop(lambda: run(args), BOTGATEWAY_EVENT_LOOP.read(os.environ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
