"""The identifiers a Telegram update is stored, deduplicated and threaded under.

Every key carries the bot's id: update ids and per-chat message ids are only
unique per bot, so a second bot (or a new token) must never have its first
messages taken for repeats of the old bot's.
"""

from __future__ import annotations

from typing import Any

MESSAGE_TYPES = ("message", "edited_message")


def update_external_id(bot_id: int, update_id: int) -> str:
    """The stored record's external id: one per update Telegram sends."""
    return f"update:{bot_id}:{update_id}"


def message_idempotency_key(bot_id: int, chat_id: int, message_id: int, edit_date: int | None) -> str:
    """One per message version, so a message re-sent under another update id is still one message."""
    return f"telegram:msg:{bot_id}:{chat_id}:{message_id}:{edit_date or 0}"


def message_external_id(bot_id: int, chat_id: int, message_id: int) -> str:
    """A stored message's external id; edits and replies point at it with a `message_id` hint.

    The bot's own replies are recorded under the same form, so a user's reply
    to the bot's acknowledgement threads to that ticket.
    """
    return f"telegram:{bot_id}:{chat_id}:{message_id}"


def edit_external_id(bot_id: int, chat_id: int, message_id: int, edit_date: int) -> str:
    return f"{message_external_id(bot_id, chat_id, message_id)}:edit:{edit_date}"


def conversation_key(bot_id: int, chat_id: int) -> str:
    """Messages of one chat join the chat's open ticket under this key."""
    return f"telegram:{bot_id}:{chat_id}"


def message_of(update: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """("message" | "edited_message", the message) when the update carries one we handle."""
    for key in MESSAGE_TYPES:
        message = update.get(key)
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return key, message
    return None


def update_type(update: dict[str, Any]) -> str:
    """The update's payload field (message, callback_query, my_chat_member...)."""
    return next((k for k in update if k != "update_id"), "empty")
