"""Cleaning of decoded text before anything downstream sees it.

Header values end up in database columns, JSON, logs and outbound headers
(acknowledgements quote the subject), so CR, LF and every other control
character are removed from them: nothing derived from a header may start a
new header. Bodies keep their line structure but lose NUL (PostgreSQL text
cannot hold it) and lone surrogates (not encodable as UTF-8 JSON).
"""

from __future__ import annotations

import re
import unicodedata

# C0, DEL, C1, and the Unicode line/paragraph separators some renderers honour.
_HEADER_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# The C0 controls but tab, LF and CR, and DEL: as bytes, since none of them occurs inside a multi-byte
# UTF-8 sequence, deleting them from the UTF-8 form deletes exactly those characters, at memcpy speed.
_BODY_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_SURROGATE_RUN = re.compile(r"[\udc80-\udcff]+")
_ANY_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SPACES = re.compile(r"[ \t]{2,}")
_BIDI_CONTROLS = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def decode_surrogates(text: str) -> str:
    """Turn bytes the parser kept as surrogate escapes back into characters.

    The stdlib parser reads bytes as ASCII with `surrogateescape`, so raw
    8-bit header bytes arrive as U+DC80..U+DCFF. Each run is decoded as UTF-8
    (the usual case, SMTPUTF8) or else cp1252, so they never reach storage.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")  # strict UTF-8 refuses exactly the surrogates
        return text
    except UnicodeEncodeError:
        pass

    def _run(match: re.Match[str]) -> str:
        data = match.group(0).encode("utf-8", "surrogateescape")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", "replace")

    text = _SURROGATE_RUN.sub(_run, text)
    return _ANY_SURROGATE.sub("\ufffd", text)


def clean_header_value(text: str) -> str:
    """One line of printable text: controls become spaces, runs of spaces collapse."""
    text = decode_surrogates(text)
    text = _HEADER_CONTROLS.sub(" ", text)
    text = unicodedata.normalize("NFC", text)
    return _SPACES.sub(" ", text).strip()


def has_bidi_controls(text: str) -> bool:
    """Bidi overrides in names or subjects can disguise them; worth a defect."""
    return bool(_BIDI_CONTROLS.search(text))


def clean_body_text(text: str) -> str:
    """Body text with `\\n` line ends, no NUL or other C0 controls except tab."""
    text = decode_surrogates(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    data = text.encode("utf-8")
    kept = data.translate(None, _BODY_CONTROL_BYTES)
    return text if len(kept) == len(data) else kept.decode("utf-8")


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """Cut to `max_chars`; the flag says whether anything was cut."""
    if len(text) <= max_chars:
        return text, False
    return text[:max_chars], True
