"""Attachment names that are safe to show and to hand on, never to join into a path.

Storage keys are generated elsewhere; the name is metadata that agents see
and downstream helpdesks may write to disk. So: decoded first (RFC 2231 by
the stdlib, stray RFC 2047 words here), then reduced to a base name with no
traversal, no control or bidi characters, no characters Windows refuses,
no reserved device names, and at most 255 UTF-8 bytes with the extension kept.
"""

from __future__ import annotations

import re
import unicodedata
from email.header import decode_header, make_header

from normalize.sanitize import decode_surrogates

MAX_NAME_BYTES = 255
DEFAULT_STEM = "attachment"

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069<>:\"|?*]")
_SPACES = re.compile(r"\s+")
_WINDOWS_DEVICES = re.compile(r"(?:con|prn|aux|nul|com[0-9]|lpt[0-9])(?:\..*)?", re.IGNORECASE)
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,16}")

# A fixed table, so a name does not depend on the host's /etc/mime.types.
_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/rfc822-headers": ".txt",
    "text/x-vcard": ".vcf",
    "text/vcard": ".vcf",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/json": ".json",
    "application/xml": ".xml",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/pgp-signature": ".asc",
    "application/ms-tnef": ".dat",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
    "image/svg+xml": ".svg",
    "image/heic": ".heic",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "video/mp4": ".mp4",
}


def extension_for(content_type: str) -> str:
    return _EXTENSIONS.get(content_type.lower(), ".bin")


def safe_filename(declared: str | None, content_type: str) -> str:
    """A display-safe base name; "attachment" plus an extension when nothing is left."""
    name = _decode_words(declared or "")
    name = unicodedata.normalize("NFC", decode_surrogates(name))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("", name)
    name = _SPACES.sub(" ", name).strip(" .")
    if _WINDOWS_DEVICES.fullmatch(name):
        name = f"_{name}"
    if not name:
        return DEFAULT_STEM + extension_for(content_type)
    return _cap_length(name)


def _decode_words(name: str) -> str:
    """Names sent as RFC 2047 encoded words (not allowed, but common)."""
    if "=?" not in name:
        return name
    try:
        return str(make_header(decode_header(name)))
    except Exception:
        return name


def _cap_length(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}" if dot and stem and _EXTENSION.fullmatch(f".{ext}") else ""
    if not suffix:
        stem = name
    budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip(" .")
    return (cut or DEFAULT_STEM) + suffix
