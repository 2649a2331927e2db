"""Requester, threading keys, extras, external id, and malformed or empty input."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from normalize.email import EmailSettings, email_external_id, normalize_email
from normalize.email.addresses import parse_sender
from normalize.email.threading_keys import subject_base
from normalize.errors import NormalizeError
from normalize.schema import Channel, Kind, MessageDraft, ThreadHint, Transport

FIXTURES = Path(__file__).parent / "fixtures" / "email"
RECEIVED = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)


def draft(raw: bytes, **kwargs: object) -> MessageDraft:
    return normalize_email(raw, transport=Transport.SMTP, received_at=RECEIVED, **kwargs)[0]  # type: ignore[arg-type]


def mail(headers: str, body: str = "Body.\n") -> bytes:
    return headers.strip("\n").replace("\n", "\r\n").encode() + b"\r\n\r\n" + body.replace("\n", "\r\n").encode()


REPLY = mail("""
From: "Ann Example" <Ann.Example@Example.ORG>
Reply-To: Team <team@Example.org>, other@example.org
To: support@desk.example, Bob <bob@example.org>
Cc: carol@EXAMPLE.org
Subject: RE: Fwd: AW: [#T-123] Printer
Message-ID: <reply-1@mail.example.org>
In-Reply-To: <ack-3@gateway.invalid>
References: <root@mail.example.org>
 <ack-1@gateway.invalid> <ack-3@gateway.invalid>
Date: Tue, 02 Jan 2024 09:15:00 +0100
List-Id: <not-really.example.org>
Content-Language: hu-HU
""")


def test_a_reply_yields_requester_hints_and_extras() -> None:
    result = draft(REPLY, mail_from="ann.example@example.org", rcpt_tos=("support@desk.example",))
    assert result.channel is Channel.EMAIL and result.transport is Transport.SMTP
    assert result.external_id == "reply-1@mail.example.org"
    assert result.requester.name == "Ann Example"
    assert result.requester.email == "Ann.Example@example.org"  # local part as sent, domain lower case
    assert result.requester.language == "hu-HU"
    assert result.subject == "RE: Fwd: AW: [#T-123] Printer"
    assert result.thread_hints == (
        ThreadHint("message_id", "ack-3@gateway.invalid"),
        ThreadHint("message_id", "ack-1@gateway.invalid"),
        ThreadHint("message_id", "root@mail.example.org"),
        ThreadHint("ticket_ref", "T-123"),
    )
    extras = result.extras
    assert extras["subject_base"] == "[#T-123] Printer"
    assert extras["message_id"] == "reply-1@mail.example.org"
    assert extras["in_reply_to"] == "ack-3@gateway.invalid"
    assert extras["references"] == ["root@mail.example.org", "ack-1@gateway.invalid", "ack-3@gateway.invalid"]
    assert extras["to"] == ["support@desk.example", "bob@example.org"]
    assert extras["cc"] == ["carol@example.org"]
    assert extras["reply_to"] == ["team@example.org", "other@example.org"]
    assert extras["mail_from"] == "ann.example@example.org"
    assert extras["rcpt_tos"] == ["support@desk.example"]
    assert extras["date"] == "Tue, 02 Jan 2024 09:15:00 +0100"
    assert extras["list_id"] == "<not-really.example.org>"
    assert "sender_unverified" not in extras
    assert result.sent_at == datetime(2024, 1, 2, 9, 15, tzinfo=timezone(timedelta(hours=1)))
    assert result.received_at == RECEIVED
    json.dumps(result.to_json())  # extras stay JSON


def test_ticket_ref_pattern_comes_from_settings() -> None:
    settings = EmailSettings(ticket_ref_pattern=r"Ticket#(\d+)")
    result = draft(mail("From: a@example.org\nSubject: Re: Ticket#998 printer"), settings=settings)
    assert result.thread_hints == (ThreadHint("ticket_ref", "998"),)


def test_a_pattern_without_a_group_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError):
        EmailSettings(ticket_ref_pattern=r"T-\d+")


@pytest.mark.parametrize(
    ("subject", "base"),
    [
        ("Re: Printer", "Printer"),
        ("RE: Fwd: FW: AW: WG: VS: SV: Printer", "Printer"),
        ("Re[2]: Printer", "Printer"),
        ("Re: re: RE:Printer", "Printer"),
        ("Balas: Terusan: Printer", "Printer"),
        ("Ответ: Отв: Принтер", "Принтер"),
        ("Válasz: Továbbítás: Nyomtató", "Nyomtató"),
        ("Printer: Re: broken", "Printer: Re: broken"),
        ("Reply needed", "Reply needed"),
        ("", ""),
    ],
)
def test_subject_base(subject: str, base: str) -> None:
    assert subject_base(subject) == base


@pytest.mark.parametrize(
    "value",
    [
        "alice@example.org<bob@evil.example>",
        "alice@example.org(bob@evil.example",
        '"a@b"@c.example',
        "Alice alice@example.org",
        "a@example.org, b@example.org",
        "Alice <alice@example.org> <bob@evil.example>",
        "Alice <alice@example.org",
        "undisclosed-recipients:;",
        "",
    ],
)
def test_ambiguous_or_unparseable_senders_are_never_attributed(value: str) -> None:
    result = draft(mail(f"From: {value}\nSubject: who"))
    assert result.requester.email is None
    assert result.extras["sender_unverified"] is True
    assert any(d in result.defects for d in ("UnparseableFrom", "AmbiguousFromAddress", "MissingFrom"))


@pytest.mark.parametrize(
    "value", ['"alice@example.org" <bob@evil.example>', "=?utf-8?q?alice=40example.org?= <bob@evil.example>"]
)
def test_an_address_in_the_display_name_is_flagged_not_believed(value: str) -> None:
    result = draft(mail(f"From: {value}\nSubject: who"))
    assert result.requester.email == "bob@evil.example"
    assert "DisplayNameHoldsAnotherAddress" in result.defects


def test_the_cve_2023_27043_fixture_shows_the_whole_header_to_humans() -> None:
    result = draft((FIXTURES / "ambiguous_from.eml").read_bytes())
    assert result.requester.email is None
    assert result.extras["from"] == "alice@example.org<bob@evil.example>"


def test_a_missing_from_is_unverified() -> None:
    result = draft(mail("Subject: no sender"))
    assert result.requester.email is None and result.extras["sender_unverified"] is True


@pytest.mark.parametrize(
    ("value", "name", "email"),
    [
        ("bob@example.org", None, "bob@example.org"),
        ("bob@example.org (Bob Smith)", "Bob Smith", "bob@example.org"),
        ('"Smith, Bob" <bob@example.org>', "Smith, Bob", "bob@example.org"),
        ('"alice@example.org" <bob@evil.example>', "alice@example.org", "bob@evil.example"),
        ("Bob Q. Public <bob@Sub.Example.ORG>", "Bob Q. Public", "bob@sub.example.org"),
        ("Jörg <jörg@exämple.org>", "Jörg", "jörg@exämple.org"),
        ('"john doe"@example.org', None, '"john doe"@example.org'),
        ("bob@[192.0.2.1]", None, "bob@[192.0.2.1]"),
    ],
)
def test_well_formed_senders(value: str, name: str | None, email: str) -> None:
    sender = parse_sender(value)
    assert (sender.name, sender.email, sender.verified) == (name, email, True)


def test_external_id_is_the_message_id_without_brackets_or_controls() -> None:
    assert email_external_id(b"Message-ID:  <a\x01b@example.org> \r\n\r\nx") == "ab@example.org"
    assert email_external_id(b"Message-Id: no-brackets@example.org\r\n\r\nx") == "no-brackets@example.org"


def test_external_id_without_message_id_is_the_hash_of_the_bytes() -> None:
    raw = b"From: a@example.org\r\nSubject: no id\r\n\r\nbody"
    assert email_external_id(raw) == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert draft(raw).external_id == email_external_id(raw)
    assert email_external_id(b"") == "sha256:" + hashlib.sha256(b"").hexdigest()


def test_an_unparseable_date_leaves_sent_at_empty() -> None:
    assert draft(mail("From: a@example.org\nDate: the day after tomorrow")).sent_at is None
    naive = draft(mail("From: a@example.org\nDate: Tue, 02 Jan 2024 09:15:00 -0000")).sent_at
    assert naive is not None and naive.tzinfo is not None


def test_malformed_headers_are_normalized_with_defects() -> None:
    result = draft((FIXTURES / "malformed_headers.eml").read_bytes())
    assert result.kind is Kind.NEW
    assert result.requester.email == "broken@example.org"
    assert "MissingHeaderBodySeparatorDefect" in result.defects
    assert "Body survives." in result.text  # what the stdlib took for body is kept, not dropped


def test_nul_bytes_folding_and_junk_in_headers() -> None:
    raw = (
        b"From: Ann <ann@example.org>\r\n"
        b"Subject: split\r\n  over\tlines\x00 with NUL\r\n"
        b"X-Empty:\r\n"
        b'Content-Type: text/plain; charset="utf-8\r\n'  # unterminated quote
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"SGVsbG8gd29ybGQ=\r\n=garbage="
    )
    result = draft(raw)
    assert result.subject == "split over lines with NUL"
    assert result.text.startswith("Hello world")
    assert "InvalidBase64CharactersDefect" in result.defects or "InvalidBase64PaddingDefect" in result.defects


def test_a_multipart_without_boundary_reads_as_text() -> None:
    raw = mail("From: a@example.org\nContent-Type: multipart/mixed", "just text")
    result = draft(raw)
    assert result.text == "just text"
    assert "NoBoundaryInMultipartDefect" in result.defects


@pytest.mark.parametrize("raw", [b"", b"   \r\n\t", b"\x00\x00\x00", b"\r\n\r\n"])
def test_input_without_anything_usable_raises_normalize_error(raw: bytes) -> None:
    with pytest.raises(NormalizeError):
        draft(raw)


def test_body_without_headers_is_still_a_message() -> None:
    result = draft(b"just some text, no headers at all")
    assert result.text == "just some text, no headers at all"
    assert result.extras["sender_unverified"] is True
