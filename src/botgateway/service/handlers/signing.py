"""Request signing for the forward handler (the README's "Request signing"): an HMAC-SHA256 of
`<timestamp>.<raw body>` per key, so a backend can tell the gateway from anyone else and refuse
an old request sent again. Pure, so the scheme is tested without a network."""

import hashlib
import hmac
from collections.abc import Sequence

from botgateway.contract.forward_options import (
    SIGNATURE_HEADER,
    SIGNATURE_SCHEME,
    TIMESTAMP_HEADER,
)


def signed_payload(timestamp: int, body: bytes) -> bytes:
    return f"{timestamp}.".encode("ascii") + body


def signature_headers(keys: Sequence[str], timestamp: int, body: bytes) -> dict[str, str]:
    """The timestamp and one `v1=<hex>` per key (several while keys rotate, so a backend that
    knows either the old or the new key accepts the request); empty without keys."""
    if not keys:
        return {}
    payload = signed_payload(timestamp, body)
    signatures = [
        f"{SIGNATURE_SCHEME}={hmac.new(key.encode(), payload, hashlib.sha256).hexdigest()}"
        for key in keys
    ]
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: ",".join(signatures)}
