"""The MIME tree flattened into leaves, walked iteratively within the limits.

Each leaf knows the nearest multipart/alternative above it (and which branch
it sits in), so the body can pick one alternative while everything else
becomes an attachment. message/* parts are leaves: a forwarded message is
kept whole as an attachment, not mixed into this message's body.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import TypeVar, cast

from normalize.email import parse
from normalize.email.settings import EmailLimits

T = TypeVar("T")

BODY_TYPES = ("text/plain", "text/html")


@dataclass(frozen=True)
class Leaf:
    """A leaf part and what is read of its headers, read once (each read goes through the header machinery)."""

    part: Message
    content_type: str
    alternative: tuple[int, int] | None  # (which alternative group, which branch)
    disposition: str | None  # `disposition_of(part)`
    filename: str | None  # `filename_of(part)`

    @classmethod
    def of(cls, part: Message, content_type: str, alternative: tuple[int, int] | None) -> Leaf:
        return cls(part, content_type, alternative, disposition_of(part), filename_of(part))

    @property
    def is_body(self) -> bool:
        """Text meant to be read as the message, not a file attached to it."""
        if self.content_type not in BODY_TYPES:
            return False
        return self.disposition != "attachment" and not self.filename


@dataclass(frozen=True)
class MimeLayout:
    leaves: tuple[Leaf, ...]
    parts: tuple[Message, ...]  # every part visited, containers too
    defects: tuple[str, ...] = ()

    def part_defects(self) -> list[str]:
        """The stdlib's defects of every visited part.

        Read after the content was decoded: base64 and similar defects are
        only recorded on the part when its payload is decoded.
        """
        return [name for part in self.parts for name in part_defects(part)]


# A part still to visit: (part, depth, alternative group and branch).
_Pending = tuple[Message, int, tuple[int, int] | None]


def walk_leaves(root: Message, limits: EmailLimits) -> MimeLayout:
    """Depth-first, document order, at most `max_parts` parts and `max_depth` levels."""
    leaves: list[Leaf] = []
    visited: list[Message] = []
    defects: list[str] = []
    stack: list[_Pending] = [(root, 0, None)]
    count = 0
    groups = 0
    while stack:
        part, depth, alternative = stack.pop()
        count += 1
        if count > limits.max_parts:
            defects.append(f"TooManyParts: only the first {limits.max_parts} parts were read")
            break
        visited.append(part)
        ctype = content_type_of(part)
        children = _children(part) if ctype.startswith("multipart/") else None
        if children is None:
            # A multipart without a usable boundary is parsed as text: read it so.
            leaf_type = "text/plain" if ctype.startswith("multipart/") else ctype
            leaves.append(Leaf.of(part, leaf_type, alternative))
            continue
        if depth >= limits.max_depth:
            defects.append(f"MaxDepthExceeded: parts below depth {limits.max_depth} were dropped")
            continue
        entries: list[_Pending]
        if ctype == "multipart/alternative":
            groups += 1
            entries = [(child, depth + 1, (groups, i)) for i, child in enumerate(children)]
        else:
            entries = [(child, depth + 1, alternative) for child in children]
        stack.extend(reversed(entries))
    return MimeLayout(tuple(leaves), tuple(visited), tuple(dict.fromkeys(defects)))


def _children(part: Message) -> list[Message] | None:
    try:
        if not part.is_multipart():
            return None
        payload = part.get_payload()
    except Exception:
        return None
    if not isinstance(payload, list):
        return None
    return [child for child in payload if isinstance(child, Message)]


# What the legacy `Message` methods read out of a part's Content-Type and
# Content-Disposition (`get_content_type`, `get_param`, `get_filename`) is a
# function of those headers' text alone: parameters are split and unquoted
# again on every call, ten to forty microseconds each. The answers are
# remembered by that text (the same few Content-Type values recur in every
# message); a missing header is always asked for, its default depends on the
# part's place. Bounded like the header memo.
MEMO_ENTRIES = 512
_MEMO_TEXT_CHARS = 2048
_memo: dict[tuple[str | None, ...], object] = {}
_UNSET = object()
_CT = "content-type"
_CD = "content-disposition"


def _by_header_text(part: Message, what: str, headers: tuple[str, ...], compute: Callable[[], T]) -> T:
    """`compute()`, remembered by the text of `headers` (the first of each name, as the stdlib reads)."""
    if not parse.fast_paths_enabled():
        return compute()
    key: tuple[str | None, ...] = (what,)
    for name in headers:
        value = part.get(name)
        key += (None if value is None else str(value),)
    return _remembered(key, compute)


def _remembered(key: tuple[str | None, ...], compute: Callable[[], T]) -> T:
    if any(text is not None and len(text) > _MEMO_TEXT_CHARS for text in key):
        return compute()
    found = _memo.get(key, _UNSET)
    if found is _UNSET:
        if len(_memo) >= MEMO_ENTRIES:
            _memo.clear()
        found = _memo[key] = compute()
    return cast(T, found)


def content_type_of(part: Message) -> str:
    """`maintype/subtype` in lower case; application/octet-stream if unreadable."""
    try:
        value = part.get(_CT)
        if value is None or not parse.fast_paths_enabled():  # no header: the part's place decides the default
            return _clean_content_type(part.get_content_type())
        return _remembered(("type", str(value)), lambda: _clean_content_type(part.get_content_type()))
    except Exception:
        return "application/octet-stream"


def _clean_content_type(ctype: str) -> str:
    ctype = ctype.strip().lower()
    main, slash, sub = ctype.partition("/")
    if not slash or not _is_token(main) or not _is_token(sub):
        return "application/octet-stream"
    return ctype


def report_type_of(part: Message) -> str | None:
    """`report-type` of a multipart/report (delivery-status, disposition-notification, ...)."""
    if content_type_of(part) != "multipart/report":
        return None
    try:
        value = _by_header_text(part, "report-type", (_CT,), lambda: part.get_param("report-type"))
    except Exception:
        return None
    return value.strip().lower() if isinstance(value, str) else None


def disposition_of(part: Message) -> str | None:
    try:
        value = part.get_content_disposition()
    except Exception:
        return None
    return value.lower() if isinstance(value, str) else None


def filename_of(part: Message) -> str | None:
    """The declared file name (RFC 2231 decoded by the stdlib), raw otherwise."""
    try:
        name = _by_header_text(part, "filename", (_CD, _CT), part.get_filename)
    except Exception:
        return None
    return name if isinstance(name, str) and name else None


def charset_of(part: Message) -> str | None:
    try:
        value = _by_header_text(part, "charset", (_CT,), lambda: part.get_param("charset"))
    except Exception:
        return None
    if isinstance(value, tuple):  # RFC 2231 form: (charset, language, value)
        value = value[2]
    return value if isinstance(value, str) else None


def header_of(part: Message, name: str) -> str | None:
    """A part header's raw value, for flags like Content-ID, never raising."""
    try:
        for key, value in part.raw_items():
            if key.lower() == name:
                return str(value)
    except Exception:
        return None
    return None


def payload_bytes(part: Message) -> bytes:
    """The transfer-decoded content of a leaf (base64, quoted-printable, ...)."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        raw = part.get_payload()
    except Exception:
        return b""
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def part_defects(part: Message) -> list[str]:
    try:
        return [type(defect).__name__ for defect in part.defects]
    except Exception:
        return []


_TOKEN = re.compile(r"[a-z0-9!#$%&'*+\-.^_`|~]{1,127}")


def _is_token(text: str) -> bool:
    """1 to 127 of `abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~`."""
    return _TOKEN.fullmatch(text) is not None
