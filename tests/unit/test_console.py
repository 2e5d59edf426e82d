from datetime import UTC, datetime

import pytest

from botgateway.console import job_row, render_job, render_table
from botgateway.queue import JobDetail

pytestmark = pytest.mark.unit


def test_table_aligns_text_left_and_numbers_right() -> None:
    table = render_table(["bot", "pending"], [["support", 3], ["sales", 120]])
    assert table.splitlines() == [
        "BOT      PENDING",
        "support        3",
        "sales        120",
    ]


def test_missing_values_show_a_dash_and_long_text_is_cut() -> None:
    table = render_table(["id", "error"], [[1, None], [2, "e" * 100]])
    lines = table.splitlines()
    assert lines[1].endswith("-")
    assert lines[2].endswith("...")
    assert len(lines[2]) < 80


def job(status: str, **changes: object) -> JobDetail:
    fields: dict[str, object] = {
        "id": 7,
        "bot_slug": "support",
        "handler_type": "forward",
        "update_id": 1001,
        "status": status,
        "attempts": 4,
        "next_retry_at": AT,
        "last_error": "backend answered 503\nbody: busy",
        "created_at": AT,
        "updated_at": AT,
        "payload": '{"update_id": 1001, "message": {"text": "hi"}}',
        "chat_key": "42",
        "lease_owner": None,
        "lease_expires_at": None,
        "isolated": False,
    }
    return JobDetail(**{**fields, **changes})  # type: ignore[arg-type]


AT = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("status", ["done", "dead", "running"])
def test_only_a_pending_job_shows_a_next_retry(status: str) -> None:
    assert job_row(job(status))[5] is None
    assert "next retry    -" in render_job(job(status))
    assert job_row(job("pending"))[5] == "2026-12-04 12:00:00 UTC"


def test_a_job_in_full_has_its_payload_pretty_printed_and_its_error_whole() -> None:
    text = render_job(job("running", lease_owner="pod-a:1:ab", lease_expires_at=AT))
    assert "lease holder  pod-a:1:ab until 2026-12-04 12:00:00 UTC" in text
    assert "attempts      4" in text
    assert "last error\n    backend answered 503\n    body: busy" in text
    assert text.endswith(
        'payload\n    {\n      "update_id": 1001,\n      "message": {\n'
        '        "text": "hi"\n      }\n    }'
    )


def test_a_job_waiting_for_its_chat_says_so_instead_of_a_time() -> None:
    parked = job("pending", next_retry_at=datetime.max.replace(tzinfo=UTC))
    assert parked.waits_for_chat
    assert job_row(parked)[5] == "after its chat's earlier update"
    assert "next retry    after its chat's earlier update" in render_job(parked)
    assert not job("pending").waits_for_chat
