"""What the webhook accepts and how it sizes its inserts (pure logic; the HTTP answers and the
group commit on PostgreSQL are tested in integration)."""

import pytest

from botgateway.service.ingest import EVEN_OUT_FROM, BadUpdate, next_batch_size, parse_update

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


def test_a_short_queue_or_one_no_longer_than_the_last_batch_goes_in_whole() -> None:
    assert next_batch_size(EVEN_OUT_FROM - 1, 0, 1000) == EVEN_OUT_FROM - 1
    assert next_batch_size(40, 48, 1000) == 40


def test_a_queue_grown_past_the_last_batch_takes_half_the_step() -> None:
    assert next_batch_size(48, 8, 1000) == 28
    assert next_batch_size(5000, 4000, 1000) == 1000


def test_alternating_arrivals_even_out_and_every_update_is_taken_once() -> None:
    """The uneven rhythm seen under load: 8 updates arrive during one insert, 48 during the next."""
    arrivals = [8, 48] * 20
    pending = iter(arrivals)
    waiting, previous, sizes = 0, 0, []
    while (arrived := next(pending, 0)) or waiting:  # then drain what is left
        waiting += arrived
        size = next_batch_size(waiting, previous, 1000)
        assert 1 <= size <= waiting
        waiting, previous = waiting - size, size
        sizes.append(size)
    assert sum(sizes) == sum(arrivals)
    settled = sizes[len(arrivals) - 10 : len(arrivals)]
    assert max(settled) - min(settled) < (48 - 8) / 2, settled
