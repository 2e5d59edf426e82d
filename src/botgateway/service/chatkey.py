"""Which chat an update belongs to, for per-chat ordering. A pure function of the update."""

from collections.abc import Mapping
from typing import Any

_CHAT_UPDATES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "message_reaction",
    "message_reaction_count",
    "chat_boost",
    "removed_chat_boost",
)
"""Updates whose object carries `chat` directly."""

_USER_UPDATES = (
    "inline_query",
    "chosen_inline_result",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
)
"""Updates that come from a user outside any chat: keyed by the user, whose private chat has
the same id, so they line up with that user's messages."""


def chat_key(update: Mapping[str, Any]) -> str | None:
    """The chat id (as text) that orders this update, or None when it belongs to no chat."""
    for kind in _CHAT_UPDATES:
        obj = update.get(kind)
        if isinstance(obj, Mapping):
            return _id_of(obj.get("chat"))
    callback = update.get("callback_query")
    if isinstance(callback, Mapping):
        message = callback.get("message")
        if isinstance(message, Mapping):
            return _id_of(message.get("chat"))
        return _id_of(callback.get("from"))
    for kind in _USER_UPDATES:
        obj = update.get(kind)
        if isinstance(obj, Mapping):
            return _id_of(obj.get("from"))
    answer = update.get("poll_answer")
    if isinstance(answer, Mapping):
        return _id_of(answer.get("voter_chat")) or _id_of(answer.get("user"))
    return None


def _id_of(obj: object) -> str | None:
    if not isinstance(obj, Mapping):
        return None
    value = obj.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
