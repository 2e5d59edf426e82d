from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from botgateway.operator.spec import parse_spec
from botgateway.operator.webhooks import (
    WebhookInfo,
    check_due,
    check_period,
    desired_webhook,
    staggered_last_check,
    webhook_drift,
)

pytestmark = pytest.mark.unit

TOKEN = "123:ABC"
SPEC = parse_spec(
    "gw",
    "bots",
    {
        "database": {"secretRef": {"name": "db"}},
        "ingress": {"host": "bots.example.com"},
        "webhook": {"maxConnections": 20},
        "bots": [
            {
                "slug": "support",
                "tokenSecretRef": {"name": "t"},
                "handler": {"type": "discard"},
                "allowedUpdates": ["message", "callback_query"],
            },
            {"slug": "all", "tokenSecretRef": {"name": "t"}, "handler": {"type": "discard"}},
        ],
    },
)
DESIRED = desired_webhook(SPEC, "support", "s3cret")
assert DESIRED is not None
IN_SYNC = WebhookInfo(
    url="https://bots.example.com/webhook/support",
    max_connections=20,
    allowed_updates=("callback_query", "message"),
)


def test_desired_webhook_from_the_spec() -> None:
    assert DESIRED is not None
    assert DESIRED.set_webhook_params() == {
        "url": "https://bots.example.com/webhook/support",
        "secret_token": "s3cret",
        "allowed_updates": ["message", "callback_query"],
        "max_connections": 20,
        "drop_pending_updates": False,
    }


def test_no_allowed_updates_means_all_not_previous() -> None:
    hook = desired_webhook(SPEC, "all", "x")
    assert hook is not None
    assert hook.set_webhook_params()["allowed_updates"] == []


def test_in_sync_when_telegram_matches_and_digest_is_known() -> None:
    assert DESIRED is not None
    digest = DESIRED.digest(TOKEN)
    assert webhook_drift(DESIRED, IN_SYNC, token=TOKEN, registered_digest=digest) == []


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        (replace(IN_SYNC, url=""), "url is ''"),
        (replace(IN_SYNC, url="https://other/webhook/support"), "url is"),
        (replace(IN_SYNC, max_connections=40), "max_connections is 40"),
        (replace(IN_SYNC, allowed_updates=("message",)), "allowed_updates"),
    ],
)
def test_drift_in_what_telegram_reports(info: WebhookInfo, reason: str) -> None:
    assert DESIRED is not None
    reasons = webhook_drift(DESIRED, info, token=TOKEN, registered_digest=DESIRED.digest(TOKEN))
    assert len(reasons) == 1
    assert reason in reasons[0]


def test_secret_change_is_drift_through_the_digest() -> None:
    assert DESIRED is not None
    old = DESIRED.digest(TOKEN)
    rotated = replace(DESIRED, secret_token="new-secret")
    assert webhook_drift(rotated, IN_SYNC, token=TOKEN, registered_digest=old) == [
        "secret token or settings not yet registered by the operator"
    ]
    assert webhook_drift(DESIRED, IN_SYNC, token=TOKEN, registered_digest=None)


def test_digest_reveals_nothing_and_depends_on_the_token() -> None:
    assert DESIRED is not None
    digest = DESIRED.digest(TOKEN)
    assert "s3cret" not in digest
    assert TOKEN not in digest
    assert digest != DESIRED.digest("456:DEF")


def test_no_public_url_no_desired_webhook() -> None:
    spec = replace(SPEC, ingress=None)
    assert desired_webhook(spec, "support", "s") is None


def test_webhook_info_from_the_bot_api() -> None:
    info = WebhookInfo.from_api(
        {
            "url": "https://x/webhook/a",
            "has_custom_certificate": False,
            "pending_update_count": 3,
            "max_connections": 40,
            "last_error_date": 1700000000,
            "last_error_message": "Connection refused",
        }
    )
    assert info.pending_update_count == 3
    assert info.allowed_updates is None
    assert info.last_error_message == "Connection refused"


def test_each_bot_checks_on_its_own_period_within_a_quarter_of_the_interval() -> None:
    interval = timedelta(minutes=10)
    periods = {check_period(f"bot-{i}", interval) for i in range(200)}
    assert all(timedelta(minutes=7.5) <= p < timedelta(minutes=12.5) for p in periods)
    assert len(periods) > 150  # spread out, not one shared tick
    assert check_period("bot-1", interval) == check_period("bot-1", interval)


def test_a_webhook_is_checked_at_once_unless_registered_and_recently_checked() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    interval = timedelta(minutes=10)
    period = check_period("support", interval)

    def due(last: datetime | None, registered: bool = True) -> bool:
        return check_due(
            "support", last_checked=last, registered=registered, now=now, interval=interval
        )

    assert due(None)
    assert due(now, registered=False)
    assert not due(now - period + timedelta(seconds=1))
    assert due(now - period)


def test_after_a_restart_first_checks_spread_over_one_period() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    interval = timedelta(minutes=10)
    lasts = [staggered_last_check(f"bot-{i}", now, interval) for i in range(200)]
    assert all(now - check_period(f"bot-{i}", interval) < t <= now for i, t in enumerate(lasts))
    first_due = sorted(t + check_period(f"bot-{i}", interval) for i, t in enumerate(lasts))
    assert first_due[100] - first_due[0] > timedelta(minutes=2)  # not all on the next pass
