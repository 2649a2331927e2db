"""Email threading and loop protection end to end: SMTP in, tickets out through the API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from normalize.raw import RawInbound
from tests.channels.smtp.conftest import only_sqlite, smtp_port
from tests.support.http import all_tickets, get_ticket
from tests.support.mail import in_thread, message, send_one


async def send(gw, raw: bytes, sender: str = "ann@example.org") -> None:
    replies = await in_thread(send_one, smtp_port(gw), raw, sender)
    assert replies[-1][0] == 250, replies


async def test_replies_join_their_ticket_by_in_reply_to_and_by_subject_reference(start_smtp, http):
    gw = await start_smtp()
    first, first_id = message(subject="Laptop will not boot")
    await send(gw, first)
    [opened] = await all_tickets(http, gw, channel="email")

    reply, _ = message(subject="Re: Laptop will not boot", headers={"In-Reply-To": f"<{first_id}>"})
    await send(gw, reply)
    by_ref, _ = message(subject=f"AW: [#{opened['id']}] still broken", sender="Bob <bob@example.org>")
    await send(gw, by_ref, "bob@example.org")

    assert [t["id"] for t in await all_tickets(http, gw, channel="email")] == [opened["id"]]
    messages = (await get_ticket(http, gw, opened["id"]))["messages"]
    assert [m["kind"] for m in messages] == ["new", "reply", "reply"]
    assert messages[1]["thread"] == {"by": "message_id", "value": first_id}
    assert messages[2]["thread"] == {"by": "ticket_ref", "value": opened["id"]}


async def test_an_auto_reply_to_nothing_known_is_kept_on_a_suppressed_ticket(start_smtp, http):
    gw = await start_smtp()
    raw, _ = message(subject="Out of office", headers={"Auto-Submitted": "auto-replied"})
    await send(gw, raw)
    [ticket] = await all_tickets(http, gw, channel="email")
    assert ticket["status"] == "suppressed"
    [msg] = (await get_ticket(http, gw, ticket["id"]))["messages"]
    assert msg["kind"] == "auto_reply"


@only_sqlite
async def test_a_flooding_sender_joins_their_newest_ticket_instead_of_opening_more(start_smtp, http):
    gw = await start_smtp(email={"flood_messages": 3, "flood_minutes": 10})
    for n in range(5):
        raw, _ = message(subject=f"Alert {n}", sender="monitor@example.org")
        await send(gw, raw, "monitor@example.org")
    other, _ = message(subject="My own problem", sender="carl@example.org")
    await send(gw, other, "carl@example.org")

    tickets = await all_tickets(http, gw, channel="email")
    flooded = [t for t in tickets if t["requester"]["email"] == "monitor@example.org"]
    assert sorted(t["subject"] for t in flooded) == ["Alert 0", "Alert 1", "Alert 2"]
    assert any(t["requester"]["email"] == "carl@example.org" for t in tickets)
    newest = max(flooded, key=lambda t: int(t["id"].split("-")[1]))
    messages = (await get_ticket(http, gw, newest["id"]))["messages"]
    assert [m["subject"] for m in messages] == ["Alert 2", "Alert 3", "Alert 4"]
    for joined in messages[1:]:
        assert joined["thread"]["by"] == "flood"
        assert joined["extras"]["flood"] is True
        assert joined["kind"] == "reply"


@only_sqlite
async def test_a_burst_from_one_sender_in_one_commit_opens_no_more_than_the_limit(start_smtp, http):
    gw = await start_smtp(email={"flood_messages": 3, "flood_minutes": 10})
    raws = [message(subject=f"Burst {n}", sender="monitor@example.org") for n in range(8)]
    # Offered together, the records share one group commit: the limit must hold inside a batch too.
    now = datetime.now(UTC)
    results = await asyncio.gather(*(
        gw.intake(RawInbound("email", "smtp", mid, now, raw, meta={"mail_from": "monitor@example.org"}))
        for raw, mid in raws
    ))
    assert len({r.inbound_id for r in results}) == 8
    tickets = await all_tickets(http, gw, channel="email")
    assert len(tickets) == 3
    details = [await get_ticket(http, gw, t["id"]) for t in tickets]
    assert sum(len(d["messages"]) for d in details) == 8


@only_sqlite
async def test_the_flood_limit_is_policy_and_not_stored_on_messages(start_smtp, http):
    gw = await start_smtp()
    raw, _ = message()
    await send(gw, raw)
    [summary] = await all_tickets(http, gw, channel="email")
    [msg] = (await get_ticket(http, gw, summary["id"]))["messages"]
    assert "flood_limit" not in msg["extras"] and "flood" not in msg["extras"]
