"""What the operator remembers about one BotGateway between passes, seeded from its status so a
restarted operator neither re-registers webhooks nor forgets its scaling window."""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .scaling import Recommendation


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as status holds it; None when absent or unreadable."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class Memory:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    registered: dict[str, str] = field(default_factory=dict)
    """slug -> digest of what the operator last registered with setWebhook."""
    checked: dict[str, datetime] = field(default_factory=dict)
    """slug -> when getWebhookInfo last answered (in memory only)."""
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """slug -> the webhook's status entry from its last check (reused between checks)."""
    tokens: dict[str, str] = field(default_factory=dict)
    history: tuple[Recommendation, ...] = ()
    replicas: int | None = None
    absent: set[str] = field(default_factory=set)
    deleting: bool = False

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> "Memory":
        mem = cls()
        for hook in status.get("webhooks") or ():
            if not isinstance(hook, Mapping) or not hook.get("slug"):
                continue
            slug = str(hook["slug"])
            mem.hooks[slug] = dict(hook)
            if hook.get("registeredDigest"):
                mem.registered[slug] = str(hook["registeredDigest"])
        scaling = status.get("scaling") or {}
        history: list[Recommendation] = []
        for rec in scaling.get("recommendations") or ():
            at = parse_time(rec.get("time")) if isinstance(rec, Mapping) else None
            if at is not None and isinstance(rec.get("replicas"), int):
                history.append(Recommendation(at, rec["replicas"]))
        mem.history = tuple(history)
        if isinstance(status.get("replicas"), int):
            mem.replicas = status["replicas"]
        return mem

    def forget_bot(self, slug: str) -> None:
        for table in (self.registered, self.checked, self.hooks, self.tokens):
            table.pop(slug, None)
