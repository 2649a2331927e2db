"""osTicket: tickets through tickets.json (or tickets.email), follow-ups threaded by `[#number]`."""

from __future__ import annotations

import base64

from tests.conftest import wait_for
from tests.router.dispatch.conftest import FAST, OSTICKET_ENV, call, rows, settled, submit
from tests.support.fake_helpdesks import Fault


def osticket_setup(url: str, **extra: object) -> dict:
    return {
        "destinations": {"ost": {"kind": "osticket", "url": url, "key_env": OSTICKET_ENV, **FAST, **extra}},
        "router": {"default_queue": "general", "routes": [{"queue": "*", "to": "ost"}]},
        "dispatch": {"poll_interval_s": 0.2},
        "email": {"own_domain": "gw.example.org"},
    }


async def test_json_ticket_then_follow_up_threaded_onto_it(start_gateway, osticket, http):
    gw = await start_gateway(**osticket_setup(osticket.url, topic_id=7))
    ids = await submit(gw, http, subject="Printer", body="It burns", email="ann@example.org")
    await call(gw, http, notes=f"re {ids['ticket_id']}")
    await wait_for(lambda: settled(gw))

    [number] = osticket.tickets
    ticket = osticket.tickets[number]
    assert (ticket["name"], ticket["email"], ticket["subject"], ticket["topicId"]) == (
        "Ann", "ann@example.org", "Printer", 7)
    assert ticket["source"] == "API" and ticket["autorespond"] is False
    prefix = "data:text/plain;charset=utf-8;base64,"
    assert ticket["message"].startswith(prefix)
    text = base64.b64decode(ticket["message"][len(prefix):]).decode()
    assert text.startswith("It burns") and "Received via portal (http)" in text
    _created, follow_up = osticket.entries
    assert follow_up["number"] == number and follow_up["via"] == "email"
    assert follow_up["headers"]["X-Gateway-Source-Channel"] == "phone"
    assert f"[#{number}]" in follow_up["headers"]["Subject"]
    assert follow_up["message_id"].endswith("@gw.example.org>")
    assert [r.remote_id for r in await rows(gw)] == [number, number]


async def test_created_by_email_a_lost_answer_makes_no_second_ticket(start_gateway, osticket, http):
    osticket.fail(Fault(lose_answer=True))
    gw = await start_gateway(**osticket_setup(osticket.url, create_via="email", timeout_s=0.3))
    await submit(gw, http)
    await wait_for(lambda: settled(gw))
    [row] = await rows(gw)
    assert row.status == "delivered" and row.attempts == 2
    assert len(osticket.tickets) == 1 and len(osticket.entries) == 1
    assert len({r.headers.get("Content-Type") for r in osticket.requests}) == 1
    assert osticket.requests[0].headers["Content-Type"] == "message/rfc822"


async def test_wrong_key_is_retried_and_validation_errors_are_dead(start_gateway, osticket, http):
    osticket.fail(Fault(status=401, body="API key not authorized"),
                  Fault(status=400, body="Unable to create new ticket: validation errors:\nemail"))
    gw = await start_gateway(**osticket_setup(osticket.url))
    await submit(gw, http)
    await wait_for(lambda: settled(gw))
    [row] = await rows(gw)
    assert (row.status, row.attempts) == ("dead", 2) and "validation errors" in row.last_error
