"""The portal endpoint against a real gateway on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import aiohttp

from tests.conftest import PORTAL_TOKEN, base
from tests.support.http import all_tickets, auth, get_ticket, portal_body, submit

URL = "/v1/portal/submissions"


async def test_submission_is_a_ticket_with_requester_category_hint_and_fields(gateway, http):
    body = portal_body(category="hardware", fields={"floor": 3, "building": "B"})
    body["requester"]["portal_user_id"] = "u-42"
    status, ids, _ = await submit(http, gateway, body)
    assert status == 202
    ticket = await get_ticket(http, gateway, ids["ticket_id"])
    assert ticket["opened_via"] == "portal"
    assert ticket["requester"]["portal_user_id"] == "u-42"
    assert ticket["requester"]["email"] == "ann@example.org"
    [message] = ticket["messages"]
    assert message["id"] == ids["message_id"]
    assert (message["channel"], message["transport"], message["kind"]) == ("portal", "http", "new")
    assert message["category_hint"] == "hardware"
    assert message["fields"] == {"floor": 3, "building": "B"}
    # The user's pick is a hint: with no rule for it the router's default queue decides.
    assert ticket["classification"]["queue"] == "general"
    assert ticket["classification"]["decided_by"] == "default"


async def test_attachments_as_base64_keep_size_hash_and_a_safe_name(gateway, http):
    data = b"%PDF-1.4 report"
    body = portal_body(attachments=[{"filename": "../../etc/pass\x00wd.pdf", "content_type": "application/pdf",
                                     "content_base64": base64.b64encode(data).decode()}])
    status, ids, _ = await submit(http, gateway, body)
    assert status == 202
    [attachment] = (await get_ticket(http, gateway, ids["ticket_id"]))["messages"][0]["attachments"]
    assert attachment["name"] == "passwd.pdf"
    assert attachment["size"] == len(data)
    assert attachment["sha256"] == hashlib.sha256(data).hexdigest()
    assert attachment["content_type"] == "application/pdf"


async def test_multipart_with_files_and_flat_fields(gateway, http):
    form = aiohttp.FormData()
    form.add_field("requester.email", "bob@example.org")
    form.add_field("subject", "Screen flickers")
    form.add_field("body", "See the photo.")
    form.add_field("category", "hardware")
    form.add_field("fields.asset", "PC-17")
    form.add_field("file", b"\x89PNG....", filename="photo.png", content_type="image/png")
    async with http.post(f"{base(gateway)}{URL}", data=form, headers=auth(PORTAL_TOKEN)) as resp:
        assert resp.status == 202, await resp.text()
        ids = await resp.json()
    message = (await get_ticket(http, gateway, ids["ticket_id"]))["messages"][0]
    assert message["subject"] == "Screen flickers"
    assert message["fields"] == {"asset": "PC-17"}
    assert [(a["name"], a["size"]) for a in message["attachments"]] == [("photo.png", 8)]


async def test_multipart_with_a_json_submission_part(gateway, http):
    form = aiohttp.FormData()
    form.add_field("submission", json.dumps(portal_body()), content_type="application/json")
    form.add_field("file", b"log line\n", filename="app.log", content_type="text/plain")
    async with http.post(f"{base(gateway)}{URL}", data=form, headers=auth(PORTAL_TOKEN)) as resp:
        assert resp.status == 202, await resp.text()
        ids = await resp.json()
    message = (await get_ticket(http, gateway, ids["ticket_id"]))["messages"][0]
    assert message["subject"] == "Printer on fire"
    assert [a["name"] for a in message["attachments"]] == ["app.log"]


async def test_no_token_or_a_wrong_token_is_401_and_stores_nothing(gateway, http):
    for headers in ({}, auth("wrong"), {"Authorization": f"Basic {PORTAL_TOKEN}"}):
        async with http.post(f"{base(gateway)}{URL}", json=portal_body(), headers=headers) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "unauthorized"
    assert await all_tickets(http, gateway) == []


async def test_malformed_json_is_400(gateway, http):
    headers = {**auth(PORTAL_TOKEN), "Content-Type": "application/json"}
    for raw in (b'{"requester": ', b"[" * 100_000, b"\xff\xfe"):
        async with http.post(f"{base(gateway)}{URL}", data=raw, headers=headers) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "malformed_json"


MALFORMED_MULTIPART = {
    "a control character in a part's headers":
        b'--B\r\nContent-Disposition: form-data; name="a\x05b"\r\n\r\nx\r\n--B--\r\n',
    "a part header without a colon": b"--B\r\nContent-Disposition form-data\r\n\r\nx\r\n--B--\r\n",
    "a part that never ends": b'--B\r\nContent-Disposition: form-data; name="body"\r\n\r\nno closing boundary',
    "another boundary than declared": b'--X\r\nContent-Disposition: form-data; name="body"\r\n\r\nx\r\n--X--\r\n',
    "nothing at all": b"",
}


async def test_malformed_multipart_is_400_and_stores_nothing(gateway, http):
    headers = {**auth(PORTAL_TOKEN), "Content-Type": "multipart/form-data; boundary=B"}
    for case, raw in MALFORMED_MULTIPART.items():
        async with http.post(f"{base(gateway)}{URL}", data=raw, headers=headers) as resp:
            answer = await resp.json()
            assert (resp.status, answer["error"]["code"]) == (400, "malformed_multipart"), (case, answer)
            assert "\n" not in answer["error"]["message"], case
    assert await all_tickets(http, gateway) == []


async def test_wrong_content_type_is_415(gateway, http):
    headers = {**auth(PORTAL_TOKEN), "Content-Type": "text/plain"}
    async with http.post(f"{base(gateway)}{URL}", data=b"hello", headers=headers) as resp:
        assert resp.status == 415
        assert (await resp.json())["error"]["code"] == "unsupported_media_type"


async def test_schema_violations_are_422_naming_the_field(gateway, http):
    cases = [
        ({"requester": {"email": "a@b.org"}}, "body"),
        ({"body": "x"}, "requester"),
        ({"requester": {"name": "only a name"}, "body": "x"}, "requester"),
        ({"requester": {"email": "not an address"}, "body": "x"}, "requester.email"),
        (portal_body(subject=42), "subject"),
        (portal_body(priority="high"), "priority"),
        (portal_body(fields={"nested": {"a": 1}}), "fields.nested"),
        (portal_body(attachments=[{"filename": "a.txt", "content_base64": "***"}]), "attachments[0].content_base64"),
        (portal_body(attachments=[{"content_base64": "aGk="}]), "attachments[0].filename"),
        ("just a string", ""),
    ]
    for body, field in cases:
        status, answer, _ = await submit(http, gateway, body)
        assert status == 422, (body, answer)
        assert answer["error"]["field"] == field, (body, answer)
    assert await all_tickets(http, gateway) == []


async def test_body_over_the_limit_is_413_with_or_without_content_length(start_gateway, http):
    gw = await start_gateway(portal={"max_body_bytes": 10_000})
    big = portal_body(body="x" * 20_000)
    status, answer, _ = await submit(http, gw, big)
    assert status == 413 and answer["error"]["code"] == "payload_too_large"

    async def chunks():
        yield b'{"requester": {"email": "a@b.org"}, "body": "'
        for _ in range(100):
            yield b"y" * 1000
        yield b'"}'

    headers = {**auth(PORTAL_TOKEN), "Content-Type": "application/json"}
    async with http.post(f"{base(gw)}{URL}", data=chunks(), headers=headers) as resp:
        assert resp.status == 413
    assert await all_tickets(http, gw) == []


async def test_idempotency_key_retry_returns_the_same_ids_and_makes_one_ticket(gateway, http):
    first = await submit(http, gateway, portal_body(), key="form-123")
    again = await submit(http, gateway, portal_body(), key="form-123")
    assert first[0] == again[0] == 202
    assert first[1] == again[1]
    assert again[2].get("Idempotent-Replayed") == "true"
    assert len(await all_tickets(http, gateway)) == 1


async def test_same_key_with_another_body_is_422(gateway, http):
    await submit(http, gateway, portal_body(), key="form-7")
    status, answer, _ = await submit(http, gateway, portal_body(subject="Something else"), key="form-7")
    assert status == 422
    assert answer["error"]["code"] == "idempotency_key_reused"
    assert answer["error"]["field"] == "Idempotency-Key"


async def test_same_key_while_the_first_is_running_is_409(gateway, http, monkeypatch):
    intake = gateway.intake
    real = intake._store_and_process
    release = asyncio.Event()

    async def slow(items):
        await release.wait()
        return await real(items)

    monkeypatch.setattr(intake, "_store_and_process", slow)
    first = asyncio.create_task(submit(http, gateway, portal_body(), key="slow-1"))
    await asyncio.sleep(0.2)
    status, answer, _ = await submit(http, gateway, portal_body(), key="slow-1")
    release.set()
    assert status == 409
    assert answer["error"]["code"] == "idempotency_key_in_use"
    assert (await first)[0] == 202
    assert len(await all_tickets(http, gateway)) == 1


async def test_keys_are_scoped_to_the_token(start_gateway, http):
    from dataclasses import replace

    from tests.conftest import TEST_SECRETS

    gw_a = await start_gateway()
    a = await submit(http, gw_a, portal_body(), key="shared")
    await gw_a.stop()
    gw_b = await start_gateway(secrets=replace(TEST_SECRETS, portal_token="another-portal-token-0000"))
    b = await submit(http, gw_b, portal_body(), key="shared", token="another-portal-token-0000")
    assert a[0] == b[0] == 202
    assert a[1]["ticket_id"] != b[1]["ticket_id"]


async def test_rate_limit_answers_429_with_retry_after(start_gateway, http):
    gw = await start_gateway(portal={"rate_limit_per_minute": 3})
    statuses = [(await submit(http, gw, portal_body()))[0] for _ in range(3)]
    assert statuses == [202, 202, 202]
    status, answer, headers = await submit(http, gw, portal_body())
    assert status == 429
    assert answer["error"]["code"] == "rate_limited"
    assert int(headers["Retry-After"]) >= 1
    assert len(await all_tickets(http, gw)) == 3


async def test_no_rate_limit_by_default(gateway, http):
    results = await asyncio.gather(*(submit(http, gateway, portal_body(subject=f"s{i}")) for i in range(40)))
    assert {status for status, _, _ in results} == {202}
