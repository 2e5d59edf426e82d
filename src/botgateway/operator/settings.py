"""Operator settings, read from the environment once and validated at start (the variables are
declared in `botgateway.contract.environment`)."""

from collections.abc import Mapping
from dataclasses import dataclass

from botgateway.contract.environment import (
    BOTGATEWAY_IMAGE,
    BOTGATEWAY_OPERATOR_INTERVAL,
    BOTGATEWAY_RETRY_DELAY,
    BOTGATEWAY_WEBHOOK_CHECK_INTERVAL,
    TELEGRAM_API_BASE,
)

DEFAULT_IMAGE: str = BOTGATEWAY_IMAGE.value


@dataclass(frozen=True)
class OperatorSettings:
    default_image: str = DEFAULT_IMAGE
    """The gateway image when a BotGateway names none (the operator's own)."""
    telegram_api_base: str = TELEGRAM_API_BASE.value
    interval_seconds: float = BOTGATEWAY_OPERATOR_INTERVAL.value.total_seconds()
    retry_delay_seconds: float = BOTGATEWAY_RETRY_DELAY.value.total_seconds()
    webhook_check_seconds: float = BOTGATEWAY_WEBHOOK_CHECK_INTERVAL.value.total_seconds()
    database_timeout_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "OperatorSettings":
        return cls(
            default_image=BOTGATEWAY_IMAGE.read(env),
            telegram_api_base=TELEGRAM_API_BASE.read(env),
            interval_seconds=BOTGATEWAY_OPERATOR_INTERVAL.read(env).total_seconds(),
            retry_delay_seconds=BOTGATEWAY_RETRY_DELAY.read(env).total_seconds(),
            webhook_check_seconds=BOTGATEWAY_WEBHOOK_CHECK_INTERVAL.read(env).total_seconds(),
        )
