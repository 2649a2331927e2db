"""Mail in over SMTP (the standard library's client) to tickets readable through the API."""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import asynccontextmanager
from typing import Any

from storage.repository import StorageError
from tests.channels.smtp.conftest import smtp_port
from tests.conftest import API_TOKEN, base
from tests.support.http import all_tickets, auth, get_ticket, processed
from tests.support.mail import Conversation, in_thread, message, send_one, stored_id


async def test_mail_with_attachment_and_encoded_subject_is_readable_once_250_is_given(start_smtp, http):
    gw = await start_smtp()
    report = b"%PDF-1.4\n" + bytes(range(256)) * 40
    raw, mid = message(subject="Drucker kaputt – Störung №42 🖨", sender="Jürgen Müller <jurgen@example.org>",
                       attachments=[("bericht.pdf", "application/pdf", report)])
    assert b"=?utf-8?" in raw.lower()  # the subject travels RFC 2047-encoded

    replies = await in_thread(send_one, smtp_port(gw), raw, "jurgen@example.org")

    code, text = replies[-1]
    assert code == 250, replies
    inbound = await gw.store.get_inbound(stored_id(text))
    assert inbound is not None
    assert inbound.payload == raw  # the bytes as received
    assert (inbound.channel, inbound.transport, inbound.external_id) == ("email", "smtp", mid)
    assert inbound.meta["mail_from"] == "jurgen@example.org"
    assert inbound.meta["rcpt_tos"] == ["support@example.org"]
    assert inbound.meta["peer"] == "127.0.0.1"
    assert inbound.meta["helo"] == "client.example.org"
    # Acknowledged means readable: no waiting after the 250.
    [summary] = await all_tickets(http, gw, channel="email")
    ticket = await get_ticket(http, gw, summary["id"])
    assert ticket["subject"] == "Drucker kaputt – Störung №42 🖨"
    [msg] = ticket["messages"]
    assert (msg["channel"], msg["transport"], msg["external_id"], msg["kind"]) == ("email", "smtp", mid, "new")
    assert ticket["requester"]["email"] == "jurgen@example.org"
    [attachment] = msg["attachments"]
    assert attachment["name"] == "bericht.pdf"
    assert attachment["size"] == len(report)
    assert attachment["sha256"] == hashlib.sha256(report).hexdigest()


async def test_raw_8bit_body_and_headers_are_taken_as_sent(start_smtp, http):
    gw = await start_smtp()
    raw = ("From: Kovács Éva <eva@example.hu>\r\nTo: support@example.org\r\n"
           "Subject: Nem működik a nyomtató\r\nMessage-ID: <8bit-1@example.hu>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\nA nyomtató üres lapokat ad ki.\r\n").encode()

    conversation = await in_thread(Conversation, smtp_port(gw))
    try:
        assert "8bitmime" in conversation.features
        replies = await in_thread(conversation.send, raw, "eva@example.hu", ["support@example.org"])
    finally:
        await in_thread(conversation.close)

    assert replies[-1][0] == 250, replies
    assert (await gw.store.get_inbound(stored_id(replies[-1][1]))).payload == raw
    [summary] = await all_tickets(http, gw, channel="email")
    ticket = await get_ticket(http, gw, summary["id"])
    assert ticket["subject"] == "Nem működik a nyomtató"
    assert "üres lapokat" in ticket["messages"][0]["text"]


async def test_one_mail_to_several_intake_addresses_is_one_record_with_every_address(start_smtp, http):
    gw = await start_smtp()
    raw, mid = message(to="support@example.org, sales@example.org")
    recipients = ["support@example.org", "Sales@Example.org", "it@help.example.org", "someone@elsewhere.example"]

    replies = await in_thread(send_one, smtp_port(gw), raw, "ann@example.org", recipients)

    assert [code for code, _ in replies] == [250, 250, 250, 250, 550, 250]
    inbound = await gw.store.get_inbound(stored_id(replies[-1][1]))
    assert inbound.meta["rcpt_tos"] == ["support@example.org", "Sales@Example.org", "it@help.example.org"]
    await processed(gw)  # the 250 came when the mail was stored
    assert await gw.store.count_by_status() == {"processed": 1}
    [summary] = await all_tickets(http, gw, channel="email")
    [msg] = (await get_ticket(http, gw, summary["id"]))["messages"]
    assert msg["external_id"] == mid


async def test_the_same_mail_delivered_again_is_acknowledged_and_stored_once(start_smtp, http):
    gw = await start_smtp()
    raw, _ = message()
    first = await in_thread(send_one, smtp_port(gw), raw)
    again = await in_thread(send_one, smtp_port(gw), raw)
    assert first[-1][0] == again[-1][0] == 250
    assert stored_id(first[-1][1]) == stored_id(again[-1][1])
    assert "already stored" in again[-1][1]
    [summary] = await all_tickets(http, gw, channel="email")
    assert len((await get_ticket(http, gw, summary["id"]))["messages"]) == 1


async def test_a_storage_failure_answers_451_and_the_retry_is_stored_once(start_smtp, http, monkeypatch):
    gw = await start_smtp()
    raw, mid = message()

    @asynccontextmanager
    async def unavailable() -> Any:
        raise StorageError("database is down")
        yield  # pragma: no cover

    with monkeypatch.context() as patch:
        patch.setattr(gw.store, "transaction", unavailable)
        failed = await in_thread(send_one, smtp_port(gw), raw)
    assert failed[-1][0] == 451, failed
    assert failed[-1][1].startswith("4.3.0")

    retried = await in_thread(send_one, smtp_port(gw), raw)
    assert retried[-1][0] == 250, retried
    await processed(gw)  # the 250 came when the mail was stored
    assert await gw.store.count_by_status() == {"processed": 1}
    [summary] = await all_tickets(http, gw, channel="email")
    [msg] = (await get_ticket(http, gw, summary["id"]))["messages"]
    assert msg["external_id"] == mid


async def test_a_null_reverse_path_is_accepted_and_kept_as_such(start_smtp):
    gw = await start_smtp()
    raw, _ = message(sender="MAILER-DAEMON@mx.example.net", subject="Undelivered Mail Returned to Sender")
    replies = await in_thread(send_one, smtp_port(gw), raw, "<>")
    assert replies[-1][0] == 250, replies
    inbound = await gw.store.get_inbound(stored_id(replies[-1][1]))
    assert inbound.meta["mail_from"] == ""


async def test_overload_answers_451_and_the_mail_in_flight_still_gets_its_250(start_gateway, monkeypatch):
    from tests.channels.smtp.conftest import RECIPIENTS

    gw = await start_gateway(smtp={"enabled": True, "port": 0, "recipients": RECIPIENTS},
                             intake={"max_in_flight": 1})
    original = gw.store.transaction
    entered, release = asyncio.Event(), asyncio.Event()

    @asynccontextmanager
    async def held() -> Any:
        entered.set()
        await release.wait()
        async with original() as tx:
            yield tx

    monkeypatch.setattr(gw.store, "transaction", held)
    first, _ = message(subject="first")
    second, _ = message(subject="second")
    sending = asyncio.ensure_future(in_thread(send_one, smtp_port(gw), first))
    await asyncio.wait_for(entered.wait(), timeout=10)

    refused = await in_thread(send_one, smtp_port(gw), second)
    assert refused[-1][0] == 451 and refused[-1][1].startswith("4.3.0"), refused
    release.set()
    assert (await sending)[-1][0] == 250
    await processed(gw)  # the 250 came when the mail was stored
    assert await gw.store.count_by_status() == {"processed": 1}


async def test_malformed_mail_is_never_refused_after_data(start_smtp, http):
    gw = await start_smtp()
    garbage = b"this line has no colon\r\nFrom ann@example.org\r\n\x00\x01\xff\xfe binary\r\n--\r\n"
    empty = b""
    for raw in (garbage, empty):
        replies = await in_thread(send_one, smtp_port(gw), raw)
        assert replies[-1][0] == 250, replies
    # The garbage is normalized as far as it goes; the empty one holds nothing usable and is
    # kept as a failed record, listed for operators and replayable.
    await processed(gw)  # the 250 came when the mail was stored
    assert await gw.store.count_by_status() == {"processed": 1, "failed": 1}
    async with http.get(f"{base(gw)}/v1/inbound?status=failed", headers=auth(API_TOKEN)) as resp:
        [failed] = (await resp.json())["inbound"]
    assert (failed["channel"], failed["transport"]) == ("email", "smtp")
    assert failed["external_id"].startswith("sha256:")


async def test_the_250_waits_for_the_commit_of_the_mail_not_for_its_ticket(start_smtp, http, monkeypatch):
    gw = await start_smtp()
    release = asyncio.Event()
    real = gw.processor.write

    async def write(tx, items, now):
        if items:  # making the ticket waits; storing the mail does not
            await release.wait()
        return await real(tx, items, now)

    monkeypatch.setattr(gw.processor, "write", write)
    raw, _ = message(subject="Answered before its ticket")
    replies = await asyncio.wait_for(in_thread(send_one, smtp_port(gw), raw), timeout=10)
    assert replies[-1][0] == 250, replies
    stored = await gw.store.get_inbound(stored_id(replies[-1][1]))
    assert (stored.status, stored.payload) == ("pending", raw)
    release.set()
    [ticket] = await all_tickets(http, gw, channel="email")
    assert ticket["subject"] == "Answered before its ticket"
