"""The SMTP server's transport rules, spoken to by the standard library's client."""

from __future__ import annotations

import smtplib
import socket

import pytest

from channels.smtp import replies
from tests.channels.smtp.conftest import only_sqlite, smtp_port
from tests.support.http import all_tickets, get_ticket, processed
from tests.support.mail import Conversation, in_thread, message, send_one

FOREIGN = "someone@elsewhere.example"


def _reply(line: str) -> tuple[int, str]:
    code, _, text = line.partition(" ")
    return int(code), text


@only_sqlite
async def test_recipients_outside_the_intake_addresses_are_refused_and_nothing_is_stored(start_smtp):
    gw = await start_smtp()
    raw, _ = message(to=FOREIGN)
    replies_seen = await in_thread(send_one, smtp_port(gw), raw, "ann@example.org",
                                   [FOREIGN, "nobody@example.org", "postmaster@help.example.org.evil.example"])
    assert replies_seen[1:] == [_reply(replies.RELAY_DENIED), _reply(replies.UNKNOWN_USER),
                                _reply(replies.RELAY_DENIED)]
    assert await gw.store.count_by_status() == {}


@only_sqlite
async def test_size_is_advertised_and_larger_mail_is_refused_with_552(start_smtp):
    gw = await start_smtp(max_message_bytes=20_000)
    big, _ = message(body=("y" * 70 + "\n") * 400)
    assert len(big) > 20_000

    conversation = await in_thread(Conversation, smtp_port(gw))
    try:
        assert conversation.features["size"] == "20000"
        # Declared too large: refused at MAIL.
        code, _ = await in_thread(conversation.mail, "ann@example.org", (f"SIZE={len(big)}",))
        assert code == 552
        # Not declared: the data is read to its end, then refused.
        assert (await in_thread(conversation.mail, "ann@example.org"))[0] == 250
        assert (await in_thread(conversation.rcpt, "support@example.org"))[0] == 250
        code, _ = await in_thread(conversation.data, big)
        assert code == 552
        # The session goes on; mail under the limit is taken.
        small, _ = message()
        sent = await in_thread(conversation.send, small, "ann@example.org", ["support@example.org"])
        assert sent[-1][0] == 250
    finally:
        await in_thread(conversation.close)
    await processed(gw)  # the 250 came when the mail was stored
    assert await gw.store.count_by_status() == {"processed": 1}


@only_sqlite
async def test_bare_lf_in_data_is_refused_so_no_smuggled_message_exists(start_smtp):
    gw = await start_smtp()
    smuggled = (b"From: ann@example.org\r\nTo: support@example.org\r\nSubject: first\r\n\r\nhello\r\n"
                b"\n.\r\nMAIL FROM:<mallory@evil.example>\r\nRCPT TO:<support@example.org>\r\nDATA\r\n"
                b"From: ceo@example.org\r\nSubject: smuggled\r\n\r\npay now\r\n")
    conversation = await in_thread(Conversation, smtp_port(gw))
    try:
        refused = await in_thread(conversation.send, smuggled, "ann@example.org", ["support@example.org"])
        assert refused[-1] == _reply(replies.BARE_LF)
        clean, _ = message()
        taken = await in_thread(conversation.send, clean, "ann@example.org", ["support@example.org"])
        assert taken[-1][0] == 250
    finally:
        await in_thread(conversation.close)
    await processed(gw)  # the 250 came when the mail was stored
    assert await gw.store.count_by_status() == {"processed": 1}


@only_sqlite
async def test_lines_longer_than_1000_octets_are_accepted(start_smtp, http):
    gw = await start_smtp()
    long_line = "A" * 2000
    raw = (f"From: ann@example.org\r\nTo: support@example.org\r\nSubject: log\r\n"
           f"Message-ID: <long-line@example.org>\r\n\r\nLog follows:\r\n{long_line}\r\nend\r\n").encode()
    sent = await in_thread(send_one, smtp_port(gw), raw)
    assert sent[-1][0] == 250, sent
    [summary] = await all_tickets(http, gw, channel="email")
    assert long_line in (await get_ticket(http, gw, summary["id"]))["messages"][0]["text"]


@only_sqlite
async def test_too_many_recipients_are_deferred_with_452(start_smtp):
    gw = await start_smtp(max_recipients=2)
    raw, _ = message()
    sent = await in_thread(send_one, smtp_port(gw), raw, "ann@example.org",
                           ["a@help.example.org", "b@help.example.org", "c@help.example.org"])
    assert [code for code, _ in sent] == [250, 250, 250, 452, 250]


@only_sqlite
async def test_sessions_per_client_are_limited_with_421_at_the_greeting(start_smtp):
    gw = await start_smtp(max_sessions_per_client=2)
    port = smtp_port(gw)
    first = await in_thread(Conversation, port)
    second = await in_thread(Conversation, port)
    try:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            await in_thread(smtplib.SMTP, "127.0.0.1", port, timeout=10)
        assert refused.value.smtp_code == 421
    finally:
        await in_thread(first.close)
    # A freed slot is usable again.
    third = await in_thread(Conversation, port)
    await in_thread(third.close)
    await in_thread(second.close)


@only_sqlite
async def test_commands_per_session_are_limited_with_421(start_smtp):
    gw = await start_smtp(max_commands_per_session=5)
    conversation = await in_thread(Conversation, smtp_port(gw))
    try:
        for _ in range(5):
            assert (await in_thread(conversation.command, "NOOP"))[0] == 250
        code, _ = await in_thread(conversation.command, "NOOP")
        assert code == 421
    finally:
        await in_thread(conversation.close)


@only_sqlite
async def test_any_exception_answers_451_never_aiosmtpd_500(start_smtp, monkeypatch):
    gw = await start_smtp()
    handler = next(c for c in gw.channels if c.name == "smtp").handler  # type: ignore[attr-defined]

    def broken(_address: str) -> None:
        raise RuntimeError("recipient lookup exploded")

    def broken_id(_content: bytes) -> str:
        raise ValueError("external id exploded")

    raw, _ = message()
    with monkeypatch.context() as patch:
        patch.setattr(handler._recipients, "check", broken)
        sent = await in_thread(send_one, smtp_port(gw), raw)
    assert sent[1] == _reply(replies.TEMPORARY_FAILURE)  # RCPT, through handle_exception

    with monkeypatch.context() as patch:
        patch.setattr(handler, "_external_id", broken_id)
        sent = await in_thread(send_one, smtp_port(gw), raw)
    assert sent[-1] == _reply(replies.TEMPORARY_FAILURE)  # DATA
    assert await gw.store.count_by_status() == {}


@only_sqlite
async def test_stopping_closes_idle_sessions_with_421(start_smtp):
    gw = await start_smtp()
    sock = socket.create_connection(("127.0.0.1", smtp_port(gw)), timeout=10)
    try:
        file = sock.makefile("rb")
        assert (await in_thread(file.readline)).startswith(b"220")
        await gw.stop()
        assert (await in_thread(file.readline)).startswith(b"421")
    finally:
        sock.close()


@pytest.mark.parametrize("arg", [
    "", "<>", "<anna@example.org>", "anna@example.org", " <anna@example.org> SIZE=100", "<anna@example.org",
    "<@relay.example:anna@example.org>", '<"odd name"@example.org>', "<anna@[192.0.2.1]>", "not an address",
    "<" + "a" * 65 + "@example.org>", "<ünïcode@bücher.example>", "<anna@example.org> BODY=8BITMIME SMTPUTF8",
])
def test_addresses_in_mail_and_rcpt_parse_as_aiosmtpd_parses_them(arg):
    from aiosmtpd.smtp import SMTP

    from channels.smtp.protocol import GatewaySMTP, SessionRegistry

    ours = GatewaySMTP(object(), sessions=SessionRegistry(1), line_length_limit=1000)
    theirs = SMTP(object())
    for limit in (0, 64):
        ours.local_part_limit = theirs.local_part_limit = limit
        assert ours._getaddr(arg) == theirs._getaddr(arg)
