"""Zammad: a ticket per gateway ticket, follow-ups as articles, and no duplicate after a lost answer."""

from __future__ import annotations

from tests.conftest import wait_for
from tests.router.dispatch.conftest import FAST, ZAMMAD_ENV, call, rows, settled, submit
from tests.support.fake_helpdesks import Fault


def zammad_setup(url: str, **extra: object) -> dict:
    return {
        "destinations": {"zd": {"kind": "zammad", "url": url, "token_env": ZAMMAD_ENV, "group": "Support",
                                **FAST, **extra}},
        "router": {"default_queue": "general", "routes": [{"queue": "*", "to": "zd"}]},
        "dispatch": {"poll_interval_s": 0.2},
    }


async def test_ticket_then_follow_up_as_an_article_of_it(start_gateway, zammad, http):
    gw = await start_gateway(**zammad_setup(zammad.url))
    ids = await submit(gw, http, subject="Printer on fire", body="Flames!", email="ann@example.org")
    await call(gw, http, notes=f"she called about {ids['ticket_id']}")
    await wait_for(lambda: settled(gw))

    [ticket] = zammad.tickets.values()
    assert ticket["title"] == "Printer on fire" and ticket["group"] == "Support"
    assert ticket["customer_id"] == "guess:ann@example.org"
    assert ticket["tags"] == "channel:portal,transport:http"
    first, follow_up = zammad.articles_of(ticket["id"])
    assert first["type"] == "web" and first["sender"] == "Customer" and first["internal"] is False
    assert first["body"].startswith("Flames!") and "Received via portal (http)" in first["body"]
    assert follow_up["type"] == "phone" and "Received via phone (http)" in follow_up["body"]
    created, added = await rows(gw)
    assert (created.remote_id, added.remote_id) == (str(ticket["id"]), str(follow_up["id"]))
    found = await gw.store.get_ticket(int(ids["ticket_id"][2:]))
    assert found[0].external_ref == {"zd": str(ticket["id"])}


async def test_lost_answer_to_a_create_is_found_by_key_not_created_again(start_gateway, zammad, http):
    zammad.fail(Fault(lose_answer=True))  # Zammad creates the ticket; the answer never comes
    gw = await start_gateway(**zammad_setup(zammad.url, key_field="gateway_key", timeout_s=0.3))
    await submit(gw, http)
    await wait_for(lambda: settled(gw))
    [row] = await rows(gw)
    assert row.status == "delivered" and row.attempts == 2
    assert len(zammad.tickets) == 1
    assert zammad.tickets[1]["gateway_key"] == row.key
    assert row.remote_id == "1"


async def test_lost_answer_to_an_article_is_found_not_posted_again(start_gateway, zammad, http):
    gw = await start_gateway(**zammad_setup(zammad.url, timeout_s=0.3))
    ids = await submit(gw, http)
    await wait_for(lambda: settled(gw))
    zammad.fail(Fault(lose_answer=True))
    await call(gw, http, notes=f"about {ids['ticket_id']}")
    await wait_for(lambda: settled(gw))
    assert len(zammad.articles_of(1)) == 2  # the first and one follow-up, not two
    assert [r.status for r in await rows(gw)] == ["delivered", "delivered"]


async def test_a_refusal_is_dead_lettered_and_a_requester_without_address_needs_a_default(start_gateway, zammad, http):
    gw = await start_gateway(**zammad_setup(zammad.url))
    await call(gw, http, notes="no email known for this caller")
    await wait_for(lambda: settled(gw))
    [row] = await rows(gw)
    assert row.status == "dead" and row.attempts == 1 and "default_customer" in row.last_error
    assert zammad.requests == []


async def test_zammad_422_is_not_retried(start_gateway, zammad, http):
    zammad.fail(Fault(status=422, body='{"error":"Group is invalid"}'))
    gw = await start_gateway(**zammad_setup(zammad.url))
    await submit(gw, http)
    await wait_for(lambda: settled(gw))
    [row] = await rows(gw)
    assert (row.status, row.attempts) == ("dead", 1) and "Group is invalid" in row.last_error
