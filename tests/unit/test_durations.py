from datetime import timedelta

import pytest

from botgateway.queue.durations import format_duration, parse_duration

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("168h", timedelta(hours=168)),
        ("30m", timedelta(minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("250ms", timedelta(milliseconds=250)),
        ("1.5h", timedelta(minutes=90)),
        ("0", timedelta(0)),
        ("2h45m30.5s", timedelta(hours=2, minutes=45, seconds=30.5)),
    ],
)
def test_parses_go_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["soon", "", "10", "5 m", "-5m", "1d", "h", "1h 30m", "m5"])
def test_refuses_what_go_would_refuse(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_formats_like_go() -> None:
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m0s"
    assert format_duration(timedelta(seconds=90)) == "1m30s"
    assert format_duration(timedelta(milliseconds=250)) == "0.25s"
