"""`telegram-echo`: answers a text message with the same text (a demo, and the Bot API
client's test bed). Other updates are done without a call."""

import json

from botgateway.queue import Job, Outcome, Succeeded

from ..telegram import TelegramError
from .base import HandlerContext, JobHandler


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
            return exc.as_outcome()
        return Succeeded()

    return echo
