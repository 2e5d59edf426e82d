"""What the webhook accepts (pure parsing; the HTTP answers are tested in integration)."""

import pytest

from botgateway.service.ingest import BadUpdate, parse_update

pytestmark = pytest.mark.unit


def test_valid_update_keeps_the_text_as_received() -> None:
    raw = '{"update_id": 5, "message": {"text": "שלום 👋"}}'.encode()
    update = parse_update(raw)
    assert update.update_id == 5
    assert update.text == raw.decode()
    assert update.body["message"]["text"] == "שלום 👋"


@pytest.mark.parametrize("value", ["0", "-1", str(2**63 - 1), str(-(2**63))])
def test_integer_update_ids_in_bigint_range(value: str) -> None:
    assert parse_update(f'{{"update_id": {value}}}'.encode()).update_id == int(value)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{", "not JSON"),
        (b"\xff", "not UTF-8"),
        (b'{"update_id": Infinity}', "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"{}", "missing"),
        (b'{"update_id": null}', "missing"),
        (b'{"update_id": false}', "not an integer"),
        (b'{"update_id": 1.5}', "not an integer"),
        (b'{"update_id": 1e3}', "not an integer"),
        (b'{"update_id": "1"}', "not an integer"),
        (b'{"update_id": 9223372036854775808}', "out of range"),
        (b'{"update_id": 1, "t": "\\u0000"}', "NUL"),
        (b'{"update_id": 1, "\\u0000": 1}', "NUL"),
        (b'{"update_id": 1, "t": ["\\ud800"]}', "surrogate"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_refused_bodies(raw: bytes, why: str) -> None:
    with pytest.raises(BadUpdate, match=why):
        parse_update(raw)


def test_a_valid_surrogate_pair_is_fine() -> None:
    assert parse_update(b'{"update_id": 1, "t": "\\ud83d\\udc4b"}').body["t"] == "👋"
