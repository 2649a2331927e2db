"""The SMTP relay destination: mail is relayed as it came, everything else composed, all marked with its source."""

from __future__ import annotations

from tests.conftest import wait_for
from tests.router.dispatch.conftest import call, raw_mail, rows, settled, submit, write_email


def relay_setup(port: int, **extra: object) -> dict:
    return {
        "destinations": {"mailbox": {"kind": "smtp", "host": "127.0.0.1", "port": port,
                                     "to": "helpdesk@example.org", "from_address": "gateway@gw.example.org",
                                     "backoff_base_s": 0.05, "backoff_cap_s": 0.1, **extra}},
        "router": {"default_queue": "general", "routes": [{"queue": "*", "to": "mailbox"}]},
        "dispatch": {"poll_interval_s": 0.2},
        "email": {"own_domain": "gw.example.org"},
    }


async def test_email_is_relayed_byte_for_byte_under_source_headers(start_gateway, sink):
    gw = await start_gateway(**relay_setup(sink.port))
    original = raw_mail(subject="Printer")
    ticket_id = await write_email(gw, original)
    await wait_for(lambda: settled(gw))

    [mail] = sink.received
    assert mail.rcpt_tos == ["helpdesk@example.org"] and mail.mail_from == "gateway@gw.example.org"
    assert mail.data.endswith(original)
    ours = mail.data[: -len(original)].decode()
    assert "X-Gateway-Source-Channel: email\r\n" in ours
    assert "X-Gateway-Source-Transport: smtp\r\n" in ours
    assert f"X-Gateway-Ticket: T-{ticket_id}\r\n" in ours
    [row] = await rows(gw)
    assert row.remote_id == "m1@example.org"


async def test_portal_and_call_are_composed_and_threaded(start_gateway, sink, http):
    gw = await start_gateway(**relay_setup(sink.port))
    ids = await submit(gw, http, subject="Printer\r\nBcc: victim@evil.example", body="It burns")
    await call(gw, http, notes=f"about {ids['ticket_id']}")
    await wait_for(lambda: settled(gw))

    first, second = (m.message for m in sink.received)
    assert first["Subject"] == f"[#{ids['ticket_id']}] Printer Bcc: victim@evil.example"
    assert first["Bcc"] is None and sink.received[0].rcpt_tos == ["helpdesk@example.org"]
    assert first["Reply-To"] == "ann@example.org"
    assert first["X-Gateway-Source-Channel"] == "portal" and first["X-Gateway-Source-Transport"] == "http"
    assert first["Message-ID"].endswith("@gw.example.org>")
    assert "It burns" in first.get_content() and "Received via portal (http)" in first.get_content()
    assert second["X-Gateway-Source-Channel"] == "phone"
    assert second["In-Reply-To"] == first["Message-ID"]


async def test_temporary_refusal_is_retried_and_permanent_one_is_dead(start_gateway, sink, http):
    sink.refuse += ["451 4.3.0 try again later", "550 5.7.1 not accepted"]
    gw = await start_gateway(**relay_setup(sink.port))
    await submit(gw, http)
    await wait_for(lambda: settled(gw))
    [row] = await rows(gw)
    assert (row.status, row.attempts) == ("dead", 2)
    assert "550" in row.last_error and sink.received == []
