"""Real-shaped Telegram updates, written from the Bot API documentation (Update, Message,
CallbackQuery, InlineQuery, ChatMemberUpdated, PhotoSize, Document objects)."""

from typing import Any

USER = {
    "id": 123456789,
    "is_bot": False,
    "first_name": "Ada",
    "username": "ada",
    "language_code": "en",
}
PRIVATE = {"id": 123456789, "first_name": "Ada", "username": "ada", "type": "private"}
SUPERGROUP = {
    "id": -1001234567890,
    "title": "Gateway fans",
    "type": "supergroup",
    "is_forum": False,
}
CHANNEL = {"id": -1009876543210, "title": "Gateway news", "username": "gwnews", "type": "channel"}
BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "Gateway", "username": "gw_bot"}

UPDATES: dict[str, dict[str, Any]] = {
    "text_message": {
        "update_id": 900000001,
        "message": {
            "message_id": 17,
            "from": USER,
            "chat": PRIVATE,
            "date": 1717171717,
            "text": "/start hello",
            "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
        },
    },
    "edited_message": {
        "update_id": 900000002,
        "edited_message": {
            "message_id": 17,
            "from": USER,
            "chat": PRIVATE,
            "date": 1717171717,
            "edit_date": 1717171800,
            "text": "hello, edited",
        },
    },
    "channel_post": {
        "update_id": 900000003,
        "channel_post": {
            "message_id": 301,
            "sender_chat": CHANNEL,
            "chat": CHANNEL,
            "date": 1717171900,
            "text": "Release 0.1 is out",
            "author_signature": "Ada",
        },
    },
    "callback_query": {
        "update_id": 900000004,
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "from": USER,
            "message": {
                "message_id": 18,
                "from": BOT_USER,
                "chat": PRIVATE,
                "date": 1717172000,
                "text": "Pick one",
                "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "pick:a"}]]},
            },
            "chat_instance": "-8473625109283746501",
            "data": "pick:a",
        },
    },
    "inline_query": {
        "update_id": 900000005,
        "inline_query": {
            "id": "2498763409871234",
            "from": USER,
            "query": "cats",
            "offset": "",
            "chat_type": "sender",
        },
    },
    "chat_member": {
        "update_id": 900000006,
        "chat_member": {
            "chat": SUPERGROUP,
            "from": USER,
            "date": 1717172100,
            "old_chat_member": {"user": BOT_USER, "status": "member"},
            "new_chat_member": {
                "user": BOT_USER,
                "status": "administrator",
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": False,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": False,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            },
        },
    },
    "my_chat_member": {
        "update_id": 900000007,
        "my_chat_member": {
            "chat": PRIVATE,
            "from": USER,
            "date": 1717172200,
            "old_chat_member": {"user": BOT_USER, "status": "member"},
            "new_chat_member": {"user": BOT_USER, "status": "kicked", "until_date": 0},
        },
    },
    "photo": {
        "update_id": 900000008,
        "message": {
            "message_id": 19,
            "from": USER,
            "chat": PRIVATE,
            "date": 1717172300,
            "photo": [
                {
                    "file_id": "AgACAgIAAxkBAAIBQ2Zm-small",
                    "file_unique_id": "AQADsmall",
                    "file_size": 1234,
                    "width": 90,
                    "height": 67,
                },
                {
                    "file_id": "AgACAgIAAxkBAAIBQ2Zm-large",
                    "file_unique_id": "AQADlarge",
                    "file_size": 98765,
                    "width": 1280,
                    "height": 960,
                },
            ],
            "caption": "the view",
        },
    },
    "document": {
        "update_id": 900000009,
        "message": {
            "message_id": 20,
            "from": USER,
            "chat": PRIVATE,
            "date": 1717172400,
            "document": {
                "file_name": "report Q2.pdf",
                "mime_type": "application/pdf",
                "file_id": "BQACAgIAAxkBAAIBRGZm",
                "file_unique_id": "AgADdoc",
                "file_size": 524288,
            },
        },
    },
    "supergroup_message": {
        "update_id": 900000010,
        "message": {
            "message_id": 4411,
            "from": USER,
            "chat": SUPERGROUP,
            "date": 1717172500,
            "message_thread_id": 4400,
            "text": "hello group",
        },
    },
    "emoji_and_rtl": {
        "update_id": 900000011,
        "message": {
            "message_id": 21,
            "from": {**USER, "first_name": "\u05e2\u05d3\u05d4", "language_code": "he"},
            "chat": PRIVATE,
            "date": 1717172600,
            "text": "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd \U0001f44b\U0001f3fd "
            "\u0645\u0631\u062d\u0628\u0627 \U0001f1ee\U0001f1f1 \U0001f468\u200d\U0001f469"
            "\u200d\U0001f467",
            "entities": [{"offset": 10, "length": 4, "type": "bold"}],
        },
    },
}

CHAT_OF: dict[str, str | None] = {
    "text_message": "123456789",
    "edited_message": "123456789",
    "channel_post": "-1009876543210",
    "callback_query": "123456789",
    "inline_query": "123456789",
    "chat_member": "-1001234567890",
    "my_chat_member": "123456789",
    "photo": "123456789",
    "document": "123456789",
    "supergroup_message": "-1001234567890",
    "emoji_and_rtl": "123456789",
}
