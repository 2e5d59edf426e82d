import pytest

from botgateway.service.chatkey import chat_key
from tests.support.updates import CHAT_OF, UPDATES

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("kind", sorted(UPDATES))
def test_chat_of_each_real_shaped_update(kind: str) -> None:
    assert chat_key(UPDATES[kind]) == CHAT_OF[kind]


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({"update_id": 1, "edited_channel_post": {"chat": {"id": -100}}}, "-100"),
        ({"update_id": 1, "chat_join_request": {"chat": {"id": -5}, "from": {"id": 9}}}, "-5"),
        ({"update_id": 1, "message_reaction": {"chat": {"id": 3}}}, "3"),
        ({"update_id": 1, "business_message": {"chat": {"id": 4}}}, "4"),
        ({"update_id": 1, "callback_query": {"id": "x", "from": {"id": 8}}}, "8"),
        ({"update_id": 1, "chosen_inline_result": {"from": {"id": 6}}}, "6"),
        ({"update_id": 1, "pre_checkout_query": {"from": {"id": 7}}}, "7"),
        ({"update_id": 1, "poll_answer": {"user": {"id": 11}}}, "11"),
        ({"update_id": 1, "poll_answer": {"voter_chat": {"id": -12}}}, "-12"),
        ({"update_id": 1, "poll": {"id": "p"}}, None),
        ({"update_id": 1}, None),
        ({"update_id": 1, "message": {"chat": {"id": "7"}}}, None),
        ({"update_id": 1, "message": {"chat": {"id": True}}}, None),
        ({"update_id": 1, "message": "oops"}, None),
    ],
)
def test_chat_of_other_updates(update: dict[str, object], expected: str | None) -> None:
    assert chat_key(update) == expected
