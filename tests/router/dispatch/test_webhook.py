"""The webhook destination end to end: a portal ticket reaches a local receiver, signed, with its source."""

from __future__ import annotations

import asyncio
import time

from channels.phone.signature import decode_secret, verify
from tests.conftest import API_TOKEN, base, wait_for
from tests.router.dispatch.conftest import HOOK_SECRET, call, rows, settled, submit, webhook_setup
from tests.support.fake_helpdesks import Fault


async def test_ticket_reaches_webhook_signed_with_its_source_channel(start_gateway, receiver, http):
    gw = await start_gateway(**webhook_setup(receiver.hook_url))
    ids = await submit(gw, http, subject="VPN down")
    await wait_for(lambda: _true(len(receiver.tickets) == 1))

    [seen] = receiver.requests
    verify([decode_secret(HOOK_SECRET)], seen.headers["webhook-id"], seen.headers["webhook-timestamp"],
           seen.headers["webhook-signature"], seen.body)  # raises unless signed with the destination's secret
    payload = seen.json()
    assert payload["event"] == "ticket.created"
    assert set(payload) == {"event", "ticket"}
    ticket = payload["ticket"]
    assert ticket["id"] == ids["ticket_id"] and ticket["opened_via"] == "portal"
    assert ticket["messages"][0]["channel"] == "portal" and ticket["messages"][0]["transport"] == "http"
    assert seen.headers["X-Gateway-Source-Channel"] == "portal"
    assert seen.headers["X-Gateway-Source-Transport"] == "http"
    [row] = await rows(gw)
    assert seen.headers["webhook-id"] == row.key == seen.headers["Idempotency-Key"]

    await wait_for(lambda: settled(gw))
    async with http.get(f"{base(gw)}/v1/tickets/{ids['ticket_id']}",
                        headers={"Authorization": f"Bearer {API_TOKEN}"}) as resp:
        assert (await resp.json())["external_ref"] == {"main": "hook-1"}


async def _true(value: bool) -> bool:
    return value


async def test_500s_are_retried_with_the_same_webhook_id_and_growing_capped_backoff(start_gateway, receiver, http):
    receiver.fail(Fault(status=500), Fault(status=502), Fault(status=500))
    gw = await start_gateway(**webhook_setup(receiver.hook_url, backoff_base_s=0.1, backoff_cap_s=0.25))
    await submit(gw, http)
    await wait_for(lambda: settled(gw))

    [row] = await rows(gw)
    assert row.status == "delivered" and row.attempts == 4
    assert {s.headers["webhook-id"] for s in receiver.requests} == {row.key}
    gaps = [b.at - a.at for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert all(gap <= 0.25 + 0.3 for gap in gaps), gaps  # never past the cap (plus the poll slack)
    assert len(receiver.tickets) == 1


async def test_429_retry_after_is_honoured(start_gateway, receiver, http):
    receiver.fail(Fault(status=429, headers={"Retry-After": "1"}))
    gw = await start_gateway(**webhook_setup(receiver.hook_url, backoff_base_s=0.01, backoff_cap_s=0.02))
    await submit(gw, http)
    await wait_for(lambda: settled(gw))
    first, second = receiver.requests
    assert second.at - first.at >= 0.95  # not the 10-20 ms back-off: the server's second


async def test_timeouts_are_retried_and_the_receiver_keeps_one_ticket(start_gateway, receiver, http):
    receiver.fail(Fault(lose_answer=True))  # it takes the ticket; the answer never comes
    gw = await start_gateway(**webhook_setup(receiver.hook_url, timeout_s=0.3))
    await submit(gw, http)
    await wait_for(lambda: settled(gw))
    [row] = await rows(gw)
    assert row.status == "delivered" and row.attempts == 2
    assert len({s.headers["webhook-id"] for s in receiver.requests}) == 1
    assert len(receiver.tickets) == 1


async def test_refused_connections_end_dead_after_max_attempts_with_the_error(start_gateway, http):
    from tests.support.postgres import free_port

    gw = await start_gateway(**webhook_setup(f"http://127.0.0.1:{free_port()}/hook", max_attempts=3))
    await submit(gw, http)
    await wait_for(lambda: settled(gw))
    [row] = await rows(gw)
    assert row.status == "dead" and row.attempts == 3
    assert "attempt 3" in row.last_error and "cannot connect" in row.last_error


async def test_400_and_422_are_dead_lettered_at_once(start_gateway, receiver, http):
    receiver.fail(Fault(status=422, body="missing field"), Fault(status=400, body="bad"))
    gw = await start_gateway(**webhook_setup(receiver.hook_url))
    await submit(gw, http, subject="one")
    await wait_for(lambda: settled(gw))
    await submit(gw, http, subject="two")
    await wait_for(lambda: _true(len(receiver.requests) == 2))
    await wait_for(lambda: settled(gw))
    first, second = await rows(gw)
    assert (first.status, first.attempts) == ("dead", 1) and "HTTP 422: missing field" in first.last_error
    assert (second.status, second.attempts) == ("dead", 1) and "HTTP 400" in second.last_error


async def test_follow_up_waits_for_the_ticket_and_joins_it(start_gateway, receiver, http):
    hold = Fault(status=503)
    receiver.fail(hold, Fault(status=503), Fault(status=503))
    gw = await start_gateway(**webhook_setup(receiver.hook_url, backoff_base_s=0.2, backoff_cap_s=0.3))
    ids = await submit(gw, http, subject="Laptop")
    await call(gw, http, notes=f"customer called about {ids['ticket_id']}")
    await wait_for(lambda: settled(gw))

    assert receiver.events() == ["ticket.created"] * 4 + ["message.added"]
    follow_up = list(receiver.tickets.values())[-1]
    assert follow_up["event"] == "message.added"
    assert follow_up["ticket"]["id"] == ids["ticket_id"]
    assert [m["channel"] for m in follow_up["ticket"]["messages"]] == ["portal", "phone"]


async def test_follow_up_goes_where_the_ticket_was_routed(start_gateway, receiver, http):
    from tests.support.fake_helpdesks import WebhookReceiver

    other = await WebhookReceiver(HOOK_SECRET).start()
    try:
        setup = webhook_setup(receiver.hook_url)
        setup["destinations"]["other"] = {**setup["destinations"]["main"], "url": other.hook_url}
        setup["router"] = {
            "default_queue": "general",
            "rules": [{"name": "portal", "when": {"channel": "portal"}, "set": {"queue": "network"}}],
            "routes": [{"queue": "network", "to": "other"}, {"queue": "*", "to": "main"}],
        }
        gw = await start_gateway(**setup)
        ids = await submit(gw, http)  # queue network: to `other`
        await call(gw, http, notes=f"about {ids['ticket_id']}")  # a call alone would be `general`
        await call(gw, http, notes="a new call, no ticket")  # general: to `main`
        await wait_for(lambda: settled(gw))
        assert [p["event"] for p in other.tickets.values()] == ["ticket.created", "message.added"]
        assert [p["ticket"]["opened_via"] for p in receiver.tickets.values()] == ["phone"]
    finally:
        await other.stop()


async def test_no_more_than_the_configured_number_of_sends_at_once(start_gateway, receiver, http):
    receiver.fail(*[Fault(delay_s=0.1)] * 16)
    setup = webhook_setup(receiver.hook_url)
    setup["destinations"]["copy"] = setup["destinations"]["main"]  # two destinations, one receiver
    setup["router"]["routes"] = [{"queue": "*", "to": ["main", "copy"]}]
    setup["dispatch"] = {"concurrency": 2, "batch_size": 10, "poll_interval_s": 0.1}
    gw = await start_gateway(**setup)
    await asyncio.gather(*(submit(gw, http, subject=f"s{n}") for n in range(8)))
    await wait_for(lambda: settled(gw))
    assert len(receiver.tickets) == 16
    assert receiver.most_in_flight == 2  # over all destinations together


async def test_pending_deliveries_resume_after_a_restart(start_gateway, receiver, http):
    receiver.fail(*[Fault(status=500)] * 50)
    setup = webhook_setup(receiver.hook_url, backoff_base_s=0.05, backoff_cap_s=0.05)
    gw = await start_gateway(**setup)
    await submit(gw, http)
    await wait_for(lambda: _true(len(receiver.requests) >= 2))
    await gw.stop()
    receiver.faults.clear()
    started = time.monotonic()
    again = await start_gateway(**setup)
    await wait_for(lambda: settled(again))
    assert time.monotonic() - started < 5
    [row] = await rows(again)
    assert row.status == "delivered" and len(receiver.tickets) == 1
