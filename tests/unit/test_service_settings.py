from datetime import timedelta
from pathlib import Path

import pytest

from botgateway.queue import SettingsError
from botgateway.service.settings import ServiceSettings

pytestmark = pytest.mark.unit


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "bots.yaml"
    config.write_text("bots:\n  - {slug: a, token: '1:A', handler: {type: discard}}\n")
    return {"DATABASE_URL": "postgresql://u@localhost/db", "BOTGATEWAY_CONFIG": str(config)}


def test_defaults(env: dict[str, str]) -> None:
    settings = ServiceSettings.from_env(env)
    assert settings.telegram_api_base == "https://api.telegram.org"
    assert settings.worker_concurrency == 32
    assert settings.shutdown_grace == timedelta(seconds=20)
    assert settings.max_body_bytes == 1024 * 1024
    assert [b.slug for b in settings.bots] == ["a"]
    assert settings.queue.max_attempts == 5


def test_overrides(env: dict[str, str]) -> None:
    env.update(
        TELEGRAM_API_BASE="http://127.0.0.1:9999/",
        WORKER_CONCURRENCY="4",
        WORKER_SHUTDOWN_GRACE="1m30s",
        BOTGATEWAY_MAX_BODY_BYTES="2048",
        BOTGATEWAY_BODY_TIMEOUT="2500ms",
        QUEUE_BACKOFF="100ms",
    )
    settings = ServiceSettings.from_env(env)
    assert settings.telegram_api_base == "http://127.0.0.1:9999"
    assert settings.worker_concurrency == 4
    assert settings.shutdown_grace == timedelta(seconds=90)
    assert settings.max_body_bytes == 2048
    assert settings.body_timeout == timedelta(milliseconds=2500)
    assert settings.queue.backoff == (timedelta(milliseconds=100),)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TELEGRAM_API_BASE", "api.telegram.org"),
        ("WORKER_CONCURRENCY", "0"),
        ("WORKER_CONCURRENCY", "many"),
        ("WORKER_SHUTDOWN_GRACE", "20"),
        ("BOTGATEWAY_MAX_BODY_BYTES", "1e6"),
        ("BOTGATEWAY_MAX_BODY_BYTES", "10"),
        ("BOTGATEWAY_BODY_TIMEOUT", "0s"),
        ("BOTGATEWAY_BODY_TIMEOUT", "10"),
        ("DATABASE_POOL_SIZE", "1"),
        ("QUEUE_MAX_ATTEMPTS", "0"),
    ],
)
def test_bad_value_names_the_variable(env: dict[str, str], name: str, value: str) -> None:
    env[name] = value
    with pytest.raises(SettingsError) as info:
        ServiceSettings.from_env(env)
    assert info.value.variable == name
    assert name in str(info.value)


def test_config_is_required_for_serve(env: dict[str, str]) -> None:
    del env["BOTGATEWAY_CONFIG"]
    with pytest.raises(SettingsError, match="BOTGATEWAY_CONFIG"):
        ServiceSettings.from_env(env)
    assert ServiceSettings.from_env(env, require_config=False).bots == ()


def test_secrets_lists_tokens_and_webhook_secrets(tmp_path: Path) -> None:
    config = tmp_path / "bots.yaml"
    config.write_text(
        "bots:\n  - {slug: a, token: '1:A', webhookSecret: sec, handler: {type: discard}}\n"
    )
    settings = ServiceSettings.from_env(
        {"DATABASE_URL": "postgresql://u@h/d", "BOTGATEWAY_CONFIG": str(config)}
    )
    assert sorted(settings.secrets()) == ["1:A", "sec"]
