"""One raw email to a `MessageDraft` plus its attachments' content.

Pure: bytes and envelope in, values out; no I/O, no clock, no state. The
caller runs it in a worker thread (a 25 MB message takes a moment) and
stores the attachment content under generated keys.

Malformed mail is normalized as far as it goes and its defects recorded:
only input that yields nothing (no bytes, or no headers and no body)
raises `NormalizeError`. Each stage after parsing is written not to raise;
should one still fail on some input nobody foresaw, the stage is skipped
with an `InternalError` defect instead of losing the whole message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from normalize.email.addresses import Sender, address_list, parse_sender
from normalize.email.attachments import ExtractedAttachment, extract_attachments
from normalize.email.autoreply import AutoVerdict, detect_auto_reply
from normalize.email.body import Body, extract_body
from normalize.email.bounce import BounceReport, detect_bounce
from normalize.email.parse import HeaderView, parse_message
from normalize.email.parts import report_type_of, walk_leaves
from normalize.email.quotes import split_reply
from normalize.email.settings import EmailSettings
from normalize.email.threading_keys import (
    email_external_id,
    id_domain,
    message_id_value,
    message_ids,
    subject_base,
    thread_hints,
)
from normalize.errors import NormalizeError
from normalize.sanitize import clean_header_value, has_bidi_controls, truncate
from normalize.schema import Channel, Kind, MessageDraft, Requester, ThreadHint, Transport

MAX_SUBJECT_CHARS = 2000
MAX_DEFECTS = 200
MAX_REFERENCES_KEPT = 100  # the newest; a thread's root is rarely the useful key
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")

T = TypeVar("T")


def normalize_email(
    raw: bytes,
    *,
    transport: Transport,
    received_at: datetime,
    mail_from: str | None = None,
    rcpt_tos: tuple[str, ...] = (),
    settings: EmailSettings = EmailSettings(),  # frozen: sharing the default is safe
    external_id: str | None = None,
) -> tuple[MessageDraft, list[ExtractedAttachment]]:
    """Normalize one email; `mail_from`/`rcpt_tos` are the SMTP envelope when known.

    `external_id` is `email_external_id(raw)` when the caller already has it
    (a stored record's key); it is computed here otherwise.
    """
    raw = bytes(raw)
    if not raw.strip():
        raise NormalizeError("empty message")
    limits = settings.limits
    defects: list[str] = []
    parsed = parse_message(raw, limits.max_depth)
    defects.extend(parsed.defects)
    message = parsed.message
    headers = HeaderView(message)
    layout = walk_leaves(message, limits)
    defects.extend(layout.defects)

    body = _guard("body", defects, Body("", None), lambda: extract_body(layout, limits.max_text_chars))
    defects.extend(body.defects)
    if headers.is_empty and not body.text.strip():
        raise NormalizeError("no headers and no body")
    nothing: tuple[list[ExtractedAttachment], list[str]] = ([], [])
    attachments, attachment_defects = _guard(
        "attachments", defects, nothing, lambda: extract_attachments(layout.leaves, limits)
    )
    defects.extend(attachment_defects)
    defects.extend(layout.part_defects())

    subject, subject_cut = truncate(headers.text("Subject") or "", MAX_SUBJECT_CHARS)
    if subject_cut:
        defects.append("SubjectTruncated")
    sender = parse_sender(headers.raw("From"))
    defects.extend(sender.defects)
    if sender.name and sender.email and _names_another_address(sender.name, sender.email):
        defects.append("DisplayNameHoldsAnotherAddress")
    if has_bidi_controls(subject) or has_bidi_controls(sender.name or ""):
        defects.append("BidiControlInHeader")

    message_id = message_id_value(headers.raw("Message-ID"))
    in_reply_to = message_ids(headers.raw("In-Reply-To"))
    references = message_ids(" ".join(headers.raw_all("References")))[-MAX_REFERENCES_KEPT:]
    report_type = report_type_of(message)
    bounce = _guard(
        "bounce",
        defects,
        None,
        lambda: detect_bounce(message, headers, subject, mail_from, layout.leaves, body.text, message_id, report_type),
    )
    auto = None if bounce else detect_auto_reply(headers, subject, mail_from, report_type)

    hints = [ThreadHint("message_id", mid) for mid in (bounce.message_ids if bounce else ())]
    hints += thread_hints(in_reply_to, references, subject, settings.ticket_ref_pattern)
    extras = _extras(headers, sender, message_id, in_reply_to, references, mail_from, rcpt_tos)
    extras["subject_base"] = subject_base(subject)
    kind, markers = _kind(bounce, auto)
    extras.update(markers)
    own_reason = _own_mail_reason(headers, message_id, settings)
    if own_reason:
        extras["own_mail"] = True
        extras["own_mail_reason"] = own_reason

    full_text = body.text
    draft = MessageDraft(
        channel=Channel.EMAIL,
        transport=transport,
        external_id=external_id if external_id is not None else email_external_id(raw),
        kind=kind,
        requester=Requester(name=sender.name, email=sender.email, language=_language(headers)),
        subject=subject,
        text=_guard("quotes", defects, full_text, lambda: split_reply(full_text)),
        received_at=received_at,
        sent_at=_sent_at(headers.raw("Date")),
        attachments=tuple(a.meta for a in attachments),
        html=body.html,
        full_text=full_text,
        thread_hints=tuple(dict.fromkeys(hints)),
        extras=extras,
        defects=tuple(list(dict.fromkeys(defects))[:MAX_DEFECTS]),
    )
    return draft, attachments


def _kind(bounce: BounceReport | None, auto: AutoVerdict | None) -> tuple[Kind, dict[str, Any]]:
    """The kind, and the extras that say why (and, for a bounce, what bounced)."""
    if bounce:
        return Kind.BOUNCE, {
            "auto": {"kind": Kind.BOUNCE.value, "reason": bounce.reason},
            "bounced_message_ids": list(bounce.message_ids),
            "bounced_recipients": list(bounce.recipients),
        }
    if auto:
        return Kind.AUTO_REPLY, {"auto": {"kind": Kind.AUTO_REPLY.value, "reason": auto.reason}}
    return Kind.NEW, {}


def _guard(stage: str, defects: list[str], fallback: T, work: Callable[[], T]) -> T:
    """Run one stage; an unforeseen failure costs that stage, not the message."""
    try:
        return work()
    except Exception as exc:
        defects.append(f"InternalError: {stage}: {type(exc).__name__}")
        return fallback


def _extras(
    headers: HeaderView,
    sender: Sender,
    message_id: str | None,
    in_reply_to: list[str],
    references: list[str],
    mail_from: str | None,
    rcpt_tos: tuple[str, ...],
) -> dict[str, Any]:
    """Everything routing, threading and agents may want that has no schema field."""
    extras: dict[str, Any] = {
        "message_id": message_id,
        "in_reply_to": in_reply_to[0] if in_reply_to else None,
        "references": references,
        "from": sender.raw,
        "to": address_list("to", headers.raw_all("To")),
        "cc": address_list("cc", headers.raw_all("Cc")),
        "reply_to": address_list("reply-to", headers.raw_all("Reply-To")),
        "mail_from": clean_header_value(mail_from) if mail_from is not None else None,
        "rcpt_tos": [clean_header_value(r) for r in rcpt_tos],
        "date": _clean_or_none(headers.raw("Date")),
    }
    list_id = headers.text("List-Id")
    if list_id is not None:
        extras["list_id"] = list_id
    if not sender.verified:
        extras["sender_unverified"] = True
    return extras


def _clean_or_none(value: str | None) -> str | None:
    return None if value is None else clean_header_value(value)


def _names_another_address(name: str, email: str) -> bool:
    """`"alice@example.org" <bob@evil.example>` is legal, and a classic disguise."""
    return any(word.strip("<>()\"'").lower() != email.lower() for word in name.split() if "@" in word)


def _own_mail_reason(headers: HeaderView, message_id: str | None, settings: EmailSettings) -> str | None:
    if headers.has(settings.own_header):
        return f"{settings.own_header} header present"
    if id_domain(message_id) == settings.own_domain.lower():
        return f"Message-ID domain is {settings.own_domain}"
    return None


def _sent_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(clean_header_value(value))
    except Exception:  # the stdlib raises several types for bad dates
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _language(headers: HeaderView) -> str | None:
    value = headers.text("Content-Language")
    if not value:
        return None
    first = value.split(",", 1)[0].strip()
    return first if _LANGUAGE_TAG.fullmatch(first) else None
