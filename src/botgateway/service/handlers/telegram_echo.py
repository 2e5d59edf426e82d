"""`telegram-echo`: answers a text message with the same text (a demo, and the Bot API
client's test bed). Other updates are done without a call."""

import json
from datetime import timedelta

from botgateway.queue import Deferred, Failed, Job, Outcome, Succeeded
from botgateway.telegram import TelegramError

from .base import HandlerContext, JobHandler


def job_outcome(exc: TelegramError) -> Failed | Deferred:
    """A failed Bot API call as a job outcome: deferred without spending an attempt when our
    limiter held it back; rescheduled after `retry_after` when given; dead when no retry can
    help (a 400 or 403, say: the chat is gone or the bot was blocked)."""
    wait = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
    if exc.held_back and wait is not None:
        return Deferred(wait, str(exc))
    return Failed(str(exc), retry_after=wait, permanent=not exc.transient)


def create(context: HandlerContext) -> JobHandler:
    client = context.telegram

    async def echo(job: Job) -> Outcome:
        update = json.loads(job.payload)
        message = update.get("message") if isinstance(update, dict) else None
        if not isinstance(message, dict):
            return Succeeded()
        text = message.get("text")
        chat = message.get("chat")
        if not isinstance(text, str) or not isinstance(chat, dict) or "id" not in chat:
            return Succeeded()
        params: dict[str, object] = {}
        if isinstance(message.get("message_id"), int):
            params["reply_parameters"] = {
                "message_id": message["message_id"],
                "allow_sending_without_reply": True,
            }
        try:
            await client.send_message(chat["id"], text, **params)
        except TelegramError as exc:
            return job_outcome(exc)
        return Succeeded()

    return echo
