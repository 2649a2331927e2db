"""The facts about one message that rules test, computed once from the draft.

Conditions never look at the draft itself: every value is read and normalized
(NFC, casefolded, domains in IDNA form) here, so each condition is a plain
comparison and a draft field that moves only changes this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from normalize.schema import MessageDraft, Requester
from router.text import fold, nfc, normalize_address, normalize_domain

IDENTITY_PREFIXES = ("email:", "phone:", "telegram:", "portal:")


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """Normalized facts; tuples hold every value a condition may match."""

    channel: str
    transport: str
    recipients: tuple[str, ...]
    sender_ids: tuple[str, ...]
    sender_domains: tuple[str, ...]
    phone: str | None
    portal_category: str | None
    fields: Mapping[str, tuple[str, ...]]
    attachment_types: tuple[str, ...]
    subject: str
    searchable_text: str
    ascii_lower_text: str | None
    """`searchable_text` lowercased when it is all ASCII (else None), where keyword conditions look for
    their words before running a pattern: on ASCII, case-insensitive matching is plain lowercasing."""
    moment: datetime

    @classmethod
    def from_draft(cls, draft: MessageDraft, now: datetime) -> MessageFacts:
        """Facts of `draft` as decided at `now` (a naive `now` is taken as UTC)."""
        requester = draft.requester
        searchable = nfc(f"{draft.subject}\n{draft.text}")
        email_domain = requester.email.rpartition("@")[2] if requester.email else ""
        return cls(
            channel=draft.channel.value,
            transport=draft.transport.value,
            recipients=_recipients(draft.extras.get("rcpt_tos")),
            sender_ids=_sender_ids(requester),
            sender_domains=_domain_and_parents(email_domain),
            phone=normalize_phone(requester.phone) if requester.phone else None,
            portal_category=fold(draft.category_hint) if draft.category_hint else None,
            fields={fold(name): _field_values(value) for name, value in draft.fields.items()},
            attachment_types=tuple(media_type(a.content_type) for a in draft.attachments),
            subject=nfc(draft.subject),
            searchable_text=searchable,
            ascii_lower_text=searchable.lower() if searchable.isascii() else None,
            moment=now if now.tzinfo is not None else now.replace(tzinfo=UTC),
        )


def normalize_phone(number: str) -> str:
    """E.164 digits with the leading '+', separators dropped ("+36 1 234-5678" -> "+3612345678")."""
    return "".join(ch for ch in number if ch.isdigit() or ch == "+")


def normalize_sender(value: str) -> str:
    """The comparable form of a configured or observed sender identity."""
    folded = fold(value)
    prefix = next((p for p in IDENTITY_PREFIXES if folded.startswith(p)), "")
    bare = folded[len(prefix) :]
    if bare.startswith("+") or prefix == "phone:":
        bare = normalize_phone(bare)
    elif "@" in bare.lstrip("@"):
        bare = normalize_address(bare)
    return prefix + bare


def media_type(content_type: str) -> str:
    """`type/subtype` without parameters, casefolded ("Image/PNG; name=x" -> "image/png")."""
    return fold(content_type.partition(";")[0])


def _recipients(raw: Any) -> tuple[str, ...]:
    """Each envelope recipient, and its `@domain`, so both forms of a rule match by equality."""
    if not isinstance(raw, list | tuple):
        return ()
    found: list[str] = []
    for item in raw:
        if isinstance(item, str) and "@" in item:
            address = normalize_address(item)
            found += [address, "@" + address.rpartition("@")[2]]
    return tuple(dict.fromkeys(found))


def _sender_ids(requester: Requester) -> tuple[str, ...]:
    """Every form in which a rule may name the sender: bare or as an identity key."""
    ids: list[str] = []
    if requester.email:
        ids.append(normalize_sender(requester.email))
    if requester.phone:
        ids.append(normalize_phone(requester.phone))
    if requester.telegram_id is not None:
        ids.append(str(requester.telegram_id))
    if requester.telegram_username:
        username = fold(requester.telegram_username).lstrip("@")
        ids += [username, "@" + username, "telegram:" + username, "telegram:@" + username]
    ids += [normalize_sender(key) for key in requester.identity_keys()]
    return tuple(dict.fromkeys(ids))


def _domain_and_parents(domain: str) -> tuple[str, ...]:
    """The domain and each parent (mail.example.org, example.org, org): a rule may name any of them."""
    if not domain:
        return ()
    labels = normalize_domain(domain).split(".")
    return tuple(".".join(labels[i:]) for i in range(len(labels)) if labels[i])


def _field_values(value: Any) -> tuple[str, ...]:
    """A form field's value(s) as folded strings; lists give one value per item."""
    items: Iterable[Any] = value if isinstance(value, list | tuple) else (value,)
    return tuple(scalar_text(item) for item in items if isinstance(item, str | int | float | bool))


def scalar_text(value: str | int | float | bool) -> str:
    """A scalar as compared: booleans as JSON spells them, everything folded."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return fold(str(value))
