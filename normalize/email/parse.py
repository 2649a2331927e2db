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

from dataclasses import dataclass
from typing import cast
from email import errors, policy
from email.feedparser import BytesFeedParser
from email.header import decode_header, make_header
from email.message import EmailMessage, Message

from normalize.email.sanitize import clean_header_value, decode_surrogates

# The same policy for every message: modern header objects, no refolding.
PARSE_POLICY = policy.default


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
        stack: list[Message] = self._msgstack  # type: ignore[attr-defined]
        if len(stack) <= self._max_depth:  # depth = len(stack) - 1
            return
        part: Message = self._cur  # type: ignore[attr-defined]
        try:
            maintype = part.get_content_maintype()
        except Exception:
            maintype = "multipart"
        if maintype in ("multipart", "message"):
            del part["content-type"]
            part.set_raw("Content-Type", "application/octet-stream")
            part.defects.append(NestingTooDeepDefect())
            self.truncated += 1


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
        return None if raw is None else decode_header_value(name, raw)


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
