"""The common ticket schema: what every channel's input becomes.

Objects are frozen so a normalized draft cannot be changed on its way from the
normalizer through the router to storage. `to_json` produces the stable,
versioned form (`"schema": 1`) documented in docs/schema.md; fields are only
ever added to it, never renamed or removed, without bumping the version.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SCHEMA_VERSION = 1


class Channel(enum.StrEnum):
    EMAIL = "email"
    TELEGRAM = "telegram"
    PHONE = "phone"
    PORTAL = "portal"


class Transport(enum.StrEnum):
    SMTP = "smtp"
    IMAP = "imap"
    POLLING = "polling"
    WEBHOOK = "webhook"
    HTTP = "http"


class Kind(enum.StrEnum):
    NEW = "new"
    REPLY = "reply"
    EDIT = "edit"
    CALL_LOG = "call_log"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked. Every field is optional: each channel knows a different part."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None  # E.164
    telegram_id: int | None = None
    telegram_username: str | None = None
    portal_user_id: str | None = None
    language: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "telegram_id": self.telegram_id,
            "telegram_username": self.telegram_username,
            "portal_user_id": self.portal_user_id,
            "language": self.language,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Requester:
        return cls(**{k: data.get(k) for k in cls.__slots__})  # type: ignore[attr-defined]

    def identity_keys(self) -> list[str]:
        """Keys under which this requester can be recognised on any channel."""
        keys: list[str] = []
        if self.email:
            keys.append(f"email:{self.email.lower()}")
        if self.phone:
            keys.append(f"phone:{self.phone}")
        if self.telegram_id is not None:
            keys.append(f"telegram:{self.telegram_id}")
        if self.portal_user_id:
            keys.append(f"portal:{self.portal_user_id}")
        return keys


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    content_type: str
    size: int
    sha256: str
    inline: bool = False
    note: str | None = None  # why the content is missing (over a limit), when it is

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "inline": self.inline,
        }
        if self.note:
            data["note"] = self.note
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attachment:
        return cls(
            name=data["name"],
            content_type=data["content_type"],
            size=int(data["size"]),
            sha256=data["sha256"],
            inline=bool(data.get("inline", False)),
            note=data.get("note"),
        )


@dataclass(frozen=True, slots=True)
class ThreadHint:
    """A key by which a message may join an existing ticket, strongest first."""

    kind: str  # "message_id", "reference", "chat", "ticket_ref"
    value: str


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """One normalized inbound message, before it is threaded and routed.

    `kind` is what the normalizer could tell from the message alone (new,
    edit, call_log, auto_reply, bounce); threading may turn `new` into
    `reply` when the message joins an existing ticket.
    """

    channel: Channel
    transport: Transport
    external_id: str
    kind: Kind
    requester: Requester
    subject: str
    text: str
    received_at: datetime
    sent_at: datetime | None = None
    attachments: tuple[Attachment, ...] = ()
    html: str | None = None  # sanitized
    full_text: str | None = None  # whole body, when `text` is only the new part
    thread_hints: tuple[ThreadHint, ...] = ()
    category_hint: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    defects: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "channel": self.channel.value,
            "transport": self.transport.value,
            "external_id": self.external_id,
            "kind": self.kind.value,
            "requester": self.requester.to_json(),
            "subject": self.subject,
            "text": self.text,
            "full_text": self.full_text,
            "html": self.html,
            "received_at": iso(self.received_at),
            "sent_at": iso(self.sent_at) if self.sent_at else None,
            "attachments": [a.to_json() for a in self.attachments],
            "category_hint": self.category_hint,
            "fields": self.fields,
            "extras": self.extras,
            "defects": list(self.defects),
        }


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, the one time format of the JSON form."""
    text = moment.isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")
