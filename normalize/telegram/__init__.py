"""Telegram updates to the common schema, and the keys adapter and normalizer share."""

from normalize.telegram.keys import (
    conversation_key,
    message_external_id,
    message_idempotency_key,
    message_of,
    update_external_id,
)
from normalize.telegram.media import FileRef, file_refs
from normalize.telegram.normalizer import normalize_telegram
from normalize.telegram.text import Command, command_of, plain_text

__all__ = [
    "Command",
    "FileRef",
    "command_of",
    "conversation_key",
    "file_refs",
    "message_external_id",
    "message_idempotency_key",
    "message_of",
    "normalize_telegram",
    "plain_text",
    "update_external_id",
]
