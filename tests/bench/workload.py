"""The bench's jobs: one small Telegram update per job, the same for every queue measured."""

import json
from dataclasses import dataclass
from typing import Any

from botgateway.queue import NewJob

BOT_SLUG = "bench"
HANDLER_TYPE = "discard"


def bench_slug(n: int) -> str:
    """The n-th bench bot (from 0); the first is `BOT_SLUG`, so one bot is the usual setup."""
    return BOT_SLUG if n == 0 else f"{BOT_SLUG}-{n}"


def update(update_id: int) -> dict[str, Any]:
    """A text message update, about the size of a real one."""
    chat_id = 100_000 + update_id % 64
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000 + update_id,
            "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Bench"},
            "text": f"hello {update_id}",
        },
    }


def new_jobs(start: int, count: int) -> list[NewJob]:
    return [
        NewJob(BOT_SLUG, HANDLER_TYPE, update_id, json.dumps(update(update_id)))
        for update_id in range(start, start + count)
    ]


def chunks(total: int, size: int) -> list[tuple[int, int]]:
    """(start, count) pairs covering update ids 0..total-1 in batches of `size`."""
    return [(start, min(size, total - start)) for start in range(0, total, size)]


@dataclass(frozen=True)
class Drained:
    """What a drain achieved: all of the backlog, or what a time budget allowed."""

    jobs: int
    seconds: float
    finished: bool

    @property
    def per_second(self) -> float:
        return self.jobs / self.seconds
