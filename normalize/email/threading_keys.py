"""Keys that let a message join its ticket: Message-IDs, ticket references, base subject.

`email_external_id` is also the dedup key of a stored email, so it must be
computed the same way from the same bytes every time: it reads only the
first Message-ID header of the top-level header block.
"""

from __future__ import annotations

import hashlib
import re

from normalize.email.parse import parse_header_block, raw_headers
from normalize.sanitize import clean_header_value
from normalize.schema import ThreadHint

MAX_MESSAGE_ID_CHARS = 500
MAX_REFERENCES = 50

_BRACKETED = re.compile(r"<([^<>]*)>")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Reply and forward prefixes of common clients, repeated and mixed, "Re[2]:" too.
_PREFIX = re.compile(
    r"\s*(?:re|aw|sv|vs|antw|odp|res|rv|fwd?|fw|wg|tr|enc|balas|terusan|ответ|отв|пересл"
    r"|válasz|vá|továbbítás|továbbítva)\s*(?:\[\d{1,4}\]|\(\d{1,4}\))?\s*[:：]\s*",
    re.IGNORECASE,
)


def email_external_id(raw: bytes) -> str:
    """The Message-ID without angle brackets, else `sha256:<hex of raw>`."""
    value = message_id_value(_first_header(raw, "message-id"))
    return value if value else "sha256:" + hashlib.sha256(raw).hexdigest()


def _first_header(raw: bytes, name: str) -> str | None:
    """One header of the top-level block, parsing no MIME structure."""
    message = parse_header_block(raw)
    for key, value in raw_headers(message):
        if key.strip().lower() == name:
            return value
    return None


def message_id_value(raw: str | None) -> str | None:
    """A Message-ID header's id: inside the first `<...>`, else the stripped value."""
    if raw is None:
        return None
    text = clean_header_value(_CONTROLS.sub("", raw))
    match = _BRACKETED.search(text)
    if match:
        text = match.group(1).strip()
    text = text.strip("<> ")
    if not text or len(text) > MAX_MESSAGE_ID_CHARS:
        return None
    return text


def message_ids(raw: str | None) -> list[str]:
    """Every id in an In-Reply-To or References value, in the order given."""
    if not raw:
        return []
    text = clean_header_value(_CONTROLS.sub("", raw))
    ids = [m.strip() for m in _BRACKETED.findall(text)]
    if not ids:  # ids sent without brackets
        ids = [token.strip("<>,;") for token in text.split() if "@" in token]
    return list(dict.fromkeys(i for i in ids if i and len(i) <= MAX_MESSAGE_ID_CHARS))


def thread_hints(
    in_reply_to: list[str], references: list[str], subject: str, ticket_ref_pattern: str
) -> list[ThreadHint]:
    """Strongest first: In-Reply-To, References newest first, then the subject's ticket ref."""
    ordered = in_reply_to + list(reversed(references[-MAX_REFERENCES:]))
    hints = [ThreadHint("message_id", mid) for mid in dict.fromkeys(ordered)]
    ref = ticket_reference(subject, ticket_ref_pattern)
    if ref:
        hints.append(ThreadHint("ticket_ref", ref))
    return hints


def ticket_reference(subject: str, pattern: str) -> str | None:
    match = re.search(pattern, subject)
    if not match or not match.group(1):
        return None
    return str(match.group(1))


def subject_base(subject: str) -> str:
    """The subject without reply/forward prefixes ("Re: Fwd: RE[2]: x" -> "x")."""
    text = subject
    while match := _PREFIX.match(text):
        if not match.end():
            break
        text = text[match.end() :]
    return text.strip()


def id_domain(message_id: str | None) -> str | None:
    if not message_id or "@" not in message_id:
        return None
    return message_id.rpartition("@")[2].strip().lower() or None
