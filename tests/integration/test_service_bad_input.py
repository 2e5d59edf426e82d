"""Bad input gets a clear answer and loses nothing: a table of malformed requests, sent as raw
bytes to a real listening service on a real PostgreSQL.

Every row states its answer (DESIGN §3, or our choice where it is silent, said in `why`). For
every row: the statuses match, none is 5xx, a 4xx stores nothing (the row count is unchanged),
a 200 stores exactly its update, nothing of ours logs an error, and the service still takes a
valid update afterwards.

The service checks in the order docs/reference/http.md gives: slug, secret, content type (and
coding), size, body.
Malformed HTTP (framing, header and line limits) never reaches it: aiohttp's parser answers 400
and closes the connection, which the rows marked `parser` show.
"""

import gzip
import itertools
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from aiohttp.http_exceptions import HttpProcessingError

from tests.support.harness import (
    LIMIT,
    SECRET,
    RawAnswer,
    ServiceHarness,
    chunked,
    http_request,
    shared_service,
)
from tests.support.postgres import TestPostgres

pytestmark = pytest.mark.integration

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_ids = itertools.count(1)


def uid() -> int:
    return next(_ids)


def body(update_id: int | None = None, **fields: object) -> bytes:
    return json.dumps({"update_id": uid() if update_id is None else update_id, **fields}).encode()


def sized(size: int) -> bytes:
    """A valid update of exactly `size` bytes."""
    head = b'{"update_id": %d, "pad": "' % uid()
    return head + b"a" * (size - len(head) - 2) + b'"}'


def te_chunked(payload: bytes, **kwargs: object) -> bytes:
    return http_request(
        chunked(payload),
        content_length=None,
        headers=[("Transfer-Encoding", "chunked")],
        **kwargs,  # type: ignore[arg-type]
    )


def guarded(payload: bytes, *secrets: str, **kwargs: object) -> bytes:
    extra = [(SECRET_HEADER, s) for s in secrets]
    headers = [*extra, *kwargs.pop("headers", [])]  # type: ignore[misc]
    return http_request(payload, path="/webhook/guarded", headers=headers, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    id: str
    request: bytes
    statuses: list[int]
    """Every status line the connection carries; [] means closed without an answer."""
    why: str = ""
    half_close: bool = False
    after_continue: bytes | None = None
    """Sent once the handler asked for the body (`Expect: 100-continue`): so these bytes meet
    the handler's body read, not the request parser."""
    keeps_open: bool = False
    """The server rightly keeps the connection: read one answer and stop."""
    parser: bool = False
    """aiohttp's HTTP parser answers (malformed HTTP); the app never sees the request."""
    stored: list[int] = field(default_factory=list)
    """update_ids a 200 stores."""


def ok(case_id: str, update_id: int, request: bytes, why: str = "", **kw: object) -> Case:
    return Case(case_id, request, [200], why, stored=[update_id], **kw)  # type: ignore[arg-type]


def _ok_body(case_id: str, why: str, template: bytes) -> Case:
    update_id = uid()
    return ok(case_id, update_id, http_request(template % update_id), why)


def _cases() -> Iterator[Case]:
    # -- bodies --------------------------------------------------------------------------
    for case_id, raw in [
        ("empty", b""),
        ("not-json", b"{not json"),
        ("json-array", b"[1, 2]"),
        ("json-string", b'"update"'),
        ("json-number", b"42"),
        ("json-null", b"null"),
        ("json-true", b"true"),
        ("update-id-missing", b'{"message": {}}'),
        ("update-id-string", b'{"update_id": "5"}'),
        ("update-id-float", b'{"update_id": 5.0}'),
        ("update-id-exponent", b'{"update_id": 1e2}'),
        ("update-id-bool", b'{"update_id": true}'),
        ("update-id-null", b'{"update_id": null}'),
        ("update-id-object", b'{"update_id": {"id": 1}}'),
        ("update-id-over-bigint", b'{"update_id": 9223372036854775808}'),
        ("update-id-under-bigint", b'{"update_id": -9223372036854775809}'),
        ("update-id-5000-digits", b'{"update_id": ' + b"7" * 5000 + b"}"),
        ("update-id-nan", b'{"update_id": NaN}'),
        ("update-id-infinity", b'{"update_id": Infinity}'),
        ("nan-elsewhere", b'{"update_id": 1, "x": -Infinity}'),
        ("nested-5000-deep", b'{"update_id": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
        ("invalid-utf8", b'{"update_id": 1, "x": "\xff"}'),
        ("overlong-utf8", b'{"update_id": 1, "x": "\xc0\xaf"}'),
        ("utf8-encoded-surrogate", b'{"update_id": 1, "x": "\xed\xa0\x80"}'),
        ("utf16-le-with-bom", '{"update_id": 1}'.encode("utf-16")),
        ("utf16-be-without-bom", '{"update_id": 1}'.encode("utf-16-be")),
        ("utf8-with-bom", b'\xef\xbb\xbf{"update_id": 1}'),
        ("raw-nul-in-string", b'{"update_id": 1, "x": "a\x00b"}'),
        ("raw-control-in-string", b'{"update_id": 1, "x": "a\x01b"}'),
        ("escaped-nul", b'{"update_id": 1, "x": "a\\u0000b"}'),
        ("escaped-nul-in-key", b'{"update_id": 1, "a\\u0000": 1}'),
        ("lone-high-surrogate", b'{"update_id": 1, "x": "\\ud800"}'),
        ("lone-low-surrogate", b'{"update_id": 1, "x": ["\\udfff"]}'),
        ("duplicate-key-last-not-integer", b'{"update_id": 1, "update_id": "x"}'),
        ("trailing-garbage", b'{"update_id": 1} trailing'),
        ("two-json-values", b'{"update_id": 1}{"update_id": 2}'),
        ("truncated", b'{"update_id": 1, "message": {'),
        ("number-over-numeric-range", b'{"update_id": 1, "x": 1e131072}'),
        ("number-over-numeric-scale", b'{"update_id": 1, "x": 1e-16384}'),
        ("huge-exponent", b'{"update_id": 1, "x": 1e999999999999}'),
    ]:
        yield Case(case_id, http_request(raw), [400], "DESIGN §3: not an update we can store")
    negative = -uid()
    yield ok(
        "update-id-negative",
        negative,
        http_request(b'{"update_id": %d}' % negative),
        "our choice: an integer in bigint range is an update_id; DESIGN asks no more",
    )
    yield _ok_body(
        "nested-500-deep",
        "deep but within the parser's reach",
        b'{"update_id": %d, "x": ' + b"[" * 500 + b"]" * 500 + b"}",
    )
    yield _ok_body(
        "escaped-surrogate-pair",
        "a valid pair is one character",
        b'{"update_id": %d, "x": "\\ud83d\\ude00"}',
    )
    yield _ok_body(
        "escaped-backslash-u",
        "a backslash and 'u0000' is plain text",
        b'{"update_id": %d, "x": "\\\\u0000"}',
    )
    yield _ok_body("trailing-whitespace", "JSON allows it", b'{"update_id": %d}\r\n \t')
    yield _ok_body(
        "number-at-numeric-edge",
        "fits PostgreSQL numeric",
        b'{"update_id": %d, "x": 9.9e131071, "y": 1e-16383}',
    )
    yield _ok_body(
        "integer-4000-digits",
        "fits numeric and Python's int",
        b'{"update_id": %d, "x": ' + b"9" * 4000 + b"}",
    )
    last = uid()
    yield ok(
        "duplicate-key-last-wins",
        last,
        http_request(b'{"update_id": "x", "update_id": %d}' % last),
        "the last value wins, as in Python and jsonb, so column and payload agree",
    )

    # -- the secret (bot "guarded") ------------------------------------------------------------
    for case_id, secrets in [
        ("secret-missing", ()),
        ("secret-wrong", ("s3cret-tokeN",)),
        ("secret-empty", ("",)),
        ("secret-prefix", (SECRET[:-1],)),
        ("secret-longer", (SECRET + "x",)),
        ("secret-8000-bytes", ("x" * 8000,)),
        ("secret-non-ascii", ("s3cret-tok\u00e9n",)),
        ("secret-raw-high-bytes", ("\udcff\udcfe\udc80",)),
        ("two-secrets-right-then-wrong", (SECRET, "wrong")),
        ("two-secrets-wrong-then-right", ("wrong", SECRET)),
        ("two-secrets-both-right", (SECRET, SECRET)),
    ]:
        yield Case(
            case_id,
            guarded(body(), *secrets),
            [401],
            "exactly one secret header, equal to the secret" if len(secrets) > 1 else "DESIGN §3",
        )
    yield Case(
        "secret-header-over-8190-bytes",
        guarded(body(), "x" * 9000),
        [400],
        "a header line over aiohttp's 8190-byte limit is malformed HTTP",
        parser=True,
    )
    update_id = uid()
    yield ok("secret-right", update_id, guarded(body(update_id), SECRET))
    update_id = uid()
    yield ok(
        "secret-with-surrounding-spaces",
        update_id,
        guarded(body(update_id), f"  {SECRET}\t"),
        "whitespace around a header value is not part of it (RFC 9110 §5.5)",
    )
    update_id = uid()
    yield ok(
        "secret-header-name-lowercase",
        update_id,
        http_request(
            body(update_id), path="/webhook/guarded", headers=[(SECRET_HEADER.lower(), SECRET)]
        ),
        "header names are case-insensitive",
    )
    update_id = uid()
    yield ok(
        "secret-sent-to-bot-without-one",
        update_id,
        http_request(body(update_id), headers=[(SECRET_HEADER, "anything")]),
        "a bot without a secret ignores the header",
    )

    # -- Content-Type and Content-Encoding -----------------------------------------------------
    for case_id, content_type in [
        ("content-type-missing", None),
        ("content-type-empty", ""),
        ("content-type-text-plain", "text/plain"),
        ("content-type-form", "application/x-www-form-urlencoded"),
        ("content-type-text-json", "text/json"),
        ("content-type-json-suffix", "application/vnd.api+json"),
        ("content-type-jsonx", "application/jsonx"),
        ("charset-latin-1", "application/json; charset=latin-1"),
        ("charset-utf-16", "application/json; charset=utf-16"),
    ]:
        yield Case(case_id, http_request(body(), content_type=content_type), [415], "DESIGN §3")
    for case_id, content_type in [
        ("charset-utf-8", "application/json; charset=utf-8"),
        ("charset-quoted-upper", 'application/json; charset="UTF-8"'),
        ("content-type-upper-case", "APPLICATION/JSON"),
        ("content-type-odd-params", "application/json;;; foo; bar=baz"),
        ("charset-empty", "application/json; charset="),
    ]:
        update_id = uid()
        yield ok(
            case_id,
            update_id,
            http_request(body(update_id), content_type=content_type),
            "media types are case-insensitive; unknown params are ignored",
        )
    yield Case(
        "content-type-twice",
        http_request(body(), headers=[("Content-Type", "text/plain")]),
        [400],
        "aiohttp refuses a repeated singleton header",
        parser=True,
    )
    yield Case(
        "content-type-control-bytes",
        http_request(body(), content_type="\x01\x02"),
        [400],
        "invalid header value characters",
        parser=True,
    )
    for case_id, coding, payload in [
        ("gzip", "gzip", gzip.compress(body())),
        ("deflate", "deflate", b"x\x9c"),
        ("br", "br", body()),
        ("unknown-coding", "xyz", body()),
        ("gzip-bomb", "gzip", gzip.compress(b" " * 20_000_000)),
    ]:
        yield Case(
            f"content-encoding-{case_id}",
            http_request(payload, headers=[("Content-Encoding", coding)]),
            [415],
            "our choice: bodies are taken as sent (Telegram never compresses); RFC 9110 §15.5.16",
        )
    yield Case(
        "transfer-encoding-gzip-chunked",
        te_chunked(gzip.compress(body())).replace(b"chunked", b"gzip, chunked", 1),
        [415],
        "our choice, as for Content-Encoding: chunked is the only transfer coding taken",
    )
    update_id = uid()
    yield ok(
        "content-encoding-identity",
        update_id,
        http_request(body(update_id), headers=[("Content-Encoding", "identity")]),
    )

    # -- framing -----------------------------------------------------------------------------
    update_id = uid()
    yield ok(
        "chunked",
        update_id,
        te_chunked(body(update_id)),
        "Transfer-Encoding: chunked is ordinary HTTP/1.1",
    )
    update_id = uid()
    yield Case(
        "expect-100-continue",
        http_request(body(update_id), headers=[("Expect", "100-continue")]),
        [100, 200],
        "the interim 100 precedes the answer",
        stored=[update_id],
    )
    yield Case(
        "expect-unknown",
        http_request(body(), headers=[("Expect", "something")]),
        [417],
        "aiohttp answers an expectation it cannot meet",
    )
    yield Case(
        "content-length-short-connection-close",
        http_request(b'{"update_id": 1, "x": 2}', content_length=10),
        [400],
        "bytes after a `Connection: close` request are malformed HTTP",
        parser=True,
    )
    yield Case(
        "content-length-short-keep-alive",
        http_request(b'{"update_id": 1, "x": 2}\r\n\r\n', content_length=10, close=False),
        [400],
        "the bytes after the 10-byte body are a malformed next request; aiohttp answers the batch",
        parser=True,
    )
    yield Case(
        "content-length-short-valid-prefix",
        http_request(b'{"update_id": 1}garbage\r\n\r\n', content_length=16, close=False),
        [400],
        "as above: the valid prefix arrived with the malformed rest, so nothing is stored",
        parser=True,
    )
    yield Case(
        "content-length-long-then-eof",
        http_request(body(), content_length=1000),
        [],
        "the client ends before its body does: no whole request to answer, nothing stored",
        half_close=True,
    )
    yield Case(
        "chunked-truncated-then-eof",
        http_request(
            chunked(body())[:-5], content_length=None, headers=[("Transfer-Encoding", "chunked")]
        ),
        [],
        "as above, for a chunked body",
        half_close=True,
    )
    expect = [("Expect", "100-continue")]
    yield Case(
        "chunked-broken-mid-body",
        http_request(b"", content_length=None, headers=[("Transfer-Encoding", "chunked"), *expect]),
        [100],
        "aiohttp's C parser drops the body stream without failing it, so the handler waits"
        " until the client leaves (here at once); nothing stored, no traceback",
        after_continue=b'5\r\n{"upd\r\nzz\r\n',
        half_close=True,
    )
    yield Case(
        "body-stalls-mid-body",
        http_request(b"", content_length=1000, headers=expect),
        [100, 408],
        "a client that stops sending mid-body is answered after BOTGATEWAY_BODY_TIMEOUT,"
        " and the connection is closed with the answer",
        after_continue=b'{"update_id": 1, "x": "',
    )
    yield Case(
        "content-length-long-then-eof-mid-body",
        http_request(b"", content_length=1000, headers=expect),
        [100],
        "the client ends while the handler reads: nobody to answer, nothing stored, no traceback",
        after_continue=b'{"update_id": 1, "x": "',
        half_close=True,
    )
    for case_id, request in [
        ("content-length-negative", http_request(body(), content_length=-1)),
        ("content-length-not-a-number", http_request(body(), content_length="zz")),
        ("content-length-overflow", http_request(body(), content_length=10**30)),
        ("content-length-twice", http_request(body(), headers=[("Content-Length", "3")])),
        (
            "chunked-and-content-length",
            http_request(
                chunked(body()), content_length=5, headers=[("Transfer-Encoding", "chunked")]
            ),
        ),
        (
            "chunked-bad-chunk-size",
            http_request(
                b"zz\r\n" + body() + b"\r\n0\r\n\r\n",
                content_length=None,
                headers=[("Transfer-Encoding", "chunked")],
            ),
        ),
        (
            "transfer-encoding-unknown",
            http_request(body(), content_length=None, headers=[("Transfer-Encoding", "xyz")]),
        ),
        ("nul-in-header", http_request(body(), headers=[("X-Anything", "a\x00b")])),
        ("garbage-request-line", b"\x00\x01\x02 garbage\r\n\r\n"),
        (
            "header-without-colon",
            http_request(body(), headers=[("No-Colon-Here\r\nX", "y")]).replace(
                b"No-Colon-Here\r\nX: y", b"No-Colon-Here"
            ),
        ),
    ]:
        yield Case(
            case_id, request, [400], "malformed HTTP, answered by aiohttp's parser", parser=True
        )

    # -- methods -----------------------------------------------------------------------------
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
        yield Case(
            f"method-{method.lower()}",
            http_request(body() if method in ("PUT", "PATCH", "FOO") else b"", method=method),
            [405],
            "our choice (DESIGN is silent): 405 with `Allow: POST`",
        )

    yield Case(
        "method-unknown",
        http_request(body(), method="FOO"),
        [400],
        "llhttp knows the registered methods only",
        parser=True,
    )

    # -- paths -------------------------------------------------------------------------------
    for case_id, path in [
        ("slug-unknown", "/webhook/nobody"),
        ("slug-upper-case", "/webhook/OPEN"),
        ("slug-bad-characters", "/webhook/op_en$"),
        ("slug-encoded-space", "/webhook/op%20en"),
        ("slug-encoded-slash", "/webhook/op%2Fen"),
        ("slug-encoded-dots", "/webhook/%2E%2E"),
        ("slug-64-characters", "/webhook/" + "a" * 64),
        ("path-7000-bytes", "/webhook/" + "a" * 7000),
        ("trailing-slash", "/webhook/open/"),
        ("path-below-slug", "/webhook/open/extra"),
        ("webhook-slash-alone", "/webhook/"),
        ("webhook-alone", "/webhook"),
        ("dot-segments", "/webhook/../webhook/open"),
        ("root", "/"),
    ]:
        yield Case(
            case_id,
            http_request(body(), path=path),
            [404],
            "DESIGN §3: no such bot (or no such route)",
        )
    yield Case(
        "path-9000-bytes",
        http_request(body(), path="/webhook/" + "a" * 9000),
        [400],
        "a request line over aiohttp's 8190-byte limit is malformed HTTP",
        parser=True,
    )
    for case_id, path, why in [
        (
            "slug-percent-encoded",
            "/webhook/%6F%70%65%6E",
            "percent-encoded letters are the same path (RFC 3986 §6.2.2.2)",
        ),
        ("query-string", "/webhook/open?x=1&secret=no", "the query is ignored"),
        (
            "absolute-form",
            "http://gateway.test/webhook/open",
            "absolute-form request target (RFC 9112 §3.2.2)",
        ),
    ]:
        update_id = uid()
        yield ok(case_id, update_id, http_request(body(update_id), path=path), why)

    # -- order of the checks (slug, secret, content type, size, body) ---------------------------
    huge_not_json = b"x" * (LIMIT + 1)
    yield Case(
        "order-unknown-slug-before-everything",
        http_request(huge_not_json, path="/webhook/nobody", content_type="text/plain"),
        [404],
    )
    yield Case(
        "order-secret-before-content-type",
        guarded(huge_not_json, "wrong", content_type="text/plain"),
        [401],
    )
    yield Case("order-secret-before-size", guarded(huge_not_json, "wrong"), [401])
    yield Case(
        "order-content-type-before-size",
        http_request(huge_not_json, content_type="text/plain"),
        [415],
    )
    yield Case("order-size-before-body", http_request(huge_not_json), [413])

    # -- sizes (the shared service's limit is LIMIT bytes) ---------------------------------------
    exact = sized(LIMIT)
    exact_id = json.loads(exact)["update_id"]
    yield ok("size-exactly-the-limit", exact_id, http_request(exact), "the limit is inclusive")
    exact = sized(LIMIT)
    yield ok("size-exactly-the-limit-chunked", json.loads(exact)["update_id"], te_chunked(exact))
    yield Case("size-one-over", http_request(sized(LIMIT + 1)), [413], "DESIGN §3")
    yield Case(
        "size-one-over-chunked", te_chunked(sized(LIMIT + 1)), [413], "counted while reading"
    )
    yield Case(
        "size-far-over",
        http_request(sized(2 * 1024 * 1024)),
        [413],
        "refused on Content-Length, before reading",
    )
    yield Case(
        "size-far-over-chunked",
        te_chunked(sized(2 * 1024 * 1024)),
        [413],
        "refused once the limit is passed",
    )
    yield Case(
        "size-content-length-over-empty-body",
        http_request(b"", content_length=LIMIT + 1),
        [413],
        "the declared length alone is refused (the server then waits for the body it drains)",
        keeps_open=True,
    )


CASES = list(_cases())
BODY_TIMEOUT = timedelta(seconds=1)
"""Short, so the stalled-body rows answer quickly."""


@pytest.fixture(scope="module")
def harness(postgres: TestPostgres) -> Iterator[ServiceHarness]:
    with shared_service(postgres, body_timeout=BODY_TIMEOUT) as h:
        yield h


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(harness: ServiceHarness, case: Case, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    before = harness.run(harness.count())
    answer: RawAnswer = harness.run(
        harness.raw(
            case.request,
            half_close=case.half_close,
            answers=1 if case.keeps_open else None,
            after_continue=case.after_continue,
        )
    )

    assert answer.closed or case.keeps_open, f"the connection stayed open: {answer.data[:300]!r}"
    assert answer.statuses == case.statuses, answer.data[-400:]
    assert not [s for s in answer.statuses if s >= 500]
    after = harness.run(harness.count())
    assert after - before == len(case.stored), "a 4xx stored something, or a 200 did not"
    for update_id in case.stored:
        assert harness.run(harness.count(update_id)) == 1
    if 405 in case.statuses:
        assert b"\r\nAllow: POST\r\n" in answer.data

    ours = [
        r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("botgateway")
    ]
    assert not ours, [r.getMessage() for r in ours]
    # aiohttp logs malformed HTTP at ERROR with its parser exception; anything else is a crash
    crashes = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR
        and r.name.startswith("aiohttp")
        and not (r.exc_info and isinstance(r.exc_info[1], HttpProcessingError))
    ]
    assert not crashes, [(r.getMessage(), r.exc_info) for r in crashes]

    assert harness.run(harness.accepts_a_valid_update(10**12 + uid()))


def test_a_stalled_body_gets_its_408_and_the_connection_closes_at_once(
    harness: ServiceHarness,
) -> None:
    """Headers and half a body, then silence: the 408 comes after BOTGATEWAY_BODY_TIMEOUT and
    the server closes the socket with it, rather than lingering for the rest of the body
    (aiohttp's default would keep it open another 10 s)."""
    half_a_body = b'{"update_id": 1, "x": "'
    request = http_request(half_a_body, content_length=1000, close=False)
    started = time.monotonic()
    answer = harness.run(harness.raw(request, timeout=BODY_TIMEOUT.total_seconds() + 5))
    took = time.monotonic() - started

    assert answer.statuses == [408], answer.data[-400:]
    assert answer.closed, "the server kept the connection open after its 408"
    assert b"\r\nConnection: close\r\n" in answer.data
    assert took < BODY_TIMEOUT.total_seconds() + 2, f"closed after {took:.1f}s"
