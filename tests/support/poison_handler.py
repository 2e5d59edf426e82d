"""A plugin handler for the reliability runs: `forward` for every update, except that an update
marked as poison kills the worker process handling it (SIGKILL, so nothing is cleaned up), as a
handler crashing the interpreter or the OOM killer would."""

import dataclasses
import json
import os
import signal

from botgateway.contract import ForwardConfig, PluginConfig
from botgateway.queue import Job, Outcome
from botgateway.service.handlers import HandlerContext, JobHandler
from botgateway.service.handlers.forward import create as create_forward

POISON_TEXT = "poison: this update kills the worker that handles it"
ENTRY_POINT = "reliability-poison = tests.support.poison_handler:create"


def is_poison(payload: str) -> bool:
    message = json.loads(payload).get("message")
    return isinstance(message, dict) and message.get("text") == POISON_TEXT


def create(context: HandlerContext) -> JobHandler:
    options = context.bot.handler.options if isinstance(context.bot.handler, PluginConfig) else {}
    url = options.get("url")
    if not isinstance(url, str) or not url:
        raise ValueError("handler.options.url is required")
    spec = ForwardConfig(url=url, timeout_seconds=10.0)
    forward = create_forward(
        dataclasses.replace(context, bot=dataclasses.replace(context.bot, handler=spec))
    )

    async def handle(job: Job) -> Outcome:
        if is_poison(job.payload):
            os.kill(os.getpid(), signal.SIGKILL)
        return await forward(job)

    return handle
