"""The webhook secret is compared in constant time, whatever the header holds.

A spy stands in for `hmac.compare_digest` (delegating to the real one), so these tests fail if
the comparison is replaced by `==`, or short-circuited on length before the constant-time call
(which would leak the secret's length through timing). The handler itself is driven with a
mocked request: the secret is checked before the body is read, so no I/O happens.
"""

import hmac
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from botgateway.contract import DiscardConfig
from botgateway.queue import QueueSettings
from botgateway.service import app as app_module
from botgateway.service.app import SECRET_HEADER, _secret_matches, create_app, webhook
from botgateway.service.bots import BotConfig
from botgateway.service.settings import ServiceSettings

pytestmark = pytest.mark.unit

SECRET = "s3cret-Token_1"
REAL_COMPARE_DIGEST = hmac.compare_digest


@dataclass
class Spy:
    calls: list[tuple[bytes, bytes]] = field(default_factory=list)

    def __call__(self, a: bytes, b: bytes) -> bool:
        assert isinstance(a, bytes)
        assert isinstance(b, bytes), "compare bytes: str compare_digest refuses non-ASCII"
        self.calls.append((a, b))
        return REAL_COMPARE_DIGEST(a, b)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    found = Spy()
    monkeypatch.setattr(app_module.hmac, "compare_digest", found)
    return found


@pytest.mark.parametrize(
    ("given", "matches"),
    [
        pytest.param(SECRET, True, id="equal"),
        pytest.param(SECRET[:-1] + "2", False, id="same-length-last-byte-differs"),
        pytest.param("x" + SECRET[1:], False, id="same-length-first-byte-differs"),
        pytest.param(SECRET[:-1], False, id="shorter-prefix"),
        pytest.param(SECRET + "x", False, id="longer"),
        pytest.param("", False, id="empty"),
        pytest.param("x" * 5000, False, id="much-longer"),
        pytest.param("s3cret-Tok\u00e9n_1", False, id="non-ascii"),
        pytest.param("\udcff\udcfe" + SECRET, False, id="raw-bytes-as-surrogate-escapes"),
        pytest.param("😀" * 4, False, id="emoji"),
    ],
)
def test_every_comparison_goes_through_compare_digest(spy: Spy, given: str, matches: bool) -> None:
    assert _secret_matches(SECRET, [given]) is matches
    assert len(spy.calls) == 1, "the secret was judged without the constant-time compare"
    expected, received = spy.calls[0]
    assert expected == SECRET.encode()
    # what was compared is exactly the bytes on the wire (aiohttp decodes header values as
    # UTF-8 with surrogateescape), not a lossy re-encoding that could make two values equal
    assert received == given.encode("utf-8", "surrogateescape")


def test_wire_bytes_of_a_non_ascii_secret_match_and_others_do_not(spy: Spy) -> None:
    configured = "s\u00e9cret"
    as_utf8 = b"s\xc3\xa9cret".decode("utf-8", "surrogateescape")
    as_latin1 = b"s\xe9cret".decode("utf-8", "surrogateescape")
    assert _secret_matches(configured, [as_utf8])
    assert not _secret_matches(configured, [as_latin1])
    assert len(spy.calls) == 2


@pytest.mark.parametrize(
    "given",
    [pytest.param([], id="missing"), pytest.param([SECRET, SECRET], id="sent-twice")],
)
def test_anything_but_exactly_one_header_is_refused(spy: Spy, given: list[str]) -> None:
    assert not _secret_matches(SECRET, given)


def _app() -> web.Application:
    guarded = BotConfig(slug="guarded", token="1:x", webhook_secret=SECRET, handler=DiscardConfig())
    settings = ServiceSettings(
        queue=QueueSettings(database_url="postgresql://unused/none"), bots=(guarded,)
    )
    return create_app(settings)


async def _status(headers: list[tuple[str, str]]) -> int:
    request = make_mocked_request(
        "POST",
        "/webhook/guarded",
        headers=CIMultiDict([("Content-Type", "text/plain"), *headers]),
        match_info={"slug": "guarded"},
        app=_app(),
    )
    response = await webhook(request)
    return response.status


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("wrong", id="shorter"),
        pytest.param(SECRET + "-and-more", id="longer"),
        pytest.param(SECRET[:-1] + "X", id="same-length"),
        pytest.param("s3cret-Tok\u00e9n_1", id="non-ascii"),
        pytest.param("😀" * 20, id="emoji"),
    ],
)
async def test_the_handler_answers_401_through_compare_digest(spy: Spy, value: str) -> None:
    assert await _status([(SECRET_HEADER, value)]) == 401
    assert len(spy.calls) == 1


async def test_the_right_secret_passes_to_the_next_check(spy: Spy) -> None:
    # text/plain: past the secret, the content-type check answers, before any body or database
    assert await _status([(SECRET_HEADER, SECRET)]) == 415
    assert len(spy.calls) == 1
