"""Operator settings, read from the environment once and validated at start."""

from collections.abc import Mapping
from dataclasses import dataclass

from botgateway.queue.durations import parse_duration

from .errors import OperatorError
from .telegram import DEFAULT_API_BASE

DEFAULT_IMAGE = "botgateway:0.1.0"


class OperatorSettingsError(OperatorError):
    def __init__(self, variable: str, value: str, expected: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}={value!r} is invalid: expected {expected}")


@dataclass(frozen=True)
class OperatorSettings:
    """`BOTGATEWAY_IMAGE`: the gateway image when a BotGateway names none (the operator's own).
    `TELEGRAM_API_BASE`: where the operator calls setWebhook & co (a fake Bot API in tests).
    `BOTGATEWAY_OPERATOR_INTERVAL`: how often each BotGateway is re-synced and observed (queue
    depth, scaling, getWebhookInfo, Secret changes). `BOTGATEWAY_RETRY_DELAY`: wait before a
    retry after a missing Secret or an unreachable Bot API. `LOG_FORMAT`: `text` for people,
    `json` (one object per line, kopf's own formatter) in containers."""

    default_image: str = DEFAULT_IMAGE
    telegram_api_base: str = DEFAULT_API_BASE
    interval_seconds: float = 30.0
    retry_delay_seconds: float = 15.0
    database_timeout_seconds: float = 5.0
    log_format: str = "text"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "OperatorSettings":
        return cls(
            default_image=env.get("BOTGATEWAY_IMAGE", "").strip() or DEFAULT_IMAGE,
            telegram_api_base=env.get("TELEGRAM_API_BASE", "").strip() or DEFAULT_API_BASE,
            interval_seconds=_seconds(env, "BOTGATEWAY_OPERATOR_INTERVAL", "30s"),
            retry_delay_seconds=_seconds(env, "BOTGATEWAY_RETRY_DELAY", "15s"),
            log_format=_log_format(env),
        )


def _log_format(env: Mapping[str, str]) -> str:
    raw = env.get("LOG_FORMAT", "text")
    value = raw.strip().lower()
    if value not in ("text", "json"):
        raise OperatorSettingsError("LOG_FORMAT", raw, "text or json")
    return value


def _seconds(env: Mapping[str, str], name: str, default: str) -> float:
    raw = env.get(name, default)
    try:
        value = parse_duration(raw).total_seconds()
    except ValueError:
        raise OperatorSettingsError(name, raw, "a Go duration such as 30s or 2m") from None
    if value <= 0:
        raise OperatorSettingsError(name, raw, "a duration greater than zero")
    return value
