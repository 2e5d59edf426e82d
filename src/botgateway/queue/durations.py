"""Go-style durations (`168h`, `30m`, `1h30m`, `90s`, `250ms`), as the seed's environment uses."""

import re
from datetime import timedelta

_UNITS_IN_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
GO_DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
"""What a CRD field holding a Go duration must match (the API server checks it)."""
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> timedelta:
    """Parse a Go `time.ParseDuration` string; raise ValueError on anything else.

    Negative durations are refused: no queue setting means anything with one.
    """
    s = text.strip()
    if s == "0":
        return timedelta(0)
    if not s:
        raise ValueError("empty duration")
    total = 0.0
    pos = 0
    for match in _PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS_IN_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(s):
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(seconds=total)


def format_duration(value: timedelta) -> str:
    """Render a duration the way Go prints it, e.g. `1h30m0s`, for messages and tables."""
    total_ms = round(value.total_seconds() * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = rest / 1000
    secs = f"{seconds:g}s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    if minutes:
        return f"{minutes}m{secs}"
    return secs
