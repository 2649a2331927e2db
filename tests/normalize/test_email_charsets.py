"""Charsets of bodies and headers: declared ones trusted, broken ones degrade, never raise."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from normalize.email import normalize_email
from normalize.email.charset import decode_text, resolve_charset
from normalize.schema import MessageDraft, Transport

FIXTURES = Path(__file__).parent / "fixtures" / "email"
RECEIVED = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)


def draft(raw: bytes) -> MessageDraft:
    return normalize_email(raw, transport=Transport.IMAP, received_at=RECEIVED)[0]


def fixture(name: str) -> MessageDraft:
    return draft((FIXTURES / name).read_bytes())


@pytest.mark.parametrize(
    ("name", "subject", "body"),
    [
        ("charset_koi8r.eml", "Не работает принтер", "Здравствуйте!\nНе работает принтер на третьем этаже."),
        ("charset_iso8859_2.eml", "Árvíztűrő tükörfúrógép", "Jó napot!\nÁrvíztűrő tükörfúrógép nem működik."),
        ("charset_shift_jis.eml", "プリンター故障", "こんにちは。\nプリンターが動きません。"),
    ],
)
def test_declared_charsets_decode_subject_and_body(name: str, subject: str, body: str) -> None:
    result = fixture(name)
    assert result.subject == subject
    assert result.text == body
    assert result.defects == ()


def test_a_lying_utf8_label_on_latin1_bytes_reads_as_latin1() -> None:
    result = fixture("charset_lying.eml")
    assert result.text == "Grüße aus Köln, der Drucker ist kaputt."
    assert "CharsetMismatch: utf-8" in result.defects


def test_an_unknown_charset_label_falls_back_without_raising() -> None:
    result = fixture("charset_unknown.eml")
    assert result.text == "Unknown label, UTF-8 bytes: naïve café"
    assert "UnknownCharset: x-unknown-charset" in result.defects
    assert result.subject.startswith("Unbekannt")  # the encoded word's bytes, read as UTF-8


def test_a_missing_charset_is_detected_as_cp1252_when_not_utf8() -> None:
    assert fixture("charset_missing.eml").text == "No charset declared: Ärger mit Übersetzung"


def test_rfc2047_subject_and_name_in_several_charsets() -> None:
    result = fixture("subject_rfc2047.eml")
    assert result.subject == "Заявка:árvíztűrő日本語€ Preis"
    assert result.requester.name == "Kovács János"
    assert result.requester.email == "janos@example.hu"


def test_raw_utf8_header_bytes_are_decoded() -> None:
    result = fixture("subject_raw_utf8.eml")
    assert result.subject == "Nyomtató – hiba"
    assert result.requester.name == "Jörg Müller"


def test_encoded_crlf_cannot_inject_headers() -> None:
    result = fixture("header_injection.eml")
    for value in (result.subject, result.requester.name or "", result.extras["from"], result.extras["subject_base"]):
        assert "\r" not in value and "\n" not in value
    assert result.subject == "Hello Bcc: victim@example.net"
    assert result.requester.email == "mallory@example.org"


def test_control_characters_and_nul_are_stripped_from_headers() -> None:
    raw = b"From: Eve\x01 <eve@example.org>\r\nSubject: a\x00b\x07c\x1b[31m\xc2\x85d\r\n\r\nbody\r\n"
    result = draft(raw)
    assert result.subject == "a b c [31m d"
    assert all(ch.isprintable() for ch in result.subject)


def test_body_keeps_lines_but_drops_nul_and_normalises_line_ends() -> None:
    raw = b"From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n\r\none\x00\r\ntwo\rthree\r\n"
    assert draft(raw).full_text == "one\ntwo\nthree"


@pytest.mark.parametrize(
    ("data", "declared", "expected", "charset"),
    [
        ("Привет".encode("koi8-r"), "KOI8-R", "Привет", "koi8-r"),
        ("Árvíz".encode("iso-8859-2"), "iso-8859-2", "Árvíz", "iso8859-2"),
        ("日本".encode("shift_jis"), "Shift_JIS", "日本", "cp932"),
        ("naïve".encode(), None, "naïve", "utf-8"),
        ("naïve".encode("latin-1"), None, "naïve", "cp1252"),
        ("“quoted”".encode("cp1252"), "iso-8859-1", "“quoted”", "cp1252"),  # the label means cp1252
        ("naïve".encode(), "x-unknown", "naïve", "utf-8"),
        ("naïve".encode(), "zlib", "naïve", "utf-8"),  # a bytes codec is no charset
        ("naïve".encode(), "unicode_escape", "naïve", "utf-8"),
        ("naïve".encode(), "utf-8\x00", "naïve", "utf-8"),
        (b"+AGEAYgBj-", "utf-7", "abc", "utf-7"),
    ],
)
def test_decode_text_rules(data: bytes, declared: str | None, expected: str, charset: str) -> None:
    decoded = decode_text(data, declared)
    assert (decoded.text, decoded.charset) == (expected, charset)


def test_utf8_with_one_bad_byte_stays_utf8_with_a_replacement() -> None:
    decoded = decode_text("Grüße aus Köln ".encode() + b"\xff", "utf-8")
    assert decoded.text == "Grüße aus Köln \ufffd"


def test_a_lying_legacy_label_keeps_its_charset_with_replacements() -> None:
    decoded = decode_text(b"\x82\xa0\x82", "shift_jis")  # cut-off Shift_JIS, invalid UTF-8
    assert decoded.charset == "cp932"
    assert "\ufffd" in decoded.text


def test_resolve_charset_refuses_non_text_codecs() -> None:
    assert resolve_charset("base64") is None
    assert resolve_charset("rot13") is None
    assert resolve_charset("") is None
    assert resolve_charset("x" * 100) is None
    assert resolve_charset("UTF8") == "utf-8"
