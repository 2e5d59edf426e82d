from datetime import timedelta

import pytest

from botgateway.queue import QueueSettings, SettingsError, redact

pytestmark = pytest.mark.unit

BASE = {"DATABASE_URL": "postgresql://u@h/db"}


def test_defaults_are_the_seeds() -> None:
    s = QueueSettings.from_env(BASE)
    assert s.done_retention == timedelta(hours=168)
    assert s.stuck_timeout == timedelta(minutes=30)
    assert s.janitor_interval == timedelta(hours=1)
    assert s.max_attempts == 5
    assert s.backoff == (
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=10),
        timedelta(hours=1),
    )


def test_reads_every_variable() -> None:
    s = QueueSettings.from_env(
        BASE
        | {
            "QUEUE_DONE_RETENTION": "24h",
            "QUEUE_STUCK_TIMEOUT": "90s",
            "QUEUE_JANITOR_INTERVAL": "5m",
            "QUEUE_MAX_ATTEMPTS": "3",
            "QUEUE_BACKOFF": "1s,5s",
        }
    )
    assert (s.done_retention, s.stuck_timeout, s.janitor_interval) == (
        timedelta(hours=24),
        timedelta(seconds=90),
        timedelta(minutes=5),
    )
    assert s.max_attempts == 3
    assert s.backoff == (timedelta(seconds=1), timedelta(seconds=5))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("QUEUE_STUCK_TIMEOUT", "soon"),
        ("QUEUE_STUCK_TIMEOUT", "0"),
        ("QUEUE_DONE_RETENTION", "a week"),
        ("QUEUE_JANITOR_INTERVAL", "-1h"),
        ("QUEUE_MAX_ATTEMPTS", "0"),
        ("QUEUE_MAX_ATTEMPTS", "five"),
        ("QUEUE_BACKOFF", "30s,,1h"),
    ],
)
def test_bad_value_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        QueueSettings.from_env(BASE | {variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}={value!r} is invalid: expected ")


def test_database_url_is_required() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        QueueSettings.from_env({})


def test_heartbeat_runs_well_within_the_stuck_timeout() -> None:
    assert QueueSettings(stuck_timeout=timedelta(seconds=8)).heartbeat_interval == timedelta(
        seconds=2
    )
    assert QueueSettings().heartbeat_interval == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/bots", "postgresql://app@db:5432/bots"),
        (
            "postgresql://app:s3cret@10.0.0.1:5432,10.0.0.2:5432/bots"
            "?target_session_attrs=read-write",
            "postgresql://app@10.0.0.1:5432,10.0.0.2:5432/bots?target_session_attrs=read-write",
        ),
        (
            "postgresql://postgres@/bots?host=/run/pg&port=5433",
            "postgresql://postgres@/bots?host=/run/pg&port=5433",
        ),
    ],
)
def test_a_database_url_is_shown_without_its_password(url: str, shown: str) -> None:
    # A multi-host URL (a primary and its standbys) used to break the connect message itself.
    assert redact(url) == shown
