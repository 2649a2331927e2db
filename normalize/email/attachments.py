"""Attachments and inline images: safe metadata always, content within the limits.

Every non-body leaf becomes an attachment, so nothing the sender attached
disappears silently: over a limit, the metadata (size, sha256) stays and
`note` says why the content is missing. A forwarded message
(`message/rfc822`) is kept whole, as an `.eml` file.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from email import policy
from email.generator import BytesGenerator
from email.message import Message

from normalize.email.parts import Leaf, header_of, payload_bytes
from normalize.email.settings import EmailLimits
from normalize.filenames import safe_filename
from normalize.schema import Attachment

# Re-serialising a forwarded message: compat32 writes the parsed raw header
# values back unchanged (no refolding), and never mangles "From " lines.
_EML_POLICY = policy.compat32.clone(max_line_length=0)


@dataclass(frozen=True)
class ExtractedAttachment:
    meta: Attachment
    content: bytes | None  # None when over a limit (meta.note says why)


def extract_attachments(leaves: tuple[Leaf, ...], limits: EmailLimits) -> tuple[list[ExtractedAttachment], list[str]]:
    """Every non-body leaf, in document order, with the size limits applied."""
    found: list[ExtractedAttachment] = []
    defects: list[str] = []
    kept_bytes = 0
    for leaf in leaves:
        if leaf.is_body:
            continue
        content, note = _content(leaf)
        if note:
            defects.append(f"AttachmentUnreadable: {note}")
        size = len(content)
        if size > limits.max_attachment_bytes:
            note = f"over the per-attachment limit ({size} > {limits.max_attachment_bytes} bytes)"
        elif kept_bytes + size > limits.max_total_attachment_bytes:
            note = f"over the per-message attachment limit ({limits.max_total_attachment_bytes} bytes)"
        keep = note is None
        if keep:
            kept_bytes += size
        meta = Attachment(
            name=safe_filename(leaf.filename, leaf.content_type),
            content_type=leaf.content_type,
            size=size,
            sha256=hashlib.sha256(content).hexdigest(),
            inline=_is_inline(leaf),
            note=note,
        )
        found.append(ExtractedAttachment(meta, content if keep else None))
    return found, defects


def _content(leaf: Leaf) -> tuple[bytes, str | None]:
    """The attachment's bytes; message/* parts re-serialised as a file."""
    if not leaf.content_type.startswith("message/"):
        return payload_bytes(leaf.part), None
    try:
        payload = leaf.part.get_payload()
    except Exception:
        payload = None
    if not isinstance(payload, list):
        return payload_bytes(leaf.part), None
    try:
        if len(payload) == 1 and isinstance(payload[0], Message) and not _is_status(leaf):
            return _flatten(payload[0]), None
        return _without_headers(_flatten(leaf.part)), None
    except Exception as exc:  # a tree the generator cannot write back
        return b"", f"{leaf.content_type} could not be serialised ({type(exc).__name__})"


def _is_status(leaf: Leaf) -> bool:
    return leaf.content_type in ("message/delivery-status", "message/disposition-notification")


def _flatten(message: Message) -> bytes:
    buffer = io.BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=_EML_POLICY).flatten(message)
    return buffer.getvalue()


def _without_headers(data: bytes) -> bytes:
    for separator in (b"\r\n\r\n", b"\n\n"):
        _head, found, body = data.partition(separator)
        if found:
            return body
    return data


def _is_inline(leaf: Leaf) -> bool:
    if leaf.disposition is not None:
        return leaf.disposition == "inline"
    return header_of(leaf.part, "content-id") is not None
