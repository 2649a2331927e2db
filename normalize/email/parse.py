"""Raw bytes to an `EmailMessage` that is safe to walk, and safe header reads.

The stdlib parser (`policy.default`) is tolerant: it records defects instead
of raising. Two holes remain, both closed here:

* Nesting. The feed parser descends into each multipart or message/* part
  through one more nested generator, so a few hundred levels of nesting end
  in `RecursionError`. `_DepthLimitedParser` turns every container below
  `max_depth` into an opaque `application/octet-stream` leaf while parsing,
  so the tree it builds is never deeper than the limit.
* Header objects. `policy.default` parses a header when it is read, and some
  malformed values raise there (an encoded CR/LF in an address, for one).
  `HeaderView` reads the raw values the parser stored and decodes each one
  under a guard, falling back to a plainer decoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import errors, policy
from email.feedparser import BytesFeedParser
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from typing import cast

from normalize.sanitize import clean_header_value, decode_surrogates

MEMO_ENTRIES = 512
MEMO_VALUE_CHARS = 2048


class _MemoHeaderRegistry(HeaderRegistry):
    """`policy.default`'s header factory, remembering each header class and each parsed header.

    The stock registry creates a new class for every header it parses, and
    `policy.default` parses a header again on every read: finding a message's
    body and attachments reads each part's Content-Type a dozen times, and
    header parsing was well over half the cost of normalizing a message.
    Header objects are immutable, so one parse per (name, value) serves every
    read, in this message and the next ones (Content-Type values repeat).
    Bounded: emptied when full, long values never kept.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        found = self._classes.get(name.lower())
        if found is None:
            found = self._classes[name.lower()] = super().__getitem__(name)
        return found

    def __call__(self, name: str, value: str) -> BaseHeader:
        if len(value) > MEMO_VALUE_CHARS:
            return self[name](name, value)  # type: ignore[call-arg]
        key = (name, value)
        found = self._parsed.get(key)
        if found is None:
            if len(self._parsed) >= MEMO_ENTRIES:
                self._parsed.clear()
            found = self._parsed[key] = self[name](name, value)  # type: ignore[call-arg]
        return found


# The same policy for every message: modern header objects, no refolding.
PARSE_POLICY = policy.default.clone(header_factory=_MemoHeaderRegistry())


class NestingTooDeepDefect(errors.MessageDefect):
    """A container nested deeper than the limit was kept as an opaque leaf."""


class _DepthLimitedParser(BytesFeedParser):
    """A `BytesFeedParser` that stops descending below `max_depth` levels.

    `_parse_headers` runs once per part, right after the part is pushed on
    `_msgstack` and before the parser decides whether to descend into it; so
    the stack height there is the part's depth, and rewriting its
    Content-Type to a leaf type makes the parser read its body as bytes.
    """

    def __init__(self, max_depth: int) -> None:
        super().__init__(policy=PARSE_POLICY)
        self._max_depth = max_depth
        self.truncated = 0

    def _parse_headers(self, lines: list[str]) -> None:
        super()._parse_headers(lines)  # type: ignore[misc]
        part: Message = self._cur  # type: ignore[attr-defined]
        _shorten_mime_headers(part)
        stack: list[Message] = self._msgstack  # type: ignore[attr-defined]
        if len(stack) <= self._max_depth:  # depth = len(stack) - 1
            return
        try:
            maintype = part.get_content_maintype()
        except Exception:
            maintype = "multipart"
        if maintype in ("multipart", "message"):
            del part["content-type"]
            part.set_raw("Content-Type", "application/octet-stream")
            part.defects.append(NestingTooDeepDefect())
            self.truncated += 1


class HeaderTooLongDefect(errors.MessageDefect):
    """A MIME header was cut down to the parameters that matter."""


# The stdlib parses a structured header in time that grows with its tokens
# (parameters, comments, spaces), several times per part: a 100 kB
# Content-Type costs seconds. Such headers keep only the parameters anything
# here reads; long plain values (a 4,000-character file name) are cheap and kept.
MAX_MIME_HEADER_CHARS = 8000
MAX_MIME_SPECIALS = 100
MAX_MIME_PARAM_CHARS = 1000
MAX_MIME_PARAMS = 20
_MIME_HEADERS = ("content-type", "content-disposition", "content-transfer-encoding")
_SPECIALS = re.compile(r"[;()\\,=\s]")
_KEPT_PARAMS = frozenset(
    {"boundary", "charset", "name", "filename", "report-type", "type", "start", "format", "delsp", "protocol"}
)


def _shorten_mime_headers(part: Message) -> None:
    expensive = [
        (name, value)
        for name, value in raw_headers(part)
        if name.strip().lower() in _MIME_HEADERS
        and (len(value) > MAX_MIME_HEADER_CHARS or len(_SPECIALS.findall(value)) > MAX_MIME_SPECIALS)
    ]
    for name, value in expensive:
        del part[name]
        part.set_raw(name.strip(), _essential_params(value))
        part.defects.append(HeaderTooLongDefect())


def _essential_params(value: str) -> str:
    """The value and its known parameters, within `MAX_MIME_HEADER_CHARS`."""
    pieces = _split_unquoted(value, ";")
    kept = [pieces[0].strip()[:100]]
    size = len(kept[0])
    for piece in pieces[1:]:
        name = piece.split("=", 1)[0].strip().lower().split("*", 1)[0]
        if name not in _KEPT_PARAMS or len(piece) > MAX_MIME_PARAM_CHARS:
            continue
        if len(kept) > MAX_MIME_PARAMS or size + len(piece) + 2 > MAX_MIME_HEADER_CHARS:
            break
        kept.append(" ".join(piece.split()))
        size += len(piece) + 2
    return "; ".join(kept)


def _split_unquoted(value: str, separator: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == separator and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(ch)
    pieces.append("".join(current))
    return pieces


@dataclass(frozen=True)
class ParsedMessage:
    message: EmailMessage
    defects: tuple[str, ...] = ()


def parse_message(raw: bytes, max_depth: int) -> ParsedMessage:
    """Parse with the depth limit; on any parser failure, keep headers and raw body."""
    parser = _DepthLimitedParser(max_depth)
    try:
        parser.feed(raw)
        message = cast(EmailMessage, parser.close())
    except Exception as exc:  # RecursionError or a parser bug: degrade, never raise
        return ParsedMessage(_headers_only(raw), (f"ParserFailed: {type(exc).__name__}",))
    if parser.truncated:
        return ParsedMessage(message, (NestingTooDeepDefect.__name__,))
    return ParsedMessage(message)


def parse_header_block(raw: bytes) -> Message:
    """Only the top-level header block (the body is not parsed as MIME)."""
    parser = _DepthLimitedParser(max_depth=1)
    parser._set_headersonly()  # type: ignore[attr-defined]  # what BytesHeaderParser uses
    try:
        parser.feed(raw)
        return parser.close()
    except Exception:
        return _headers_only(raw)


def _headers_only(raw: bytes) -> EmailMessage:
    """The header block parsed, the rest kept as a text/plain body."""
    parser = BytesFeedParser(policy=PARSE_POLICY)
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    try:
        parser.feed(head + b"\n\n")
        message = cast(EmailMessage, parser.close())
    except Exception:
        message = EmailMessage(policy=PARSE_POLICY)
    for name in ("content-type", "content-transfer-encoding"):
        del message[name]
    message.set_raw("Content-Type", "text/plain; charset=utf-8")
    message.set_payload(body.decode("ascii", "surrogateescape"))
    return message


def raw_headers(part: Message) -> list[tuple[str, str]]:
    """(name, raw value) pairs as stored by the parser, never raising."""
    try:
        return [(str(name), str(value)) for name, value in part.raw_items()]
    except Exception:
        return []


# Unstructured values are decoded from at most this much raw text; the
# stdlib's decoder slows down sharply on long runs of encoded words.
MAX_DECODED_HEADER_CHARS = 4000


class HeaderView:
    """Decoded, cleaned access to one part's headers.

    Every value returned is one line without control characters; reading
    never raises. Raw values are kept for the few places (addresses,
    Message-IDs) that must look at the undecoded text.
    """

    def __init__(self, part: Message) -> None:
        self._part = part
        self._raw: dict[str, list[str]] = {}
        for name, value in raw_headers(part):
            self._raw.setdefault(name.strip().lower(), []).append(value)

    @property
    def is_empty(self) -> bool:
        return not self._raw

    def has(self, name: str) -> bool:
        return name.lower() in self._raw

    def raw(self, name: str) -> str | None:
        """The first raw value, unfolded (CR/LF removed), not decoded."""
        values = self._raw.get(name.lower())
        if not values:
            return None
        return values[0].replace("\r", "").replace("\n", "")

    def raw_all(self, name: str) -> list[str]:
        return [v.replace("\r", "").replace("\n", "") for v in self._raw.get(name.lower(), [])]

    def text(self, name: str) -> str | None:
        """The first value decoded (RFC 2047, 8-bit UTF-8) and cleaned."""
        raw = self.raw(name)
        return None if raw is None else decode_header_value(name, raw[:MAX_DECODED_HEADER_CHARS])


def decode_unstructured(raw: str) -> str:
    """Decode as free text (encoded words only), whatever header it came from.

    For showing an address header as sent: the structured parser would
    render only the address it settled on, hiding an ambiguity.
    """
    return decode_header_value("x-unstructured", raw[:MAX_DECODED_HEADER_CHARS])


def decode_header_value(name: str, raw: str) -> str:
    """Decode one raw header value to a single clean line, whatever it holds."""
    try:
        value = str(PARSE_POLICY.header_fetch_parse(name, raw))
    except Exception:
        value = _plain_decode(raw)
    return clean_header_value(value)


def _plain_decode(raw: str) -> str:
    """Fallback: RFC 2047 words decoded by the legacy decoder, else the raw text."""
    try:
        return str(make_header(decode_header(raw)))
    except Exception:
        return decode_surrogates(raw)
