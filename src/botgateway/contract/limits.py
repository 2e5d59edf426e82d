"""Patterns and limits that the bots file, the CRD and Telegram agree on, written once."""

import math
import re

SLUG_PATTERN = r"^[a-z0-9-]{1,63}$"
SLUG_MAX_LENGTH = 63
SLUG_RULE = "1 to 63 characters of a-z, 0-9 and -"

TOKEN_PATTERN = r"^[0-9]+:[A-Za-z0-9_-]+$"

WEBHOOK_SECRET_PATTERN = r"^[A-Za-z0-9_-]{1,256}$"
"""Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - as a webhook secret token."""
WEBHOOK_SECRET_RULE = "1 to 256 characters of A-Z, a-z, 0-9, _ and -"

URL_MAX_LENGTH = 2048
URL_PATTERN = (
    r"^https?://([^ \t\n\f\r/?#@:\[\]]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?"
    r"([/?#][^ \t\n\f\r]*)?$"
)
"""An http(s) URL with a host: one regular expression that Python and the API server's CEL
(RE2) read alike (explicit whitespace classes, since their `\\s` differ)."""
HANDLER_TYPE_MAX_LENGTH = 100

FORWARD_TIMEOUT_DEFAULT = 10.0
FORWARD_TIMEOUT_MAX = 300.0
"""Longer than any sane backend call, and shorter than a job's lease (QUEUE_STUCK_TIMEOUT)."""

SLUG = re.compile(SLUG_PATTERN)
TOKEN = re.compile(TOKEN_PATTERN)
WEBHOOK_SECRET = re.compile(WEBHOOK_SECRET_PATTERN)
URL = re.compile(URL_PATTERN)


def is_http_url(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) <= URL_MAX_LENGTH and URL.fullmatch(value) is not None
    )


def is_seconds(value: object, maximum: float) -> bool:
    """A JSON number in (0, maximum]; booleans are not numbers here."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= maximum
    )
