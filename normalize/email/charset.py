"""Bytes of a text part to `str`, trusting the declared charset when it holds.

Rules, in order (bytes are decoded once into the result; earlier attempts
only test):
1. A declared, known charset that decodes the bytes cleanly is used.
2. Otherwise (no declaration, unknown name, or bytes the declared charset
   cannot decode: a lying label) the bytes are tried as UTF-8; if that fails
   too, whichever of UTF-8-with-replacements or cp1252 loses less is used.
   cp1252 stands for latin-1: it is what "iso-8859-1" mail really is.
3. A lying legacy label whose bytes are not UTF-8 either keeps its own
   charset with replacement characters: trust the declaration.
Nothing here raises: the worst outcome is U+FFFD.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

# Labels mail uses that Python spells differently, or that are better read by
# a superset (as browsers do): the superset decodes everything the subset does.
_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "x-sjis": "cp932",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "tis-620": "cp874",
    "x-mac-roman": "mac_roman",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
}

# Codecs that are text encodings to Python but no charset a mail can carry,
# and that can turn escapes into surprising characters.
_REFUSED = {"unicode-escape", "raw-unicode-escape", "undefined", "idna", "punycode", "mbcs", "oem"}

_UTF8_FAMILY = {"utf-8", "ascii"}


@dataclass(frozen=True)
class DecodedText:
    text: str
    charset: str  # the codec actually used
    defects: tuple[str, ...] = ()


def resolve_charset(label: str | None) -> str | None:
    """The Python codec name for a MIME charset label, or None if unusable."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if not name or len(name) > 40:
        return None
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    # Bytes-to-bytes codecs (zlib, base64, rot13, ...) are not text encodings.
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("_", "-") in _REFUSED:
        return None
    return "utf-8" if info.name == "utf-8" else info.name


def decode_text(data: bytes, declared: str | None) -> DecodedText:
    """Decode a text part's bytes; see the module docstring for the rules."""
    codec = resolve_charset(declared)
    defects: list[str] = []
    if declared and codec is None:
        defects.append(f"UnknownCharset: {_label(declared)}")
    if codec is not None:
        strict = _try_decode(data, codec)
        if strict is not None:
            return DecodedText(strict, codec, tuple(defects))
        defects.append(f"CharsetMismatch: {_label(declared)}")
    if codec != "utf-8":
        as_utf8 = _try_decode(data, "utf-8")
        if as_utf8 is not None:
            return DecodedText(as_utf8, "utf-8", tuple(defects))
    if codec is not None and codec not in _UTF8_FAMILY:
        return DecodedText(_decode_replacing(data, codec), codec, tuple(defects))
    return _best_guess(data, defects)


def _best_guess(data: bytes, defects: list[str]) -> DecodedText:
    """UTF-8 with a few bad bytes, or single-byte text: pick the one that fits."""
    utf8 = data.decode("utf-8", "replace")
    replaced = utf8.count("\ufffd")
    decoded_multibyte = sum(1 for ch in utf8 if ord(ch) > 0x7F) - replaced
    if decoded_multibyte > replaced:
        return DecodedText(utf8, "utf-8", tuple(defects))
    return DecodedText(data.decode("cp1252", "replace"), "cp1252", tuple(defects))


def _try_decode(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError, ValueError, TypeError):
        return None


def _decode_replacing(data: bytes, codec: str) -> str:
    try:
        return data.decode(codec, "replace")
    except (UnicodeError, LookupError, ValueError, TypeError):
        return data.decode("cp1252", "replace")


def _label(declared: str | None) -> str:
    """The declared label, safe to put in a defect string."""
    text = "".join(ch for ch in (declared or "") if ch.isprintable() and ch != " ")
    return text[:40]
