"""Property-based fuzzing of the webhook against one running service and a real PostgreSQL.

Properties, for whatever is sent: the answer is one of the DESIGN §3 statuses (or the parser's
400 for malformed HTTP) and never 5xx; a 4xx leaves gateway_jobs unchanged; a 200 comes only for
a valid update with the right secret, and then exactly one row exists for that update_id.

"Valid" is decided by an oracle written apart from the service: strict UTF-8, Python's strict
JSON without NaN/Infinity, an object whose `update_id` is an integer in bigint range, and
PostgreSQL itself accepting the text as jsonb (so NUL, lone surrogates and out-of-range numbers
are judged by the database, not by our copy of its rules).

One service is shared by every example (module-scoped, on its own event loop): Hypothesis runs
examples in a plain function, which function-scoped async fixtures cannot serve.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.harness import LIMIT, SECRET, ServiceHarness, http_request, shared_service
from tests.support.postgres import TestPostgres

pytestmark = pytest.mark.integration

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
BIGINT = (-(2**63), 2**63 - 1)
DESIGN_STATUSES = {200, 400, 401, 404, 405, 413, 415}
"""DESIGN §3's answers for a webhook POST, plus 405 for another method (our choice)."""

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def harness(postgres: TestPostgres) -> Iterator[ServiceHarness]:
    with shared_service(postgres) as h:
        yield h


# -- the oracle ---------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def expected_update_id(harness: ServiceHarness, raw: bytes) -> int | None:
    """The update_id when `raw` is a storable update, else None."""
    try:
        text = raw.decode("utf-8", errors="strict")
        value = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    update_id = value.get("update_id")
    if type(update_id) is not int or not BIGINT[0] <= update_id <= BIGINT[1]:
        return None
    if not harness.run(harness.jsonb_accepts(text)):
        return None
    return update_id


@dataclass(frozen=True)
class Sent:
    statuses: list[int]
    total_before: int
    total_after: int


def send(harness: ServiceHarness, request: bytes) -> Sent:
    before = harness.run(harness.count())
    answer = harness.run(harness.raw(request))
    after = harness.run(harness.count())
    assert answer.statuses, f"no answer: {answer.data[:200]!r}"
    assert all(s < 500 for s in answer.statuses), answer.data[-300:]
    event(f"answered {answer.statuses}")
    return Sent(answer.statuses, before, after)


def check_body(harness: ServiceHarness, raw: bytes, slug: str = "open") -> None:
    """Right slug, secret and type: the body alone decides between 200, 400 and 413."""
    secret = [(SECRET_HEADER, SECRET)] if slug == "guarded" else []
    update_id = expected_update_id(harness, raw)
    already = 0 if update_id is None else harness.run(harness.count(update_id, slug))
    sent = send(harness, http_request(raw, path=f"/webhook/{slug}", headers=secret))
    if len(raw) > LIMIT:
        assert sent.statuses == [413]
    elif update_id is None:
        assert sent.statuses == [400], raw[:200]
    else:
        assert sent.statuses == [200], raw[:200]
        assert harness.run(harness.count(update_id, slug)) == 1
    if sent.statuses == [200]:
        assert sent.total_after - sent.total_before == (0 if already else 1)
    else:
        assert sent.total_after == sent.total_before


# -- strategies ---------------------------------------------------------------------------

# characters jsonb and JSON find hard, mixed into ordinary text
AWKWARD = st.sampled_from(["\x00", "\ud800", "\udfff", "\x1f", "\u2028", "\ufeff", "é", "😀", '"'])
TEXT = st.text(st.one_of(st.characters(), AWKWARD), max_size=20)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, TEXT),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)
    ),
    max_leaves=20,
)
UPDATE_IDS = st.one_of(
    st.integers(min_value=BIGINT[0] - 10, max_value=BIGINT[0] + 10),
    st.integers(min_value=BIGINT[1] - 10, max_value=BIGINT[1] + 10),
    st.integers(min_value=-(10**6), max_value=10**12),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    TEXT,
    st.lists(st.integers(), max_size=2),
)


def dumps(value: object, *, ascii_only: bool) -> bytes:
    # ensure_ascii turns NUL and lone surrogates into \u escapes (as Telegram would send them);
    # without it they go out raw, lone surrogates as invalid UTF-8
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", errors="surrogatepass")


# -- properties ---------------------------------------------------------------------------


@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes(harness: ServiceHarness, raw: bytes) -> None:
    check_body(harness, raw)


@FUZZ
@given(
    raw=st.one_of(
        st.binary(min_size=1, max_size=200), TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))
    ),
    update_id=UPDATE_IDS,
)
def test_bytes_inside_an_update(harness: ServiceHarness, raw: bytes, update_id: object) -> None:
    prefix = b'{"update_id": ' + json.dumps(update_id, allow_nan=True).encode() + b', "x": "'
    check_body(harness, prefix + raw + b'"}')


@FUZZ
@given(value=JSON_VALUES, ascii_only=st.booleans())
def test_arbitrary_json_values(harness: ServiceHarness, value: object, ascii_only: bool) -> None:
    check_body(harness, dumps(value, ascii_only=ascii_only))


@FUZZ
@given(
    update_id=UPDATE_IDS,
    rest=st.dictionaries(TEXT, JSON_VALUES, max_size=3),
    ascii_only=st.booleans(),
    slug=st.sampled_from(["open", "guarded", "ordered"]),
)
def test_objects_with_arbitrary_update_ids(
    harness: ServiceHarness, update_id: object, rest: dict[str, Any], ascii_only: bool, slug: str
) -> None:
    rest.pop("update_id", None)
    check_body(harness, dumps({"update_id": update_id, **rest}, ascii_only=ascii_only), slug)


def number_tokens() -> st.SearchStrategy[str]:
    """JSON number tokens around PostgreSQL numeric's limits (131072 digits before the point,
    16383 after, exponents under 2**30 - 1), reached through exponents rather than megabytes
    of digits."""
    whole = st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,8}", fullmatch=True))
    fraction = st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,12}", fullmatch=True))
    edges = [0, 16370, 16383, 16384, 16390, 131060, 131071, 131072, 131080, 2**30 - 1, 10**13]
    exponent = st.one_of(
        st.just(""),
        st.builds(
            lambda e, d, sign, zeros: f"e{sign}{'0' * zeros}{max(e + d, 0)}",
            st.sampled_from(edges),
            st.integers(-12, 12),
            st.sampled_from(["", "+", "-"]),
            st.sampled_from([0, 0, 0, 14]),
        ),
    )
    return st.builds(
        lambda neg, w, f, e: f"{neg}{w}{f}{e}",
        st.sampled_from(["", "-"]),
        whole,
        fraction,
        exponent,
    )


@FUZZ
@given(token=number_tokens(), update_id=st.integers(1, 10**9))
def test_numbers_are_taken_exactly_when_jsonb_holds_them(
    harness: ServiceHarness, token: str, update_id: int
) -> None:
    raw = b'{"update_id": %d, "x": %s}' % (update_id, token.encode())
    holds = harness.run(harness.jsonb_accepts(raw.decode()))
    check_body(harness, raw)
    if holds:
        assert harness.run(harness.count(update_id, "open")) == 1


# Header fuzzing. With values from these sets the answer is known exactly (the check order is
# slug, secret, content type and coding, size, body); arbitrary bytes get the weaker property.
KNOWN_SLUGS = st.sampled_from(["open", "guarded", "ordered"])
SLUGS = st.one_of(
    KNOWN_SLUGS,
    KNOWN_SLUGS,
    st.sampled_from(["nobody", "OPEN", "gu-arded", "open-"]),
    st.from_regex(r"[A-Za-z0-9_-]{1,70}", fullmatch=True),
)
HEADER_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x7f"), max_size=40
)
SECRETS = st.lists(
    st.one_of(st.just(SECRET), st.just(f" {SECRET} "), st.just(SECRET.upper()), HEADER_TEXT),
    max_size=3,
)
GOOD_TYPES = ["application/json", "application/json; charset=utf-8", "Application/JSON"]
BAD_TYPES = ["text/plain", "application/json; charset=latin-1", "", "application/x-json"]
TYPES = st.one_of(st.sampled_from(GOOD_TYPES), st.sampled_from([None, *BAD_TYPES]))
CODINGS = st.one_of(
    st.none(),
    st.sampled_from([None, "identity", "IDENTITY", "gzip", "deflate", "br", "gzip, identity"]),
)
BODIES = st.one_of(
    st.builds(lambda i: b'{"update_id": %d}' % i, st.integers(1, 10**9)),
    st.sampled_from([b"", b"{", b"[]", b'{"update_id": "1"}']),
    st.builds(
        lambda n: b'{"update_id": 5, "x": "' + b"a" * n + b'"}', st.integers(LIMIT - 30, LIMIT)
    ),
)


def expected_status(
    harness: ServiceHarness,
    slug: str,
    secrets: list[str],
    content_type: str | None,
    coding: str | None,
    raw: bytes,
) -> int:
    if slug not in ("open", "guarded", "ordered"):
        return 404
    if slug == "guarded" and not (len(secrets) == 1 and secrets[0].strip(" ") == SECRET):
        return 401
    if content_type not in GOOD_TYPES or coding not in (None, "identity", "IDENTITY"):
        return 415
    if len(raw) > LIMIT:
        return 413
    return 200 if expected_update_id(harness, raw) is not None else 400


@FUZZ
@given(slug=SLUGS, secrets=SECRETS, content_type=TYPES, coding=CODINGS, raw=BODIES)
def test_header_combinations(
    harness: ServiceHarness,
    slug: str,
    secrets: list[str],
    content_type: str | None,
    coding: str | None,
    raw: bytes,
) -> None:
    headers = [(SECRET_HEADER, s) for s in secrets]
    if coding is not None:
        headers.append(("Content-Encoding", coding))
    want = expected_status(harness, slug, secrets, content_type, coding, raw)
    request = http_request(raw, path=f"/webhook/{slug}", headers=headers, content_type=content_type)
    sent = send(harness, request)
    assert sent.statuses == [want]
    if want == 200:
        update_id = json.loads(raw)["update_id"]
        assert harness.run(harness.count(update_id, slug)) == 1
    else:
        assert sent.total_after == sent.total_before


@FUZZ
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    SECRET_HEADER,
                    "Content-Type",
                    "Content-Encoding",
                    "Expect",
                    "Connection",
                    "X-Other",
                ]
            ),
            st.binary(max_size=30).map(lambda b: b.decode("latin-1")),
        ),
        max_size=4,
    ),
    slug=st.sampled_from(["open", "guarded"]),
    raw=BODIES,
)
def test_arbitrary_header_bytes(
    harness: ServiceHarness, headers: list[tuple[str, str]], slug: str, raw: bytes
) -> None:
    """Any bytes in any of these headers (CR and LF included): a DESIGN status or the parser's
    400 (or 100/417 around `Expect`), never 5xx; nothing stored unless a 200 came. (Framing
    headers, Content-Length and Transfer-Encoding, are the bad-input table's: a lying one makes
    the server wait for bytes that never come.)"""
    request = http_request(raw, path=f"/webhook/{slug}", headers=headers)
    before = harness.run(harness.count())
    answer = harness.run(harness.raw(request, timeout=5, answers=1))
    after = harness.run(harness.count())
    event(f"answered {answer.statuses}")
    assert set(answer.statuses) <= DESIGN_STATUSES | {100, 417}, answer.data[-300:]
    assert after - before <= answer.statuses.count(200)
    if 200 not in answer.statuses:
        assert after == before
