"""Request signing: what the gateway sends, checked by the README's own verification snippet
(the file the README shows), including key rotation and replays."""

import hashlib
import hmac

import pytest

from botgateway.reference.snippets.verify_signature import (
    TOLERANCE_SECONDS,
    ReplayGuard,
    authentic,
    verify,
)
from botgateway.service.handlers.signing import signature_headers

pytestmark = pytest.mark.unit

OLD = "o" * 32
NEW = "n" * 40
BODY = b'{"update_id": 5, "message": {"text": "h\xc3\xa9"}}'
AT = 1_733_312_345


def signed(*keys: str, body: bytes = BODY, at: int = AT) -> dict[str, str]:
    return signature_headers(keys, at, body)


def test_v1_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(NEW.encode(), b"1733312345." + BODY, hashlib.sha256).hexdigest()
    assert signed(NEW) == {
        "X-Botgateway-Timestamp": "1733312345",
        "X-Botgateway-Signature": f"v1={expected}",
    }


def test_one_signature_per_key_in_order() -> None:
    both = signed(NEW, OLD)["X-Botgateway-Signature"].split(",")
    assert both == [signed(NEW)["X-Botgateway-Signature"], signed(OLD)["X-Botgateway-Signature"]]


def test_no_keys_no_signature_headers() -> None:
    assert signature_headers((), AT, BODY) == {}


def check(headers: dict[str, str], keys: list[str], body: bytes = BODY, now: float = AT) -> bool:
    return verify(
        [k.encode() for k in keys],
        headers["X-Botgateway-Timestamp"],
        headers["X-Botgateway-Signature"],
        body,
        now=now,
    )


def test_the_snippet_accepts_what_the_gateway_signs() -> None:
    assert check(signed(NEW), [NEW])
    assert check(signed(NEW), [OLD, NEW])


@pytest.mark.parametrize(
    ("headers", "keys", "body"),
    [
        (signed(NEW), [OLD], BODY),  # another key
        (signed(NEW), [NEW], BODY + b" "),  # a body changed on the way
        (signed(NEW, body=b"{}"), [NEW], BODY),  # a signature of another body
        ({**signed(NEW), "X-Botgateway-Timestamp": str(AT + 1)}, [NEW], BODY),  # time moved
        ({**signed(NEW), "X-Botgateway-Timestamp": f"{AT}.0"}, [NEW], BODY),
        ({**signed(NEW), "X-Botgateway-Signature": ""}, [NEW], BODY),
        ({**signed(NEW), "X-Botgateway-Signature": "v1=zz"}, [NEW], BODY),
    ],
)
def test_the_snippet_refuses_anything_else(
    headers: dict[str, str], keys: list[str], body: bytes
) -> None:
    assert not check(headers, keys, body)


def test_a_backend_with_either_key_accepts_while_the_gateway_rotates() -> None:
    rotating = signed(NEW, OLD)
    assert check(rotating, [OLD])
    assert check(rotating, [NEW])


def test_schemes_the_snippet_does_not_know_are_ignored() -> None:
    v1 = signed(NEW)["X-Botgateway-Signature"]
    future = {**signed(NEW), "X-Botgateway-Signature": f"v2=abc, {v1}"}
    assert check(future, [NEW])
    only_v2 = {**signed(NEW), "X-Botgateway-Signature": v1.replace("v1=", "v2=")}
    assert not check(only_v2, [NEW])


def test_an_old_or_future_timestamp_is_refused_outside_the_window() -> None:
    headers = signed(NEW)
    assert check(headers, [NEW], now=AT + TOLERANCE_SECONDS)
    assert not check(headers, [NEW], now=AT + TOLERANCE_SECONDS + 1)
    assert check(headers, [NEW], now=AT - TOLERANCE_SECONDS)
    assert not check(headers, [NEW], now=AT - TOLERANCE_SECONDS - 1)


def test_a_replay_inside_the_window_is_refused_once_seen() -> None:
    guard = ReplayGuard()
    headers = signed(NEW)
    keys = [NEW.encode()]
    assert authentic(headers, BODY, keys, guard, now=AT)
    assert not authentic(headers, BODY, keys, guard, now=AT + 1)
    # a new signing (the gateway's retry) is a new request
    assert authentic(signed(NEW, at=AT + 2), BODY, keys, guard, now=AT + 2)


def test_the_replay_guard_forgets_only_what_the_window_refuses_anyway() -> None:
    guard = ReplayGuard(tolerance=10)
    assert guard.first_time("a", now=0)
    assert not guard.first_time("a", now=20)
    assert guard.first_time("b", now=20)
    assert guard.first_time("a", now=21)
    assert set(guard.seen) == {"a", "b"}
