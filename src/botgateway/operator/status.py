"""Status is written only where it changed: an unchanged pass sends no patch, so 1,000
BotGateways at a 30s interval do not cost 33 writes a second (and watchers see no churn)."""

import json
from collections.abc import Mapping
from typing import Any


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def status_changes(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `desired` that differ from `current` (None deletes a field, so it counts
    as a change only when the field is there)."""
    changes: dict[str, Any] = {}
    for key, value in desired.items():
        if value is None:
            if current.get(key) is not None:
                changes[key] = None
        elif key not in current or _canonical(current[key]) != _canonical(value):
            changes[key] = value
    return changes
