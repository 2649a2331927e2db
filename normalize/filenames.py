"""Attachment file names that are safe to show, store and hand on.

A name is metadata only (never joined into a path), but downstream helpdesks
and agents' machines do use it, so: base name only, no control characters,
no leading dots, bounded length keeping the extension.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

MAX_NAME_CHARS = 255
_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>:\"|?*\u202a-\u202e\u2066-\u2069]")


def safe_filename(name: str | None, content_type: str = "application/octet-stream") -> str:
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE.sub("", text).strip().lstrip(".").strip()
    if not text:
        ext = mimetypes.guess_extension(content_type.split(";")[0].strip().lower()) or ".bin"
        return "attachment" + ext
    if len(text) > MAX_NAME_CHARS:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            text = stem[: MAX_NAME_CHARS - len(ext) - 1] + "." + ext
        else:
            text = text[:MAX_NAME_CHARS]
    return text
