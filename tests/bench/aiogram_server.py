"""aiogram 3 as the ingest peer: what a user picks instead of a gateway. Its aiohttp webhook
integration (`SimpleRequestHandler`, `handle_in_background=True`: answer 200 at once, then
dispatch) with the bot's secret token, each update parsed and dispatched in memory to a message
handler that does nothing. Nothing is stored: a crash loses what was accepted.

Its Bot talks to an API server at a closed local port, so a call to Telegram would fail at once
instead of leaving the machine; the no-op handler makes none. Run by `service_server.py aiogram`
on the same event loop policy as every other server; `GET /bench/stats` says how many updates
the handler has seen.
"""

import argparse
import asyncio
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from botgateway.service.runner import stop_on_signals

from .service_server import SECRET, TOKEN, run_plain
from .workload import BOT_SLUG

NOWHERE = "http://127.0.0.1:9"
"""The discard port, where nothing listens here: any Bot API call is refused locally."""


def dispatcher(seen: list[int]) -> Dispatcher:
    router = Router()

    @router.message()
    async def noop(message: Message) -> None:
        seen[0] += 1

    dp = Dispatcher()
    dp.include_router(router)
    return dp


async def run_aiogram(args: argparse.Namespace) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(NOWHERE))
    bot = Bot(TOKEN, session=session)
    seen = [0]
    dp = dispatcher(seen)

    async def stats(_: web.Request) -> web.Response:
        counts: dict[str, Any] = {"handled": seen[0]}
        return web.json_response(counts)

    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dp, bot=bot, handle_in_background=True, secret_token=SECRET
    ).register(app, path=f"/webhook/{BOT_SLUG}")
    app.router.add_get("/bench/stats", stats)
    setup_application(app, dp, bot=bot)
    stop = asyncio.Event()
    stop_on_signals(stop)
    await run_plain(app, stop)
