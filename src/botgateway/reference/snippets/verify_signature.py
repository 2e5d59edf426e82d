"""Verify botgateway's request signature (standard library only; copy it into your backend)."""

import hashlib
import hmac
import time
from collections.abc import Mapping

TOLERANCE_SECONDS = 300  # refuse a request signed longer ago (or later) than this


def verify(
    keys: list[bytes],
    timestamp: str,
    signature: str,
    body: bytes,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """True when one of `keys` signed `body` at `timestamp`, within `tolerance` of `now`.

    timestamp: the X-Botgateway-Timestamp header; signature: the X-Botgateway-Signature
    header; body: the raw request body, as received (before any JSON parsing)."""
    if not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    payload = timestamp.encode() + b"." + body
    sent = [
        value.strip().encode()
        for scheme, _, value in (part.strip().partition("=") for part in signature.split(","))
        if scheme == "v1"  # ignore schemes this code does not know
    ]
    for key in keys:
        expected = hmac.new(key, payload, hashlib.sha256).hexdigest().encode()
        if any(hmac.compare_digest(expected, value) for value in sent):
            return True
    return False


class ReplayGuard:
    """Refuses a signature seen before within the tolerance: a request sent again."""

    def __init__(self, tolerance: float = TOLERANCE_SECONDS) -> None:
        self.tolerance = tolerance
        self.seen: dict[str, float] = {}

    def first_time(self, signature: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        # a timestamp passes from `tolerance` before it to `tolerance` after it
        self.seen = {s: t for s, t in self.seen.items() if now - t <= 2 * self.tolerance}
        if signature in self.seen:
            return False
        self.seen[signature] = now
        return True


def authentic(
    headers: Mapping[str, str],
    body: bytes,
    keys: list[bytes],
    guard: ReplayGuard,
    now: float | None = None,
) -> bool:
    """The whole check of one request: signed by the gateway, recently, and not seen before.
    Answer 401 when it fails: the gateway does not retry a 4xx, so the update goes to dead (a
    wrong key: fix it, then `botgateway jobs retry`)."""
    timestamp = headers.get("X-Botgateway-Timestamp", "")
    signature = headers.get("X-Botgateway-Signature", "")
    return verify(keys, timestamp, signature, body, now) and guard.first_time(signature, now)
