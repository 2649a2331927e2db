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
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import errors, feedparser, policy
from email.feedparser import BytesFeedParser, FeedParser
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from typing import Any, cast

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
            return self._made(name, value)
        key = (name, value)
        found = self._parsed.get(key)
        if found is None:
            if len(self._parsed) >= MEMO_ENTRIES:
                self._parsed.clear()
            found = self._parsed[key] = self._made(name, value)
        return found

    def _made(self, name: str, value: str) -> BaseHeader:
        if _fast_paths:
            decoded = self._decoded_without_parsing(name, value)
            if decoded is not None:
                return cast(BaseHeader, DecodedHeader(name, value, decoded, self))
        return self.parsed(name, value)

    def parsed(self, name: str, value: str) -> BaseHeader:
        """The stdlib's header object, parsed in full."""
        return self[name](name, value)  # type: ignore[call-arg]

    def forget(self) -> None:
        self._parsed.clear()


    def _decoded_without_parsing(self, name: str, value: str) -> str | None:
        """The text `str()` of the parsed header would be, when a plain value makes it certain; else None."""
        if not value.isascii():
            return None
        shape = _FAST_SHAPES.get(name.lower())
        if shape is not None:
            return shape(value)
        if issubclass(self[name], UnstructuredHeader):
            return _unstructured_as_is(value)
        return None  # address, date, Message-ID, MIME-Version: always the full parser


# Fast paths. `policy.default` parses every header it is asked for with
# `email._header_value_parser` (tens of microseconds each, a new class per
# header), while everything here reads only the header's text (`str()`: the
# legacy `get_content_type`, `get_param`, `get_filename`,
# `get_content_disposition`, the feed parser's `get_boundary`, and the
# decoded Subject and other free-text values). For the plain shapes most mail
# has, that text is known without parsing: an unstructured ASCII value
# without encoded words is its own text; a MIME header of tokens and simple
# quoted parameters is the stdlib's rendering of it (`type/subtype;
# name="value"; ...`). Anything else (non-ASCII, encoded words, comments,
# escapes, RFC 2231, encoded words anywhere, duplicates, empty values, odd
# spacing) takes the full
# parser. The returned `DecodedHeader` is that text, and parses itself fully
# the first time anything else of it is asked for. Checked against the full
# parser on the fixtures, CPython's email test data, generated mail and
# hypothesis-generated values (tests/normalize/test_email_fast_paths.py).
_UNSTRUCTURED_PLAIN = re.compile(r"[\x20-\x7e\t]*")
_MIME_TOKEN = r"[A-Za-z0-9][A-Za-z0-9._+-]*"
_PARAM_PLAIN = re.compile(
    r";[ \t]*(" + _MIME_TOKEN + r")=(?:(" + _MIME_TOKEN + r')|"([!#-\[\]-~]+(?: [!#-\[\]-~]+)*)")'
)
_MIME_PLAIN = re.compile(r"(" + _MIME_TOKEN + r"(?:/" + _MIME_TOKEN + r")?)((?:" + _PARAM_PLAIN.pattern + r")*)")
_TOKEN_PLAIN = re.compile(_MIME_TOKEN)


def _unstructured_as_is(value: str) -> str | None:
    if "=?" in value or not _UNSTRUCTURED_PLAIN.fullmatch(value):
        return None
    return value


def _mime_rendered(value: str, with_subtype: bool) -> str | None:
    if "=?" in value:
        return None  # the parser decodes encoded words even inside quoted parameter values
    match = _MIME_PLAIN.fullmatch(value)
    if match is None or ("/" in match.group(1)) != with_subtype:
        return None
    rendered = match.group(1)
    if not match.group(2):
        return rendered
    params: list[str] = []
    seen: set[str] = set()
    for param in _PARAM_PLAIN.finditer(match.group(2)):
        name = param.group(1)
        if name.lower() in seen:
            return None  # duplicates: the parser keeps the first, with a defect
        seen.add(name.lower())
        params.append(f'{name}="{param.group(2) or param.group(3)}"')
    return rendered + "; " + "; ".join(params)


_FAST_SHAPES: dict[str, Callable[[str], str | None]] = {
    "content-type": lambda value: _mime_rendered(value, with_subtype=True),
    "content-disposition": lambda value: _mime_rendered(value, with_subtype=False),
    "content-transfer-encoding": lambda value: value if _TOKEN_PLAIN.fullmatch(value) else None,
}
_fast_paths = True


def fast_paths_enabled() -> bool:
    return _fast_paths


@contextmanager
def reference_mode() -> Iterator[None]:
    """Every header through the full parser, as before the fast paths (for tests; not thread-safe)."""
    global _fast_paths
    previous, _fast_paths = _fast_paths, False
    registry = cast(_MemoHeaderRegistry, PARSE_POLICY.header_factory)
    registry.forget()  # no header object made by a fast path may be served from the memo
    try:
        yield
    finally:
        _fast_paths = previous
        registry.forget()


class DecodedHeader(str):
    """A header's decoded text, known without parsing; the full header object is parsed on first other use."""

    def __new__(cls, name: str, value: str, decoded: str, registry: _MemoHeaderRegistry) -> DecodedHeader:
        self = super().__new__(cls, decoded)
        self.__dict__.update(_name=name, _value=value, _registry=registry)
        return self

    @property
    def name(self) -> str:
        return str(self.__dict__["_name"])

    def __getattr__(self, attr: str) -> Any:  # anything but the text: the real header object's
        if attr.startswith("__"):
            raise AttributeError(attr)
        state = self.__dict__
        if "_full" not in state:
            state["_full"] = state["_registry"].parsed(state["_name"], state["_value"])
        return getattr(state["_full"], attr)


class _ParsePolicy(policy.EmailPolicy):
    """`policy.default`, reading a stored header without the line-break split when it has no line break.

    `header_fetch_parse` removes CR and LF with a regex split and join on
    every header read (a few dozen per message); a plain `str` without either
    comes out of that unchanged, so it goes to the header factory directly.
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if type(value) is str and "\r" not in value and "\n" not in value:
            return self.header_factory(name, value)
        return super().header_fetch_parse(name, value)


# The same policy for every message: modern header objects, no refolding.
PARSE_POLICY = _ParsePolicy(header_factory=_MemoHeaderRegistry())


class NestingTooDeepDefect(errors.MessageDefect):
    """A container nested deeper than the limit was kept as an opaque leaf."""


# The feed parser compiles a regular expression for each multipart's boundary
# (`re.compile('(?P<sep>' + re.escape(separator) + ...)`, 90 us, and no two
# messages share a boundary). This parser runs the stdlib's own `_parsegen`
# code unchanged, bound to globals in which `re.compile` gives, for exactly
# that pattern, a matcher that tests the literal separator with `startswith`
# and matches the fixed rest with one regex compiled here once. Same
# matches, same `end`, `ws` and `linesep` groups (the only ones `_parsegen`
# reads); any other pattern goes to `re.compile`. The email module is not
# patched: other parsers in the process are unaffected.
_BOUNDARY_HEAD = "(?P<sep>"
_BOUNDARY_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_AFTER_SEPARATOR = re.compile(_BOUNDARY_TAIL[1:])
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


class _BoundaryMatcher:
    __slots__ = ("_size", "separator")

    def __init__(self, separator: str) -> None:
        self.separator = separator
        self._size = len(separator)

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self.separator):
            return None
        return _AFTER_SEPARATOR.match(line, self._size)


class _FeedParserRe:
    """`re`, as the feed parser's `_parsegen` sees it in `_DepthLimitedParser`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: Any, flags: int = 0) -> Any:
        if (_fast_paths and flags == 0 and isinstance(pattern, str) and pattern.startswith(_BOUNDARY_HEAD)
                and pattern.endswith(_BOUNDARY_TAIL)):
            escaped = pattern[len(_BOUNDARY_HEAD) : -len(_BOUNDARY_TAIL)]
            separator = _ESCAPED.sub(r"\1", escaped)
            if re.escape(separator) == escaped:  # a literal separator, as _parsegen builds it
                return _BoundaryMatcher(separator)
        return re.compile(pattern, flags)


_NLCRE_EOL: re.Pattern[str] = vars(feedparser)["NLCRE_eol"]


class _LineEndAtEnd:
    """`NLCRE_eol` (`(\\r\\n|\\r|\\n)\\Z`), searched from two characters before the end.

    `_parsegen` strips the line end before each boundary from the part above
    it with `NLCRE_eol.search(payload)`, which tries the pattern at every
    position of the payload (15 us for a few kB). A match is at most two
    characters and must end at the end, so starting two characters before
    the end finds the same match, span and group.
    """

    @staticmethod
    def search(text: str) -> re.Match[str] | None:
        return _NLCRE_EOL.search(text, max(0, len(text) - 2))


_STOCK_PARSEGEN = FeedParser._parsegen  # type: ignore[attr-defined]
_parsegen_with_boundary_matcher = types.FunctionType(
    _STOCK_PARSEGEN.__code__,
    {**vars(feedparser), "re": _FeedParserRe(), "NLCRE_eol": _LineEndAtEnd()},
    _STOCK_PARSEGEN.__name__,
    _STOCK_PARSEGEN.__defaults__,
    _STOCK_PARSEGEN.__closure__,
)


class _DepthLimitedParser(BytesFeedParser):
    """A `BytesFeedParser` that stops descending below `max_depth` levels.

    `_parse_headers` runs once per part, right after the part is pushed on
    `_msgstack` and before the parser decides whether to descend into it; so
    the stack height there is the part's depth, and rewriting its
    Content-Type to a leaf type makes the parser read its body as bytes.
    It is also where a leaf's body lines can be joined before `_parsegen`
    reads them (`_join_leaf_body`).
    """

    _parsegen = _parsegen_with_boundary_matcher

    def __init__(self, max_depth: int) -> None:
        super().__init__(policy=PARSE_POLICY)
        self._max_depth = max_depth
        self.truncated = 0

    def _parse_headers(self, lines: list[str]) -> None:
        super()._parse_headers(lines)  # type: ignore[misc]
        part: Message = self._cur  # type: ignore[attr-defined]
        _shorten_mime_headers(part)
        stack: list[Message] = self._msgstack  # type: ignore[attr-defined]
        if len(stack) > self._max_depth:  # depth = len(stack) - 1
            self._keep_as_leaf(part)
        if _fast_paths and not self._headersonly:  # type: ignore[attr-defined]
            self._join_leaf_body(part)

    def _keep_as_leaf(self, part: Message) -> None:
        try:
            maintype = part.get_content_maintype()
        except Exception:
            maintype = "multipart"
        if maintype in ("multipart", "message"):
            del part["content-type"]
            part.set_raw("Content-Type", "application/octet-stream")
            part.defects.append(NestingTooDeepDefect())
            self.truncated += 1

    def _join_leaf_body(self, part: Message) -> None:
        """Hand a leaf's body lines to `_parsegen` as one line: the same payload, a fraction of the steps.

        `_parsegen` reads a leaf's body line by line (a generator step, a
        deque pop and every boundary test per line), only to join the lines
        when a boundary or the end comes. Here, between the part's headers
        and its body, the lines already waiting up to the first one a
        boundary of the stack would match are joined into one. That joined
        line matches no boundary either: a boundary matches at the start of
        a line and needs the line's end right after it (`_BoundaryMatcher`;
        nothing is joined under any other end test, as message/delivery-
        status blocks use). The leaf test is `_parsegen`'s own, in its order.
        """
        source = self._input  # type: ignore[attr-defined]
        waiting = source._lines
        if len(waiting) < 2:
            return
        matchers = [getattr(test, "__self__", None) for test in source._eofstack]
        if not all(isinstance(m, _BoundaryMatcher) for m in matchers):
            return
        try:
            if not _body_is_one_piece(part):
                return
        except Exception:
            return  # _parsegen asks the same next, and fails the same way
        boundaries = cast(list[_BoundaryMatcher], matchers)
        separators = tuple(m.separator for m in boundaries)
        count = 0
        for line in waiting:
            if separators and line.startswith(separators) and any(m.match(line) for m in boundaries):
                break
            count += 1
        if count < 2:
            return
        lines = list(waiting)
        waiting.clear()
        waiting.append("".join(lines[:count]))
        waiting.extend(lines[count:])


def _body_is_one_piece(part: Message) -> bool:
    """`_parsegen`'s tests: no delivery-status blocks, no message/*, no multipart (`get_content_maintype()`
    is the part of `get_content_type()` before the slash)."""
    ctype = part.get_content_type()
    return ctype != "message/delivery-status" and ctype.split("/")[0] not in ("message", "multipart")


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
        if len(value) > MAX_MIME_SPECIALS  # fewer characters cannot hold more specials
        and name.strip().lower() in _MIME_HEADERS
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
