"""Kind detection: auto-replies, bounces (with what bounced), and the gateway's own mail."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from normalize.email import EmailSettings, normalize_email
from normalize.schema import Kind, MessageDraft, ThreadHint, Transport

FIXTURES = Path(__file__).parent / "fixtures" / "email"
RECEIVED = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)


def draft(raw: bytes, mail_from: str | None = None, settings: EmailSettings | None = None) -> MessageDraft:
    return normalize_email(
        raw, transport=Transport.SMTP, received_at=RECEIVED, mail_from=mail_from, settings=settings or EmailSettings()
    )[0]


def fixture(name: str, mail_from: str | None = None) -> MessageDraft:
    return draft((FIXTURES / name).read_bytes(), mail_from=mail_from)


def simple(extra_headers: str = "", subject: str = "Printer broken") -> bytes:
    head = f"From: Ann <ann@example.org>\nTo: support@desk.example\nSubject: {subject}\n{extra_headers}"
    return head.strip("\n").replace("\n", "\r\n").encode() + b"\r\n\r\nThe printer is broken.\r\n"


def test_person_mail_is_new_without_auto_marker() -> None:
    result = draft(simple(), mail_from="ann@example.org")
    assert result.kind is Kind.NEW
    assert "auto" not in result.extras
    assert "own_mail" not in result.extras


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated; owner-email=x@example.org", "Auto-Submitted: auto-generated"),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: junk", "Precedence: junk"),
        ("Precedence: list", "Precedence: list"),
        ("List-Id: Printers <printers.lists.example.org>", "List-Id present"),
        ("X-Autoreply: yes", "X-Autoreply: yes"),
        ("X-Autorespond: Thanks for your mail", "X-Autorespond: Thanks for your mail"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress: All"),
        ("X-Auto-Response-Suppress: OOF, DR", "X-Auto-Response-Suppress: OOF, DR"),
    ],
)
def test_auto_reply_headers(header: str, reason: str) -> None:
    result = draft(simple(header))
    assert result.kind is Kind.AUTO_REPLY
    assert result.extras["auto"]["kind"] == "auto_reply"
    assert result.extras["auto"]["reason"].startswith(reason)


@pytest.mark.parametrize(
    "header",
    ["Auto-Submitted: no", "Precedence: normal", "X-Auto-Response-Suppress: None", "X-Autoreply: no"],
)
def test_headers_that_mean_a_person_sent_it(header: str) -> None:
    assert draft(simple(header)).kind is Kind.NEW


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Printer broken",
        "Out of office until Monday",
        "Automatic reply: Printer broken",
        "Abwesenheitsnotiz: Drucker",
        "Automatische Antwort: Drucker",
        "Házon kívül: Nyomtató",
        "Automatikus válasz: Nyomtató",
        "Balasan Otomatis: Printer",
        "Автоответ: Принтер",
        "Réponse automatique : Imprimante",
        "Respuesta automática: Impresora",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    result = draft(simple(subject=subject))
    assert result.kind is Kind.AUTO_REPLY
    assert result.extras["auto"]["reason"].startswith("out-of-office subject")


def test_a_subject_that_merely_mentions_out_of_office_is_not_auto() -> None:
    assert draft(simple(subject="How do I set my out of office reply?")).kind is Kind.NEW


@pytest.mark.parametrize("mail_from", ["", "<>"])
def test_null_reverse_path_is_auto(mail_from: str) -> None:
    result = draft(simple(), mail_from=mail_from)
    assert result.kind is Kind.AUTO_REPLY
    assert "null reverse path" in result.extras["auto"]["reason"]


def test_return_path_null_counts_when_there_is_no_envelope() -> None:
    assert draft(simple("Return-Path: <>")).kind is Kind.AUTO_REPLY
    assert draft(simple("Return-Path: <>"), mail_from="ann@example.org").kind is Kind.NEW


def test_outlook_out_of_office_fixture() -> None:
    result = fixture("auto_reply_ooo.eml")
    assert result.kind is Kind.AUTO_REPLY
    assert result.extras["auto"] == {"kind": "auto_reply", "reason": "Auto-Submitted: auto-replied"}


@pytest.mark.parametrize(
    ("name", "bounced_id", "recipient", "reason"),
    [
        ("dsn_postfix.eml", "ack-77@gateway.invalid", "Nobody@example.org", "multipart/report"),
        ("ndr_exchange.eml", "ack-78@gateway.invalid", "jdoe@contoso.example", "multipart/report"),
        ("bounce_qmail.eml", "ack-79@gateway.invalid", "gone@example.net", "mailer-daemon sender"),
        ("bounce_exim.eml", "ack-80@gateway.invalid", "lost@example.com", "mailer-daemon sender"),
    ],
)
def test_bounces_name_the_bounced_message_and_recipient(
    name: str, bounced_id: str, recipient: str, reason: str
) -> None:
    result = fixture(name, mail_from="")
    assert result.kind is Kind.BOUNCE
    assert result.extras["auto"]["kind"] == "bounce"
    assert result.extras["auto"]["reason"].startswith(reason)
    assert result.extras["bounced_message_ids"] == [bounced_id]
    assert result.extras["bounced_recipients"] == [recipient]
    assert result.thread_hints[0] == ThreadHint("message_id", bounced_id)


def test_a_bounce_is_not_own_mail_even_though_it_quotes_own_mail() -> None:
    assert "own_mail" not in fixture("dsn_postfix.eml").extras


def test_exchange_ndr_flag_alone_marks_a_bounce() -> None:
    result = draft(simple("X-MS-Exchange-Message-Is-Ndr:", subject="Something"))
    assert result.kind is Kind.BOUNCE
    assert result.extras["auto"]["reason"] == "X-MS-Exchange-Message-Is-Ndr"


@pytest.mark.parametrize(
    "subject",
    [
        "Undelivered Mail Returned to Sender",
        "Delivery Status Notification (Failure)",
        "Mail delivery failed: returning message to sender",
        "Unzustellbar: Drucker",
        "Undeliverable: Printer",
        "Returned mail: see transcript for details",
    ],
)
def test_bounce_subjects_from_a_mailer_daemon(subject: str) -> None:
    raw = simple(subject=subject).replace(b"From: Ann <ann@example.org>", b"From: MAILER-DAEMON@mx.example.org")
    assert draft(raw).kind is Kind.BOUNCE


def test_a_bounce_subject_from_a_person_is_not_a_bounce() -> None:
    assert draft(simple(subject="Undeliverable mail to my boss, please help")).kind is Kind.NEW


def test_own_mail_by_header() -> None:
    result = draft(simple("X-Gateway-Loop: 1"))
    assert result.extras["own_mail"] is True
    assert "X-Gateway-Loop" in result.extras["own_mail_reason"]


def test_own_mail_by_message_id_domain() -> None:
    result = fixture("own_mail.eml")
    assert result.extras["own_mail"] is True
    assert result.extras["own_mail_reason"] == "Message-ID domain is gateway.invalid"


def test_own_mail_follows_the_settings() -> None:
    settings = EmailSettings(own_domain="desk.example", own_header="X-Desk-Loop")
    assert draft(simple("Message-ID: <a@desk.example>"), settings=settings).extras["own_mail"] is True
    assert draft(simple("X-Desk-Loop: yes"), settings=settings).extras["own_mail"] is True
    assert "own_mail" not in draft(simple("X-Gateway-Loop: 1"), settings=settings).extras


def report(report_type: str, status_part: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.org\r\nSubject: Report\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type={report_type}; boundary=r\r\n\r\n"
        "--r\r\nContent-Type: text/plain\r\n\r\n<slow@example.org>: connection timed out\r\n"
        f"--r\r\n{status_part}\r\n--r--\r\n"
    ).encode()


def test_a_delay_notice_is_a_bounce_without_failed_recipients() -> None:
    status = (
        "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        "Final-Recipient: rfc822; slow@example.org\r\nAction: delayed\r\nStatus: 4.4.1\r\n"
    )
    result = draft(report("delivery-status", status))
    assert result.kind is Kind.BOUNCE
    assert result.extras["bounced_recipients"] == []


def test_a_read_receipt_is_machine_mail() -> None:
    status = (
        "Content-Type: message/disposition-notification\r\n\r\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\r\n"
    )
    result = draft(report("disposition-notification", status))
    assert result.kind is Kind.AUTO_REPLY
    assert result.extras["auto"]["reason"] == "multipart/report; report-type=disposition-notification"


def test_a_plain_text_exchange_ndr() -> None:
    raw = (
        b"From: postmaster@contoso.example\r\nSubject: Undeliverable: Printer\r\n\r\n"
        b"Delivery has failed to these recipients or groups:\r\n\r\n"
        b"jdoe@contoso.example (jdoe@contoso.example)\r\nThe e-mail address you entered couldn't be found.\r\n\r\n"
        b"Original message headers:\r\n\r\nMessage-ID: <ack-81@gateway.invalid>\r\nSubject: Printer\r\n"
    )
    result = draft(raw)
    assert result.kind is Kind.BOUNCE
    assert result.extras["bounced_recipients"] == ["jdoe@contoso.example"]
    assert result.extras["bounced_message_ids"] == ["ack-81@gateway.invalid"]
