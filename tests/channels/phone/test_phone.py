"""The phone-log endpoint: Standard Webhooks signatures, idempotency, E.164, ticket references."""

from __future__ import annotations

import json
import time

from tests.conftest import base
from tests.support.http import all_tickets, call_body, get_ticket, portal_body, signed_headers, submit

URL = "/v1/phone/calls"


async def post_call(http, gw, body: bytes, headers: dict[str, str]):
    async with http.post(f"{base(gw)}{URL}", data=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_signed_call_is_logged_with_the_caller_in_e164(start_gateway, http):
    gw = await start_gateway(phone={"default_region": "HU"})
    body = call_body("call-1")
    status, ids = await post_call(http, gw, body, signed_headers(body))
    assert status == 202
    ticket = await get_ticket(http, gw, ids["ticket_id"])
    assert ticket["opened_via"] == "phone"
    assert ticket["requester"]["phone"] == "+36301234567"
    [message] = ticket["messages"]
    assert (message["kind"], message["external_id"], message["transport"]) == ("call_log", "call-1", "http")
    assert "VPN" in message["text"]
    assert message["extras"]["to"] == "+3612345678"


async def test_missing_or_wrong_signature_is_401_and_stores_nothing(gateway, http):
    body = call_body()
    good = signed_headers(body)
    cases = [
        {"Content-Type": "application/json"},
        {**good, "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
        {**good, "webhook-id": "another-id"},
        signed_headers(body, secret="whsec_" + "c2VjcmV0LW9mLXNvbWVib2R5LWVsc2U="),
    ]
    for headers in cases:
        status, answer = await post_call(http, gateway, body, headers)
        assert status == 401, headers
        assert answer["error"]["code"] == "bad_signature"
    assert await all_tickets(http, gateway) == []


async def test_signature_covers_the_raw_bytes_not_the_json(gateway, http):
    body = call_body()
    headers = signed_headers(body)
    reformatted = json.dumps(json.loads(body), indent=2).encode()
    status, _ = await post_call(http, gateway, reformatted, headers)
    assert status == 401


async def test_timestamps_more_than_five_minutes_off_are_refused(gateway, http):
    body = call_body()
    for offset in (-600, 600):
        status, answer = await post_call(http, gateway, body, signed_headers(body, timestamp=int(time.time()) + offset))
        assert status == 401
        assert "webhook-timestamp" in answer["error"]["message"]
    status, _ = await post_call(http, gateway, body, signed_headers(body, timestamp=int(time.time()) - 200))
    assert status == 202


async def test_several_signatures_are_accepted_for_key_rotation(gateway, http):
    body = call_body()
    headers = signed_headers(body)
    old = signed_headers(body, msg_id=headers["webhook-id"], timestamp=int(headers["webhook-timestamp"]),
                         secret="whsec_" + "b2xkLXNlY3JldC1iZWluZy1yb3RhdGVkLW91dA==")
    headers["webhook-signature"] = f"{old['webhook-signature']} {headers['webhook-signature']}"
    status, _ = await post_call(http, gateway, body, headers)
    assert status == 202


async def test_a_resent_call_is_one_record(gateway, http):
    body = call_body("call-dup")
    headers = signed_headers(body)
    first = await post_call(http, gateway, body, headers)
    same_webhook = await post_call(http, gateway, body, signed_headers(body, msg_id=headers["webhook-id"]))
    new_webhook_same_call = await post_call(http, gateway, body, signed_headers(body))
    assert first[0] == same_webhook[0] == new_webhook_same_call[0] == 202
    assert first[1] == same_webhook[1] == new_webhook_same_call[1]
    assert len(await all_tickets(http, gateway)) == 1


async def test_notes_naming_a_ticket_attach_the_call_to_it(gateway, http):
    _, portal_ids, _ = await submit(http, gateway, portal_body())
    body = call_body(notes=f"Called back about {portal_ids['ticket_id']}, fixed.")
    status, ids = await post_call(http, gateway, body, signed_headers(body))
    assert status == 202
    assert ids["ticket_id"] == portal_ids["ticket_id"]
    ticket = await get_ticket(http, gateway, portal_ids["ticket_id"])
    call = ticket["messages"][1]
    assert call["kind"] == "call_log"
    assert call["thread"] == {"by": "ticket_ref", "value": portal_ids["ticket_id"]}


async def test_a_reference_to_an_unknown_ticket_opens_a_new_one(gateway, http):
    body = call_body(notes="About T-99999")
    status, ids = await post_call(http, gateway, body, signed_headers(body))
    assert status == 202 and ids["ticket_id"] != "T-99999"


async def test_schema_violations_are_422_naming_the_field(gateway, http):
    cases = [
        ({"direction": "inbound", "from": "+3612345678", "started_at": "2026-11-20T09:15:00Z"}, "call_id"),
        ({"call_id": "c", "direction": "sideways", "from": "1", "started_at": "2026-11-20T09:15:00Z"}, "direction"),
        ({"call_id": "c", "direction": "inbound", "started_at": "2026-11-20T09:15:00Z"}, "from"),
        ({"call_id": "c", "direction": "inbound", "from": "1", "started_at": "yesterday"}, "started_at"),
        ({"call_id": "c", "direction": "inbound", "from": "1", "started_at": "2026-11-20T09:15:00"}, "started_at"),
        ({"call_id": "c", "direction": "inbound", "from": "1", "started_at": "2026-11-20T09:15:00Z",
          "duration_s": -5}, "duration_s"),
    ]
    for record, field in cases:
        body = json.dumps(record).encode()
        status, answer = await post_call(http, gateway, body, signed_headers(body))
        assert status == 422, record
        assert answer["error"]["field"] == field


async def test_malformed_json_is_400_and_wrong_type_415(gateway, http):
    body = b'{"call_id": '
    status, answer = await post_call(http, gateway, body, signed_headers(body))
    assert status == 400 and answer["error"]["code"] == "malformed_json"
    body = call_body()
    status, _ = await post_call(http, gateway, body, {**signed_headers(body), "Content-Type": "text/plain"})
    assert status == 415


async def test_a_withheld_number_is_still_logged(gateway, http):
    body = call_body(**{"from": "anonymous"})
    status, ids = await post_call(http, gateway, body, signed_headers(body))
    assert status == 202
    ticket = await get_ticket(http, gateway, ids["ticket_id"])
    assert ticket["requester"]["phone"] is None
    assert ticket["messages"][0]["extras"]["from_raw"] == "anonymous"
