import json
import logging

import pytest

from botgateway.logs import JsonFormatter, RedactSecrets, TextFormatter

pytestmark = pytest.mark.unit

TOKEN = "123456:VerySecretToken"


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("botgateway.test", logging.WARNING, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_secrets_are_blanked_in_message_args_and_extras() -> None:
    rec = record("calling %s", f"/bot{TOKEN}/sendMessage", error=f"failed for {TOKEN}")
    RedactSecrets([TOKEN, "hook-secret"]).filter(rec)
    line = TextFormatter().format(rec)
    assert TOKEN not in line
    assert "/bot***/sendMessage" in line
    assert "error=failed for ***" in line


def test_secrets_are_blanked_in_exceptions() -> None:
    try:
        raise RuntimeError(f"boom {TOKEN}")
    except RuntimeError:
        import sys

        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "oops", None, sys.exc_info())
    RedactSecrets([TOKEN]).filter(rec)
    assert TOKEN not in JsonFormatter().format(rec)


def test_json_lines_carry_extra_fields() -> None:
    line = JsonFormatter().format(record("job done", bot="support", update_id=5))
    entry = json.loads(line)
    assert entry["message"] == "job done"
    assert entry["level"] == "warning"
    assert entry["bot"] == "support"
    assert entry["update_id"] == 5
    assert "time" in entry
