"""The bot list a claim sends: one array literal, built once per worker."""

from botgateway.queue.store import bot_array


def test_no_bots_means_any_bot() -> None:
    assert bot_array(None) is None


def test_bots_are_sorted_and_quoted() -> None:
    assert bot_array(["support", "alerts"]) == '{"alerts","support"}'


def test_quotes_and_backslashes_are_escaped() -> None:
    assert bot_array(['a"b', "c\\d"]) == '{"a\\"b","c\\\\d"}'


def test_an_empty_list_is_an_empty_array() -> None:
    assert bot_array(frozenset()) == "{}"


def test_a_workers_frozenset_is_encoded_once() -> None:
    bots = frozenset(f"bot-{n}" for n in range(10_000))
    assert bot_array(bots) is bot_array(bots)
