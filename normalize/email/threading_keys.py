"""Keys that let a message join its ticket: Message-IDs, ticket references, base subject.

`email_external_id` is also the dedup key of a stored email, so it must be
computed the same way from the same bytes every time: it reads only the
first Message-ID header of the top-level header block. Both the SMTP adapter
and the normalizer need it, so it scans the header block's lines itself
instead of parsing it: the same line splitting, header-line test, unfolding
and value decoding as the stdlib feed parser (`policy.default`) applies, so
the result is the one a parse would give (the tests compare the two).
"""

from __future__ import annotations

import hashlib
import re

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


# As email.feedparser: lines end at CRLF, CR or LF; the header block goes on
# while lines look like a header, a continuation or an mbox "From " line. One
# anchored match: the fewest such lines, then the first "Message-ID:" line
# (any case, no continuation, no "From " line), its value and the
# continuation lines after it (without the last line end).
_FIRST_MESSAGE_ID = re.compile(
    rb"(?:(?:From |[\041-\071\073-\176]*:|[\t ])[^\r\n]*(?:\r\n|\r|\n))*?"
    rb"(?i:message-id):([^\r\n]*(?:(?:\r\n|\r|\n)[\t ][^\r\n]*)*)"
)


def email_external_id(raw: bytes) -> str:
    """The Message-ID without angle brackets, else `sha256:<hex of raw>`."""
    value = message_id_value(first_message_id_header(raw))
    return value if value else "sha256:" + hashlib.sha256(raw).hexdigest()


def first_message_id_header(raw: bytes) -> str | None:
    """The raw value of the first Message-ID header of the top-level block, unfolded as the parser does.

    The feed parser's rules, on bytes: a line that is no header line ends
    the block (the empty separator included); a continuation line (leading
    space or tab) extends the header before it, unless that was no header (a
    "From " line, a line starting with ":", the first line); the value is
    the rest of the first line without leading blanks plus the continuation
    lines as they are, without the final line end, decoded as ASCII with
    surrogate escapes. Nothing but that one value is decoded.
    """
    found = _FIRST_MESSAGE_ID.match(raw)
    if found is None:
        return None
    return found.group(1).lstrip(b" \t").decode("ascii", "surrogateescape")


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
