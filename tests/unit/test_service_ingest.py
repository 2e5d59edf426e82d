"""What the webhook accepts and how it sizes its inserts (pure logic; the HTTP answers and the
group commit on PostgreSQL are tested in integration)."""

import json
from unittest import mock

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from botgateway.service import ingest
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


class _RefusesEverything:
    def decode(self, raw: bytes) -> object:
        raise msgspec.DecodeError("refused, so the standard library reads it")


def _outcome(raw: bytes) -> str:
    """What `parse_update` makes of a body, types included (1 and 1.0 differ)."""
    try:
        update = parse_update(raw)
    except BadUpdate as refusal:
        return f"refused: {refusal}"
    return repr(update)


def _standard_library_outcome(raw: bytes) -> str:
    with mock.patch.object(ingest, "_FAST_DECODER", _RefusesEverything()):
        return _outcome(raw)


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(
    body=st.dictionaries(st.text(), _JSON_VALUES, max_size=4),
    update_id=st.integers() | _JSON_VALUES,
    ascii_only=st.booleans(),
)
def test_bodies_read_as_the_standard_library_reads_them(
    body: dict[str, object], update_id: object, ascii_only: bool
) -> None:
    # msgspec reads the bodies; the standard library's reading is the contract it must keep
    raw = json.dumps({"update_id": update_id, **body}, ensure_ascii=ascii_only).encode(
        "utf-8", "surrogatepass"
    )
    assert _outcome(raw) == _standard_library_outcome(raw)


@given(st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
@example(b'{"update_id": 1, "n": 1e400}')
@example(b'{"update_id": 1, "n": 1e-20000}')
@example(b'{"update_id": 1, "n": 123456789012345678901234567890}')
@example(b'{"update_id": 1, "t": "\\ud800"}')
@example(b'{"update_id": 1, "update_id": 2}')
@example(b'\xef\xbb\xbf{"update_id": 1}')
@example(b'{"update_id": 1} x')
@example(b'{"update_id": -0}')
def test_malformed_bodies_are_refused_for_the_same_reason(raw: bytes) -> None:
    assert _outcome(raw) == _standard_library_outcome(raw)


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
