"""Attachments: safe names, limits, forwarded messages, and MIME trees bounded in depth and size."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from normalize.email import EmailLimits, EmailSettings, ExtractedAttachment, normalize_email
from normalize.filenames import safe_filename
from normalize.schema import MessageDraft, Transport

FIXTURES = Path(__file__).parent / "fixtures" / "email"
RECEIVED = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)


def run(raw: bytes, limits: EmailLimits | None = None) -> tuple[MessageDraft, list[ExtractedAttachment]]:
    settings = EmailSettings(limits=limits or EmailLimits())
    return normalize_email(raw, transport=Transport.IMAP, received_at=RECEIVED, settings=settings)


def with_parts(*parts: bytes, boundary: bytes = b"b") -> bytes:
    head = b"From: a@example.org\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n"
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return head + body + b"--" + boundary + b"--\r\n"


def binary_part(name: bytes, content: bytes, ctype: bytes = b"application/pdf") -> bytes:
    return (
        b"Content-Type: " + ctype + b'\r\nContent-Disposition: attachment; filename="' + name + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(content)
    )


def test_hostile_file_names_are_reduced_to_safe_base_names() -> None:
    draft, found = run((FIXTURES / "hostile_names.eml").read_bytes())
    names = [a.name for a in draft.attachments]
    assert names[:5] == ["passwd", "win.ini", "report.pdf", "secret.txt", "árvíztűrő tükör.docx"]
    long_name = names[5]
    assert len(long_name.encode()) == 255 and long_name.endswith(".pdf")
    assert names[6] == "attachment.bin"  # empty name: default stem and the type's extension
    assert names[7] == "отчёт.pdf"  # an RFC 2047 encoded name
    assert names[8] == "invoice.pdfgpj.exe"  # the bidi override that disguised ".exe" is gone
    assert names[9] == "_CON.txt"
    assert names[10] == "attachment.png"
    for name in names:
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert all(ch.isprintable() for ch in name)
    assert found[0].content == b"hello"
    assert found[0].meta.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert found[0].meta.size == 5


@pytest.mark.parametrize(
    ("declared", "content_type", "expected"),
    [
        ("../../etc/passwd", "text/plain", "passwd"),
        ("..\\..\\win.ini", "text/plain", "win.ini"),
        ("/abs/path", "application/pdf", "path"),
        ("C:\\Users\\x\\evil.bat", "application/octet-stream", "evil.bat"),
        ("a\x00b\r\nc.txt", "text/plain", "abc.txt"),
        ("..", "application/pdf", "attachment.pdf"),
        ("   ", "image/jpeg", "attachment.jpg"),
        (None, "message/rfc822", "attachment.eml"),
        (".hidden", "text/plain", "hidden"),
        ("x" * 300, "text/plain", "x" * 255),
        ("é" * 200 + ".txt", "text/plain", "é" * 125 + ".txt"),
        ('inv"oi<ce>|?*.pdf', "application/pdf", "invoice.pdf"),
    ],
)
def test_safe_filename(declared: str | None, content_type: str, expected: str) -> None:
    assert safe_filename(declared, content_type) == expected


def test_rfc2231_names_are_decoded_then_sanitized() -> None:
    part = (
        b"Content-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''..%2F..%2F%C3%A9t%C3%A9.pdf\r\n\r\nx"
    )
    assert run(with_parts(part))[0].attachments[0].name == "été.pdf"


def test_attachment_over_the_per_attachment_limit_keeps_metadata_only() -> None:
    big, small = b"B" * 3000, b"s" * 10
    raw = with_parts(b"Content-Type: text/plain\r\n\r\nsee attached", binary_part(b"big.pdf", big),
                     binary_part(b"small.pdf", small))  # fmt: skip
    draft, found = run(raw, EmailLimits(max_attachment_bytes=1000))
    assert [a.content for a in found] == [None, small]
    assert draft.attachments[0].size == 3000
    assert draft.attachments[0].sha256 == hashlib.sha256(big).hexdigest()
    assert "per-attachment limit" in (draft.attachments[0].note or "")
    assert draft.attachments[1].note is None
    assert draft.text == "see attached"


def test_attachments_over_the_per_message_limit_keep_metadata_only() -> None:
    parts = [binary_part(b"%d.pdf" % i, bytes([i]) * 400) for i in range(4)]
    _, found = run(with_parts(*parts), EmailLimits(max_total_attachment_bytes=1000))
    assert [a.content is not None for a in found] == [True, True, False, False]
    assert all("per-message" in (a.meta.note or "") for a in found[2:])


def test_inline_image_is_flagged_inline() -> None:
    image = b"Content-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo="
    draft = run(with_parts(b"Content-Type: text/plain\r\n\r\nhi", image))[0]
    assert [(a.name, a.content_type, a.inline) for a in draft.attachments] == [("attachment.png", "image/png", True)]


def test_forwarded_message_is_kept_whole_as_eml() -> None:
    draft, found = run((FIXTURES / "forwarded_rfc822.eml").read_bytes())
    assert draft.text == "Please have a look at the forwarded mail."
    assert [(a.name, a.content_type) for a in draft.attachments] == [("attachment.eml", "message/rfc822")]
    inner = message_from_bytes(found[0].content or b"", policy=policy.default)
    assert inner["Subject"] == "Quarterly numbers"
    assert inner["Message-ID"] == "<inner-1@example.com>"
    assert "The numbers are attached." in inner.get_content()


def nested_multipart(depth: int) -> bytes:
    head = b"From: a@example.org\r\nSubject: deep\r\n"
    opening = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth))
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nbottom" + closing


def nested_rfc822(depth: int) -> bytes:
    layers = b"".join(b"From: a%d@example.org\r\nContent-Type: message/rfc822\r\n\r\n" % i for i in range(depth))
    return layers + b"From: x@example.org\r\nSubject: inner\r\n\r\nbody\r\n"


@pytest.mark.parametrize("build", [nested_multipart, nested_rfc822])
def test_thousand_level_nesting_is_truncated_without_recursion_error(build: object) -> None:
    raw = build(1000)  # type: ignore[operator]
    started = time.monotonic()
    draft, found = run(raw)
    assert time.monotonic() - started < 5
    assert "NestingTooDeepDefect" in draft.defects
    assert len(found) == 1  # the truncated subtree, kept as an opaque attachment


def test_nesting_within_the_limit_is_read_normally() -> None:
    draft = run(nested_multipart(10))[0]
    assert draft.text == "bottom"
    assert "NestingTooDeepDefect" not in draft.defects


def test_many_parts_are_capped_with_a_defect() -> None:
    parts = [b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment\r\n\r\nx"] * 1200
    draft, found = run(with_parts(*parts), EmailLimits(max_parts=100))
    assert len(found) == 99  # the root counts as a part
    assert any(d.startswith("TooManyParts") for d in draft.defects)


def test_a_huge_content_type_header_is_cut_down_quickly() -> None:
    raw = b"From: a@example.org\r\nContent-Type: text/plain; " + b"a=b; " * 50_000 + b"charset=utf-8\r\n\r\nbody"
    started = time.monotonic()
    draft = run(raw)[0]
    assert time.monotonic() - started < 3
    assert draft.text == "body"
    assert "HeaderTooLongDefect" in draft.defects
