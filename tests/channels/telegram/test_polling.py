"""Polling mode end to end: updates from the fake Bot API to tickets, and the bot's answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from storage import tables
from tests.channels.telegram.conftest import BOTH, channel_health, confirmed, failed_inbound, tickets
from tests.conftest import wait_for
from tests.support.fake_telegram import BOT_ID, FakeBotApi, user


@pytest.mark.parametrize("db_url", BOTH, indirect=True)
async def test_first_message_opens_a_ticket_and_gets_its_reference_once(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram()
    first = fake.message("Hallo, mein Drucker brennt")
    fake.push(first)
    await confirmed(fake, first)
    second = fake.message("Er brennt immer noch")
    fake.push(second)
    await confirmed(fake, second)

    [ticket] = await tickets(http, gw)
    assert ticket["opened_via"] == "telegram"
    assert [m["text"] for m in ticket["messages"]] == ["Hallo, mein Drucker brennt", "Er brennt immer noch"]
    assert [m["kind"] for m in ticket["messages"]] == ["new", "reply"]
    assert {m["transport"] for m in ticket["messages"]} == {"polling"}
    assert ticket["requester"]["telegram_id"] == 4242
    answers = fake.texts_to(4242)
    assert len(answers) == 1, answers
    assert ticket["id"] in answers[0] and answers[0].startswith("Danke")  # German: language_code "de"
    assert fake.sent[0]["reply_parameters"]["message_id"] == first["message"]["message_id"]
    assert channel_health(gw)["offset"] == second["update_id"] + 1
    assert 0 <= channel_health(gw)["last_poll_age_s"] < 5


@pytest.mark.parametrize("db_url", BOTH, indirect=True)
async def test_the_offset_is_kept_so_a_restart_does_not_fetch_again(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram()
    update = fake.message("first")
    fake.push(update)
    await confirmed(fake, update)
    await gw.stop()
    calls_before = len(fake.calls_of("getUpdates"))

    await start_telegram()
    await wait_for(lambda: _polled_again(fake, calls_before))
    restarted = fake.calls_of("getUpdates")[calls_before]
    assert restarted.params["offset"] == update["update_id"] + 1


async def _polled_again(fake: FakeBotApi, calls_before: int) -> bool:
    return len(fake.calls_of("getUpdates")) > calls_before


async def test_same_update_delivered_twice_is_one_message(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram()
    update = fake.message("only once please")
    fake.push(update)
    await confirmed(fake, update)
    fake.push(update)  # Telegram sends it again (say, our confirmation was lost)
    again = dict(update, update_id=update["update_id"] + 1000)  # the same message under another update id
    fake.push(again)
    await confirmed(fake, again)

    [ticket] = await tickets(http, gw)
    assert [m["text"] for m in ticket["messages"]] == ["only once please"]
    assert len(fake.texts_to(4242)) == 1


async def test_new_command_starts_a_new_ticket(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram()
    fake.push(fake.message("Printer broken"))
    bare = fake.message("/new")
    fake.push(bare)
    after = fake.message("VPN does not connect")
    fake.push(after)
    await confirmed(fake, after)
    with_text = fake.message("/new Mouse missing")
    fake.push(with_text)
    await confirmed(fake, with_text)

    found = await tickets(http, gw)
    assert [[m["text"] for m in t["messages"]] for t in found] == [
        ["Printer broken"], ["VPN does not connect"], ["Mouse missing"]]
    answers = fake.texts_to(4242)
    assert any("nächste Nachricht" in a for a in answers)  # the bare /new is answered, not stored
    assert sum(1 for a in answers if "erfasst" in a) == 3  # one reference per ticket


async def test_new_request_survives_a_restart(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram()
    fake.push(fake.message("Printer broken"))
    bare = fake.message("/new")
    fake.push(bare)
    await confirmed(fake, bare)
    await gw.stop()

    gw = await start_telegram()
    after = fake.message("VPN does not connect")
    fake.push(after)
    await confirmed(fake, after)
    assert [len(t["messages"]) for t in await tickets(http, gw)] == [1, 1]


@pytest.mark.parametrize(("language", "expected"), [
    ("hu", "Üdvözöljük"), ("id", "Halo"), ("de", "Hallo"), ("ru", "Здравствуйте"), ("en", "Hello"),
    ("pt-br", "Hello"), (None, "Hello"),
])
async def test_start_and_help_answer_in_the_users_language(start_telegram, fake: FakeBotApi, http, language,
                                                           expected):
    gw = await start_telegram()
    sender = user(5151, language_code=language)
    start = fake.message("/start", chat_id=5151, sender=sender)
    helping = fake.message("/help@desk_test_bot", chat_id=5151, sender=sender)
    fake.push(start, helping)
    await confirmed(fake, helping)
    answers = fake.texts_to(5151)
    assert len(answers) == 2 and all(a.startswith(expected) for a in answers), answers
    assert "/new" in answers[0] and "/status" in answers[0]
    assert await tickets(http, gw) == []  # commands are answered, not stored as tickets


@pytest.mark.parametrize("db_url", BOTH, indirect=True)
async def test_status_reports_the_open_tickets_reference_and_state(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram()
    english = user(6161, language_code="en")
    none_yet = fake.message("/status", chat_id=6161, sender=english)
    fake.push(none_yet)
    await confirmed(fake, none_yet)
    fake.push(fake.message("Keyboard is sticky", chat_id=6161, sender=english))
    status = fake.message("/status", chat_id=6161, sender=english)
    fake.push(status)
    await confirmed(fake, status)

    [ticket] = await tickets(http, gw)
    answers = fake.texts_to(6161)
    assert answers[0] == "You have no open ticket. Just write your request to open one."
    assert answers[-1] == f"{ticket['id']} – Keyboard is sticky\nState: open"


async def test_edit_changes_the_stored_message_s_ticket_never_a_new_one(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram()
    original = fake.message("Printer on floor 3")
    fake.push(original)
    await confirmed(fake, original)
    fake.push(fake.message("/new"), fake.message("Something else entirely"))
    edited = fake.edit(original, "Printer on floor 4")
    fake.push(edited)
    await confirmed(fake, edited)

    first, second = await tickets(http, gw)
    assert [m["kind"] for m in first["messages"]] == ["new", "edit"]
    assert first["messages"][1]["text"] == "Printer on floor 4"
    assert first["messages"][1]["thread"]["by"] == "message_id"
    assert [m["text"] for m in second["messages"]] == ["Something else entirely"]


async def test_group_chats_are_ignored_unless_enabled(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram()
    in_group = fake.message("hello group", chat_id=-100200, chat_type="supergroup")
    fake.push(in_group)
    await confirmed(fake, in_group)
    assert await tickets(http, gw) == []
    assert fake.sent == []
    await gw.stop()

    gw = await start_telegram(group_chats=True)
    in_group = fake.message("printer in the office", chat_id=-100200, chat_type="supergroup")
    fake.push(in_group)
    await confirmed(fake, in_group)
    [ticket] = await tickets(http, gw)
    assert ticket["messages"][0]["text"] == "printer in the office"
    assert fake.texts_to(-100200) and ticket["id"] in fake.texts_to(-100200)[0]


async def test_other_update_types_are_stored_raw_and_confirmed(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram()
    query = fake.other("callback_query", {"id": "cb1", "from": user(), "chat_instance": "ci", "data": "close"})
    member = fake.other("my_chat_member", {"chat": {"id": 4242, "type": "private"}, "from": user(), "date": 1,
                                           "old_chat_member": {"status": "member", "user": user()},
                                           "new_chat_member": {"status": "kicked", "user": user(), "until_date": 0}})
    fake.push(query, member)
    await confirmed(fake, member)
    failed = await failed_inbound(http, gw)
    assert sorted(f["external_id"] for f in failed) == [f"update:{BOT_ID}:{query['update_id']}",
                                                       f"update:{BOT_ID}:{member['update_id']}"]
    assert all("carries no message" in f["error"] for f in failed)
    polls = len(fake.calls_of("getUpdates"))
    await wait_for(lambda: _polled_again(fake, polls + 1))  # polling goes on: no error loop
    assert all(c.params.get("offset") == member["update_id"] + 1 for c in fake.calls_of("getUpdates")[polls:])


@pytest.mark.parametrize("db_url", BOTH, indirect=True)
async def test_own_contact_links_the_telegram_user_to_the_phone_number(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram()
    own = fake.message(contact={"phone_number": "36301234567", "first_name": "Jürgen", "user_id": 4242})
    other = fake.message(contact={"phone_number": "+36309999999", "first_name": "Anna", "user_id": 777})
    fake.push(own, other)
    await confirmed(fake, other)

    assert await gw.store.identity_link("telegram:4242") == "phone:+36301234567"
    [ticket] = await tickets(http, gw)
    assert ticket["messages"][0]["requester"]["phone"] == "+36301234567"
    answers = fake.texts_to(4242)
    assert any("+36301234567" in a for a in answers)
    assert any("eigenen Kontakt" in a for a in answers)  # someone else's contact is not linked


async def test_a_reply_to_the_bots_acknowledgement_joins_that_ticket(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram()
    first = fake.message("Printer broken")
    fake.push(first)
    await confirmed(fake, first)
    ack = fake.sent[0]
    second = fake.message("/new VPN is down")
    fake.push(second)
    await confirmed(fake, second)
    reply = fake.message("It is the one on floor 3", reply_to_message={
        "message_id": ack["message_id"], "date": 1, "chat": {"id": 4242, "type": "private"},
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Service Desk"}, "text": ack["text"]})
    fake.push(reply)
    await confirmed(fake, reply)

    printer, vpn = await tickets(http, gw)
    assert [m["text"] for m in printer["messages"]] == ["Printer broken", "It is the one on floor 3"]
    assert printer["messages"][1]["thread"]["by"] == "message_id"
    assert [m["text"] for m in vpn["messages"]] == ["VPN is down"]


async def test_a_closed_ticket_or_a_quiet_chat_starts_a_new_ticket(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram(idle_minutes=30)
    first = fake.message("Printer broken")
    fake.push(first)
    await confirmed(fake, first)
    [ticket] = await tickets(http, gw)
    async with gw.store.transaction() as tx:
        await tx.set_ticket_status(int(ticket["id"][2:]), "closed", datetime.now(UTC))
    status = fake.message("/status")
    fake.push(status)
    await confirmed(fake, status)
    after_close = fake.message("Printer broken again")
    fake.push(after_close)
    await confirmed(fake, after_close)
    assert fake.texts_to(4242)[1] == f"{ticket['id']} – Printer broken\nStatus: geschlossen"

    async with gw.store.transaction() as tx:  # 31 minutes of quiet
        await tx.connection.execute(update(tables.tickets).values(updated_at=datetime.now(UTC) - timedelta(minutes=31)))
    after_quiet = fake.message("And now the scanner")
    fake.push(after_quiet)
    await confirmed(fake, after_quiet)
    assert [[m["text"] for m in t["messages"]] for t in await tickets(http, gw)] == [
        ["Printer broken"], ["Printer broken again"], ["And now the scanner"]]
