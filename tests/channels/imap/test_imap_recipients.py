"""Envelope recipients of IMAP mail, read from its headers, and a `recipient` rule routing on them."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from channels.imap.recipients import MAX_HEADER_BYTES, MAX_RECIPIENTS, envelope_recipients, header_block
from gateway.config import EmailConfig
from gateway.email_wiring import EmailNormalizer
from normalize.raw import RawInbound
from tests.channels.imap.conftest import PASSWORD_ENV, Account, mailbox_config
from tests.channels.smtp.conftest import only_sqlite
from tests.conftest import wait_for
from tests.support.http import all_tickets, get_ticket
from tests.support.mail import in_thread, message


def mail(*headers: str, body: str = "Hello\r\n") -> bytes:
    return ("\r\n".join(["From: Ann <ann@example.org>", "Subject: hi", *headers]) + "\r\n\r\n" + body).encode()


def test_delivered_to_wins_over_to_and_cc():
    raw = mail("To: Support <support@example.org>", "Cc: it@example.org", "Delivered-To: sales@example.org")
    assert envelope_recipients(raw) == ["sales@example.org"]


def test_every_delivered_to_and_x_original_to_counts_once():
    raw = mail("Delivered-To: desk@example.org", "X-Original-To: sales@example.org",
               "Delivered-To: Sales@Example.org", "To: someone@example.net")
    # Delivered-To first (each hop's), then X-Original-To; a repeat in another case is the same address
    assert envelope_recipients(raw) == ["desk@example.org", "Sales@Example.org"]


def test_x_original_to_alone_is_the_envelope():
    assert envelope_recipients(mail("X-Original-To: <sales@example.org>", "To: all@example.org")) == [
        "sales@example.org"]


def test_without_envelope_headers_to_and_cc_stand_in():
    raw = mail('To: "Sales, EU" <sales@example.org>, support@example.org',
               "Cc: =?utf-8?q?J=C3=B3zsef?= <jozsef@example.hu>, SALES@example.org")
    assert envelope_recipients(raw) == ["sales@example.org", "support@example.org", "jozsef@example.hu"]


def test_an_unusable_delivered_to_falls_back_to_to():
    assert envelope_recipients(mail("Delivered-To: nobody", "To: sales@example.org")) == ["sales@example.org"]


def test_headers_in_the_body_are_not_read():
    raw = mail("To: support@example.org", body="Delivered-To: sales@example.org\r\n")
    assert envelope_recipients(raw) == ["support@example.org"]
    assert header_block(b"To: a@b.example\n\nDelivered-To: c@d.example\n") == b"To: a@b.example"


@pytest.mark.parametrize("raw", [
    b"",
    b"\r\n\r\n",
    b"no header at all, just text",
    b"To: undisclosed-recipients:;\r\n\r\n",
    b"To: <unterminated@example.org\r\n\r\n",
    b"To: \"quote never ends <a@b.example>\r\n\r\n",
    b"To: a@@b, @x, y@, <>, (comment only)\r\n\r\n",
    b"To: \xff\xfe\xc3(bad utf-8)@example.org\r\n\r\n",
    b"To: nul\x00byte@example.org\r\nCc: tab\tin@example.org\r\n\r\n",
    b"Delivered-To:\r\nX-Original-To: \r\n\r\n",
    b":no name\r\n  folded without a header\r\nTo: ok@example.org\r\n\r\n",
    b"To: " + b"a" * (MAX_HEADER_BYTES * 2),
    b"To: =?x-unknown?B?////?= <x@example.org>\r\n\r\n",
])
def test_garbage_headers_never_crash_and_give_only_clean_addresses(raw):
    found = envelope_recipients(raw)
    assert isinstance(found, list)
    for address in found:
        local, _, domain = address.partition("@")
        assert local and domain and address.isprintable() and "\ufffd" not in address and " " not in address


def test_random_bytes_never_crash():
    rng = random.Random(4)
    alphabet = b"To:Cc:Delivered-To:X-Original-To:<>@,;\"()\\ \t\r\n=?utf-8?q?\xc3\xa9\x00\xff" + bytes(range(256))
    for _ in range(2000):
        raw = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 300)))
        for address in envelope_recipients(raw):
            assert "@" in address and address.isprintable()


def test_recipients_are_bounded():
    raw = mail("To: " + ", ".join(f"u{n}@example.org" for n in range(1000)))
    assert len(envelope_recipients(raw)) == MAX_RECIPIENTS


def test_the_normalizer_puts_them_where_smtp_puts_the_envelope():
    raw = RawInbound(channel="email", transport="imap", external_id="m1@example.org",
                     received_at=datetime(2026, 1, 5, tzinfo=UTC),
                     payload=mail("Message-ID: <m1@example.org>", "Delivered-To: sales@example.org"),
                     meta={"rcpt_tos": envelope_recipients(mail("Delivered-To: sales@example.org"))})
    draft = EmailNormalizer(EmailConfig())(raw)
    assert draft.extras["rcpt_tos"] == ["sales@example.org"]


# -- end to end, through the real Dovecot ----------------------------------------

ROUTER = {
    "default_queue": "general",
    "rules": [{"name": "sales", "when": {"recipient": ["sales@example.org", "@sales.example.org"]},
               "set": {"queue": "sales"}}],
}


@only_sqlite
async def test_imap_mail_to_the_sales_address_is_routed_by_a_recipient_rule(
        start_gateway, account: Account, http, monkeypatch):
    cases = {
        "to sales": message(subject="to sales", to="Sales <sales@example.org>"),
        "bcc to sales": message(subject="bcc to sales", to="support@example.org",
                                headers={"Delivered-To": "sales@example.org"}),
        "sales domain cc": message(subject="sales domain cc", to="support@example.org",
                                   headers={"Cc": "eu@sales.example.org"}),
        "alias of support": message(subject="alias of support", to="sales@example.org",
                                    headers={"X-Original-To": "support@example.org"}),
        "to support": message(subject="to support", to="support@example.org"),
    }
    for raw, _ in cases.values():
        await in_thread(account.append, raw)
    monkeypatch.setenv(PASSWORD_ENV, account.password)
    gw = await start_gateway(imap={"mailboxes": [mailbox_config(account)]}, router=ROUTER)

    async def all_in() -> bool:
        return (await gw.store.count_by_status()).get("processed") == len(cases)

    await wait_for(all_in, timeout=15)
    routed: dict[str, tuple[str, str]] = {}
    for summary in await all_tickets(http, gw, channel="email"):
        ticket = await get_ticket(http, gw, summary["id"])
        assert ticket["messages"][0]["transport"] == "imap"
        routed[ticket["subject"]] = (ticket["classification"]["queue"], ticket["classification"]["decided_by"])
    assert routed == {
        "to sales": ("sales", "rule:sales"),
        "bcc to sales": ("sales", "rule:sales"),  # the envelope header names sales, the To does not
        "sales domain cc": ("sales", "rule:sales"),
        "alias of support": ("general", "default"),  # delivered to support: the To does not decide
        "to support": ("general", "default"),
    }
    metas = [(await gw.store.get_inbound(row.id)).meta["rcpt_tos"]
             for row in await gw.store.list_inbound("processed", 10)]
    assert sorted(metas) == sorted([
        ["sales@example.org"], ["sales@example.org"], ["support@example.org", "eu@sales.example.org"],
        ["support@example.org"], ["support@example.org"],
    ])
