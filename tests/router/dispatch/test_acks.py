"""Acknowledgements: to the requester of a new email ticket, safe, threaded, never to automatic mail."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.parser import BytesParser

import pytest

from normalize.schema import Kind
from router.acks import Ack, choose_language, compose_ack
from router.destinations.mail import render
from tests.conftest import wait_for
from tests.router.dispatch.conftest import raw_mail, rows, settled, submit, write_email


def ack_setup(port: int, **acks: object) -> dict:
    return {
        "acks": {"enabled": True, "smtp_host": "127.0.0.1", "smtp_port": port,
                 "from_address": "Support Desk <support@gw.example.org>", **acks},
        "email": {"own_domain": "gw.example.org"},
        "dispatch": {"poll_interval_s": 0.2, "backoff_base_s": 0.05, "backoff_cap_s": 0.1},
    }


async def test_new_email_ticket_is_acknowledged_threaded_and_recorded(start_gateway, sink):
    setup = ack_setup(sink.port)
    setup["email"]["ticket_ref_format"] = "[Ticket {ref}]"
    gw = await start_gateway(**setup)
    ticket_id = await write_email(gw, raw_mail(), subject="Printer", mid="user-1@example.org")
    await wait_for(lambda: settled(gw))

    [mail] = sink.received
    assert mail.rcpt_tos == ["ann@example.org"] and mail.mail_from == "support@gw.example.org"
    ack = mail.message
    assert ack["Subject"] == f"[Ticket T-{ticket_id}] Received: Printer"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert ack["X-Gateway-Loop"] == "gw.example.org"
    assert ack["In-Reply-To"] == ack["References"] == "<user-1@example.org>"
    assert ack["Message-ID"].endswith("@gw.example.org>")
    assert f"T-{ticket_id}" in ack.get_content() and ack.get_content().startswith("Hello Ann,")
    [row] = await rows(gw)
    assert (row.destination, row.event, row.status) == ("ack:email", "ack", "delivered")
    async with gw.store.transaction() as tx:  # a reply to the acknowledgement finds the ticket
        _, sent = await tx.tickets_by_message_id([ack["Message-ID"].strip("<>")])
        assert sent[ack["Message-ID"].strip("<>")][1] == int(ticket_id)


async def test_header_injection_through_the_subject_is_neutralised(start_gateway, sink):
    gw = await start_gateway(**ack_setup(sink.port))
    evil = "Printer\r\nBcc: victim@evil.example\r\n\r\nInjected body"
    await write_email(gw, raw_mail(), subject=evil, name="Ann\r\nX-Evil: 1")
    await wait_for(lambda: settled(gw))
    [mail] = sink.received
    assert mail.rcpt_tos == ["ann@example.org"]
    head = mail.data.split(b"\r\n\r\n", 1)[0].decode()
    names = [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line and line[0] not in " \t"]
    assert "bcc" not in names and "x-evil" not in names
    assert mail.message["Subject"].endswith("Received: Printer Bcc: victim@evil.example Injected body")


def test_compose_refuses_nothing_and_renders_one_line_headers_on_this_runtime():
    for tricky in ("a\rb", "a\nb", "a\r\nBcc: x@y.z", "a\u2028b", "a\x85b", "a\x0bb\x0cc"):
        data = render(compose_ack(Ack(
            to="ann@example.org", sender=Address("Support", "support", "gw.example.org"), ticket_ref="T-1",
            ref_format="[#{ref}]", subject=tricky, name=tricky, language="en", message_id="ack-1@gw.example.org",
            in_reply_to=tricky, own_domain="gw.example.org", sent_at=datetime(2026, 11, 22, tzinfo=UTC),
        )))
        parsed = BytesParser(policy=policy.default).parsebytes(data)
        assert sorted(parsed.keys()) == sorted([
            "From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Auto-Submitted",
            "X-Auto-Response-Suppress", "X-Gateway-Loop", "X-Gateway-Ticket", "Content-Language",
            "Content-Type", "Content-Transfer-Encoding", "MIME-Version"]), tricky


@pytest.mark.parametrize("extra, reason", [
    (("Auto-Submitted: auto-replied",), "automatic mail"),
    (("Precedence: bulk",), "bulk or list"),
    (("List-Id: <users.lists.example.org>",), "mailing-list"),
    (("X-Auto-Response-Suppress: OOF, AutoReply",), "asks not to be answered"),
    (("Return-Path: <>",), "null return path"),
    (("X-Gateway-Loop: gw.example.org",), "gateway's own mail"),
])
async def test_automatic_list_and_own_mail_is_never_acknowledged(start_gateway, sink, extra, reason):
    gw = await start_gateway(**ack_setup(sink.port))
    await write_email(gw, raw_mail(extra=extra))
    await wait_for(lambda: settled(gw))
    [row] = await rows(gw)
    assert row.status == "skipped" and reason in row.last_error
    assert sink.received == []


async def test_auto_replies_and_bounces_get_no_acknowledgement_planned(start_gateway, sink):
    gw = await start_gateway(**ack_setup(sink.port))
    await write_email(gw, raw_mail(mid="ar@example.org"), mid="ar@example.org", kind=Kind.AUTO_REPLY)
    await write_email(gw, raw_mail(mid="b@example.org"), mid="b@example.org", kind=Kind.BOUNCE)
    assert await rows(gw) == []


async def test_at_most_one_acknowledgement_per_sender_per_window(start_gateway, sink):
    gw = await start_gateway(**ack_setup(sink.port, window_minutes=60))
    await write_email(gw, raw_mail(mid="a1@example.org"), mid="a1@example.org")
    await wait_for(lambda: settled(gw))
    await write_email(gw, raw_mail(mid="a2@example.org"), mid="a2@example.org", subject="Again")
    await write_email(gw, raw_mail(mid="b1@example.org", sender="bob@example.org"), mid="b1@example.org",
                      sender="bob@example.org", name="Bob")
    await wait_for(lambda: settled(gw))
    assert sorted(m.rcpt_tos[0] for m in sink.received) == ["ann@example.org", "bob@example.org"]
    first, second, third = await rows(gw)
    assert (first.status, second.status, third.status) == ("delivered", "skipped", "delivered")
    assert "acknowledged in the last 60 minutes" in second.last_error


async def test_a_relay_failure_is_retried_and_the_ack_sent_once(start_gateway, sink):
    sink.refuse.append("451 4.3.0 busy")
    gw = await start_gateway(**ack_setup(sink.port))
    await write_email(gw, raw_mail())
    await wait_for(lambda: settled(gw))
    assert len(sink.received) == 1
    [row] = await rows(gw)
    assert (row.status, row.attempts) == ("delivered", 2)


async def test_language_from_the_requester_or_the_mail(start_gateway, sink):
    gw = await start_gateway(**ack_setup(sink.port))
    await write_email(gw, raw_mail(mid="hu@example.org"), mid="hu@example.org", language="hu",
                      sender="hu@example.org", name="Kovács Anna")
    await write_email(gw, raw_mail(mid="id@example.org", sender="id@example.org",
                                   extra=("Content-Language: id-ID",)), mid="id@example.org", sender="id@example.org",
                      name="Budi")
    await wait_for(lambda: settled(gw))
    by_to = {m.rcpt_tos[0]: m.message for m in sink.received}
    assert "Beérkezett" in by_to["hu@example.org"]["Subject"]
    assert by_to["hu@example.org"].get_content().startswith("Kedves Kovács Anna!")
    assert "Diterima" in by_to["id@example.org"]["Subject"]
    assert by_to["id@example.org"].get_content().startswith("Halo Budi,")


def test_language_choice():
    assert choose_language(["hu-HU"], "en") == "hu"
    assert choose_language([None, "id"], "en") == "id"
    assert choose_language(["fr"], "hu") == "hu"
    assert choose_language([], "xx") == "en"


async def test_portal_tickets_get_their_ack_as_the_http_answer_not_mail(start_gateway, sink, http):
    gw = await start_gateway(**ack_setup(sink.port))
    await submit(gw, http)
    assert await rows(gw) == []
