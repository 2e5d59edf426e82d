"""Telegram's sending limits as a pure, clock-driven limiter (a sliding window per key).

About one message per second in a chat, 20 per minute in a group, 30 per second per bot. A send
that may go now, or after a wait no longer than `max_inline_wait`, books its slot; one that
would wait longer is told how long and books nothing, so the job is rescheduled instead of
holding a worker slot."""

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    count: int
    seconds: float


PER_CHAT = Window(1, 1.0)
PER_GROUP = Window(20, 60.0)
PER_BOT = Window(30, 1.0)


@dataclass(frozen=True)
class SendNow:
    wait: float
    """Seconds to wait before sending; the slot is already booked."""


@dataclass(frozen=True)
class SendLater:
    delay: float
    """Seconds until a slot frees up; nothing was booked."""


Decision = SendNow | SendLater


class SendLimiter:
    def __init__(
        self,
        *,
        max_inline_wait: float = 1.0,
        per_chat: Window = PER_CHAT,
        per_group: Window = PER_GROUP,
        per_bot: Window = PER_BOT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_inline_wait = max_inline_wait
        self._per_chat = per_chat
        self._per_group = per_group
        self._per_bot = per_bot
        self._clock = clock
        self._sent: dict[str, list[float]] = {}
        """Booked send times per key, sorted, pruned to the key's window."""
        self._blocked: dict[str, float] = {}
        """Keys Telegram told us to leave alone until a time (429 retry_after)."""
        self._decisions = 0

    def _keys(self, chat_id: int | str | None) -> list[tuple[str, Window]]:
        keys = [("bot", self._per_bot)]
        if chat_id is None:
            return keys
        chat = str(chat_id)
        keys.append((f"chat:{chat}", self._per_chat))
        if chat.startswith("-"):
            keys.append((f"group:{chat}", self._per_group))
        return keys

    def _earliest(self, key: str, window: Window, now: float) -> float:
        earliest = max(now, self._blocked.get(key, now))
        sent = self._sent.get(key)
        if sent and len(sent) >= window.count:
            earliest = max(earliest, sent[-window.count] + window.seconds)
        return earliest

    def acquire(self, chat_id: int | str | None) -> Decision:
        now = self._clock()
        self._prune(now)
        keys = self._keys(chat_id)
        at = max(self._earliest(key, window, now) for key, window in keys)
        wait = at - now
        if wait > self._max_inline_wait:
            return SendLater(wait)
        for key, window in keys:
            sent = self._sent.setdefault(key, [])
            bisect.insort(sent, at)
            del sent[: max(0, len(sent) - window.count)]
        return SendNow(wait)

    def penalize(self, chat_id: int | str | None, seconds: float) -> None:
        """Telegram said `retry_after`: nothing more goes to that chat (or, without one, from
        this bot) until then."""
        key = "bot" if chat_id is None else f"chat:{chat_id}"
        until = self._clock() + seconds
        self._blocked[key] = max(self._blocked.get(key, until), until)

    def _prune(self, now: float) -> None:
        self._decisions += 1
        if self._decisions % 1024:
            return
        horizon = max(self._per_chat.seconds, self._per_group.seconds, self._per_bot.seconds)
        for key in [k for k, sent in self._sent.items() if not sent or sent[-1] < now - horizon]:
            del self._sent[key]
        for key in [k for k, until in self._blocked.items() if until <= now]:
            del self._blocked[key]
