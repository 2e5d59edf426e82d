"""What a handler is: a factory that, given its bot, returns an async function of a job.

Third-party handlers implement `HandlerFactory` and register it under the entry-point group
`botgateway.handlers`; the bot's `handler.options` mapping is in `bot.handler.options`
(a `PluginConfig`).
"""

from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from botgateway.queue import JobHandler
from botgateway.telegram import TelegramClient

from ..bots import BotConfig


@dataclass(frozen=True)
class HandlerContext:
    bot: BotConfig
    http: aiohttp.ClientSession
    """Shared by every handler of the process; pass a per-request timeout."""
    telegram: TelegramClient
    """The bot's own Bot API client (it keeps the bot's rate limits)."""


HandlerFactory = Callable[[HandlerContext], JobHandler]

__all__ = ["HandlerContext", "HandlerFactory", "JobHandler"]
