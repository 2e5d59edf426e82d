"""Status conditions (Kubernetes convention): pure updates that keep lastTransitionTime stable."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

READY = "Ready"
WEBHOOK_REGISTERED = "WebhookRegistered"
QUEUE_HEALTHY = "QueueHealthy"
AVAILABLE = "Available"
CONNECTION_BUDGET = "ConnectionBudget"
"""True while the most connections the gateway can open fit the server's max_connections."""

TYPES = (READY, WEBHOOK_REGISTERED, QUEUE_HEALTHY, AVAILABLE, CONNECTION_BUDGET)


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str

    @classmethod
    def true(cls, type_: str, reason: str, message: str) -> "Condition":
        return cls(type_, "True", reason, message)

    @classmethod
    def false(cls, type_: str, reason: str, message: str) -> "Condition":
        return cls(type_, "False", reason, message)

    @classmethod
    def unknown(cls, type_: str, reason: str, message: str) -> "Condition":
        return cls(type_, "Unknown", reason, message)


def timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    existing: Sequence[Mapping[str, Any]],
    updates: Sequence[Condition],
    *,
    now: datetime,
    generation: int | None = None,
) -> list[dict[str, Any]]:
    """`existing` with `updates` applied, in a stable order (known types first).

    lastTransitionTime changes only when a condition's status does, so re-reporting the same
    state writes the same object (and the API server stores nothing new).
    """
    by_type: dict[str, dict[str, Any]] = {
        str(c["type"]): dict(c) for c in existing if isinstance(c, Mapping) and "type" in c
    }
    for cond in updates:
        previous = by_type.get(cond.type)
        changed = previous is None or previous.get("status") != cond.status
        entry: dict[str, Any] = {
            "type": cond.type,
            "status": cond.status,
            "reason": cond.reason,
            "message": cond.message,
            "lastTransitionTime": (
                timestamp(now)
                if changed or previous is None
                else previous.get("lastTransitionTime", timestamp(now))
            ),
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        elif previous is not None and "observedGeneration" in previous:
            entry["observedGeneration"] = previous["observedGeneration"]
        by_type[cond.type] = entry
    order = {t: i for i, t in enumerate(TYPES)}
    return sorted(by_type.values(), key=lambda c: (order.get(c["type"], len(order)), c["type"]))


def find(conditions: Sequence[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)
