"""Portal submissions to the common schema.

The portal adapter has already validated the request and stored it as a
canonical JSON document (attachments with their decoded size and sha256), so
this only maps fields; it never fails on a record the adapter accepted.
"""

from __future__ import annotations

import orjson

from normalize.errors import NormalizeError
from normalize.raw import RawInbound
from normalize.schema import Attachment, Channel, Kind, MessageDraft, Requester, Transport

SUBJECT_FROM_BODY_CHARS = 80


def normalize_portal(raw: RawInbound) -> MessageDraft:
    try:
        doc = orjson.loads(raw.payload)
    except orjson.JSONDecodeError as exc:
        raise NormalizeError(f"portal record is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("requester"), dict):
        raise NormalizeError("portal record has no requester")
    who = doc["requester"]
    body = str(doc.get("body") or "")
    subject = str(doc.get("subject") or "").strip() or _subject_from(body)
    attachments = tuple(
        Attachment(
            name=a["filename"],
            content_type=a["content_type"],
            size=int(a["size"]),
            sha256=a["sha256"],
        )
        for a in doc.get("attachments") or []
    )
    return MessageDraft(
        channel=Channel.PORTAL,
        transport=Transport.HTTP,
        external_id=raw.external_id,
        kind=Kind.NEW,
        requester=Requester(
            name=who.get("name"),
            email=(who.get("email") or None),
            portal_user_id=(str(who["portal_user_id"]) if who.get("portal_user_id") is not None else None),
            language=who.get("language"),
        ),
        subject=subject,
        text=body,
        received_at=raw.received_at,
        attachments=attachments,
        category_hint=doc.get("category"),
        fields=dict(doc.get("fields") or {}),
        extras={"principal": raw.principal} if raw.principal else {},
    )


def _subject_from(body: str) -> str:
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    if len(first) > SUBJECT_FROM_BODY_CHARS:
        first = first[: SUBJECT_FROM_BODY_CHARS - 1].rstrip() + "…"
    return first or "(no subject)"
