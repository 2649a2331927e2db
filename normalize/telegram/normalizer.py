"""A stored Telegram update to a message draft.

The payload is the update's JSON as Telegram sent it; what the adapter learnt
beside it (the bot's id, the fetched files' digests, a pending `/new`) is in
the record's `meta`, so replaying a record gives the same draft. Updates that
carry no message (callback queries, membership changes...) yield nothing
usable: they stay stored as failed records with the reason, visible in
`GET /v1/inbound?status=failed`, and are never retried by Telegram.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from normalize.errors import NormalizeError
from normalize.phone import to_e164
from normalize.raw import RawInbound
from normalize.schema import Attachment, Channel, Kind, MessageDraft, Requester, ThreadHint, Transport
from normalize.telegram.keys import (
    conversation_key,
    edit_external_id,
    message_external_id,
    message_of,
    update_type,
)
from normalize.telegram.media import FileRef, file_refs
from normalize.telegram.text import command_of, plain_text

SUBJECT_CHARS = 80
NOT_FETCHED = "not fetched from Telegram"


def normalize_telegram(raw: RawInbound) -> MessageDraft:
    update = _load(raw.payload)
    found = message_of(update)
    if found is None:
        raise NormalizeError(f"a Telegram {update_type(update)} update carries no message for a ticket")
    field, message = found
    bot_id = raw.meta.get("bot_id")
    if not isinstance(bot_id, int):
        raise NormalizeError("the record does not say which bot received it (meta.bot_id)")
    chat_id = int(message["chat"]["id"])
    message_id = int(message.get("message_id", 0))
    edited = field == "edited_message"
    sender = message.get("from")
    user: dict[str, Any] = sender if isinstance(sender, dict) else {}

    text = plain_text(str(message.get("text") or message.get("caption") or ""),
                      message.get("entities") or message.get("caption_entities"))
    force_new = bool(raw.meta.get("force_new"))
    command = command_of(message.get("text"), message.get("entities"))
    if command is not None and command.name == "new" and not edited:
        text, force_new = command.rest, True
    phone = own_contact_phone(message)
    extra_lines = _content_lines(message)
    attachments, defects = _attachments(message, raw.meta.get("files"))
    body = "\n".join(part for part in [text.strip(), *extra_lines] if part)
    if not body and not attachments:
        raise NormalizeError("the Telegram message has no text, media or contact")

    hints: list[ThreadHint] = []
    if edited:
        hints.append(ThreadHint("message_id", message_external_id(bot_id, chat_id, message_id)))
    reply_to = message.get("reply_to_message")
    if isinstance(reply_to, dict) and reply_to.get("message_id") and not force_new:
        hints.append(ThreadHint("message_id", message_external_id(bot_id, chat_id, int(reply_to["message_id"]))))
    hints.append(ThreadHint("conversation", conversation_key(bot_id, chat_id)))

    edit_date = message.get("edit_date")
    sent = edit_date if edited and isinstance(edit_date, int) else message.get("date")
    extras: dict[str, Any] = {
        "telegram": {
            "bot_id": bot_id,
            "update_id": update.get("update_id"),
            "chat_id": chat_id,
            "chat_type": message["chat"].get("type"),
            "message_id": message_id,
        }
    }
    if force_new:
        extras["force_new"] = True
    return MessageDraft(
        channel=Channel.TELEGRAM,
        transport=Transport(raw.transport),
        external_id=(edit_external_id(bot_id, chat_id, message_id, int(edit_date or 0)) if edited
                     else message_external_id(bot_id, chat_id, message_id)),
        kind=Kind.EDIT if edited else Kind.NEW,
        requester=Requester(
            name=_name(user) or None,
            phone=phone,
            telegram_id=int(user["id"]) if isinstance(user.get("id"), int) else None,
            telegram_username=user.get("username") or None,
            language=user.get("language_code") or None,
        ),
        subject=_subject(body, attachments),
        text=body,
        received_at=raw.received_at,
        sent_at=datetime.fromtimestamp(sent, UTC) if isinstance(sent, int) else None,
        attachments=attachments,
        thread_hints=tuple(hints),
        extras=extras,
        defects=defects,
    )


def own_contact_phone(message: dict[str, Any]) -> str | None:
    """The E.164 number of a contact the sender shared of themselves, else None.

    Telegram sets the contact's `user_id` to the sender's own id only when the
    sender shared their own account's number, which Telegram has verified; any
    other contact is someone else's number and identifies nobody.
    """
    contact = message.get("contact")
    sender = message.get("from")
    if not isinstance(contact, dict) or not isinstance(sender, dict):
        return None
    if contact.get("user_id") is None or contact.get("user_id") != sender.get("id"):
        return None
    number = str(contact.get("phone_number") or "").strip()
    if number and not number.startswith("+"):
        number = "+" + number
    return to_e164(number, "ZZ")


def _load(payload: bytes) -> dict[str, Any]:
    try:
        update = json.loads(payload)
    except ValueError as exc:
        raise NormalizeError(f"the Telegram update is not JSON: {exc}") from exc
    if not isinstance(update, dict):
        raise NormalizeError("the Telegram update is not a JSON object")
    return update


def _name(user: dict[str, Any]) -> str:
    return " ".join(str(user[k]).strip() for k in ("first_name", "last_name") if user.get(k)).strip()


def _content_lines(message: dict[str, Any]) -> list[str]:
    """Message content other than text and files, as readable lines."""
    lines: list[str] = []
    contact = message.get("contact")
    if isinstance(contact, dict):
        who = _name(contact) or "contact"
        lines.append(f"Shared contact: {who}, {contact.get('phone_number', '')}".rstrip(", "))
    venue = message.get("venue")
    location = message.get("location")
    if isinstance(venue, dict):
        lines.append(f"Venue: {venue.get('title', '')}, {venue.get('address', '')}")
    elif isinstance(location, dict):
        lines.append(f"Location: {location.get('latitude')}, {location.get('longitude')}")
    sticker = message.get("sticker")
    if isinstance(sticker, dict):
        lines.append(f"[sticker {sticker.get('emoji', '')}]".replace(" ]", "]"))
    poll = message.get("poll")
    if isinstance(poll, dict):
        lines.append(f"Poll: {poll.get('question', '')}")
    return lines


def _attachments(message: dict[str, Any], files: Any) -> tuple[tuple[Attachment, ...], tuple[str, ...]]:
    """Attachments from the adapter's fetch results, by file; refs it did not fetch are noted."""
    fetched = {f.get("file_unique_id"): f for f in files if isinstance(f, dict)} if isinstance(files, list) else {}
    attachments: list[Attachment] = []
    defects: list[str] = []
    for ref in file_refs(message):
        entry = fetched.get(ref.file_unique_id)
        attachment = _from_entry(ref, entry) if entry else _unfetched(ref)
        if attachment.note:
            defects.append(f"{attachment.name}: {attachment.note}")
        attachments.append(attachment)
    return tuple(attachments), tuple(defects)


def _from_entry(ref: FileRef, entry: dict[str, Any]) -> Attachment:
    return Attachment(
        name=str(entry.get("name") or ref.name),
        content_type=str(entry.get("content_type") or ref.content_type),
        size=int(entry.get("size") or ref.size or 0),
        sha256=str(entry.get("sha256") or ""),
        note=entry.get("note") or None,
    )


def _unfetched(ref: FileRef) -> Attachment:
    return Attachment(name=ref.name, content_type=ref.content_type, size=ref.size or 0, sha256="",
                      note=NOT_FETCHED)


def _subject(body: str, attachments: tuple[Attachment, ...]) -> str:
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    if not first and attachments:
        first = attachments[0].name
    if len(first) > SUBJECT_CHARS:
        first = first[: SUBJECT_CHARS - 1].rstrip() + "…"
    return first or "(no text)"
