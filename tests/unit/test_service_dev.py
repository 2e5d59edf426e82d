import pytest

from botgateway.contract import DiscardConfig
from botgateway.service.bots import BotConfig
from botgateway.service.dev import DEMO_SECRET, curl_line, demo_bot

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
