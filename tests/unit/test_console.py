import pytest

from botgateway.console import render_table

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
