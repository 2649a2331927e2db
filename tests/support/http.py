"""Small helpers the HTTP tests share: signed phone calls, portal posts, ticket reads."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp

from channels.phone.signature import decode_secret, sign
from gateway.app import Gateway
from tests.conftest import API_TOKEN, PHONE_SECRET, PORTAL_TOKEN, base


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def submit(http: aiohttp.ClientSession, gw: Gateway, body: Any, *, key: str | None = None,
                 token: str = PORTAL_TOKEN) -> tuple[int, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
    headers = auth(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    async with http.post(f"{base(gw)}/v1/portal/submissions", json=body, headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers


def portal_body(subject: str = "Printer on fire", **extra: Any) -> dict[str, Any]:
    return {"requester": {"email": "ann@example.org", "name": "Ann"}, "subject": subject,
            "body": "The printer on floor 3 is on fire.", **extra}


def signed_headers(body: bytes, *, msg_id: str | None = None, timestamp: int | None = None,
                   secret: str = PHONE_SECRET) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": sign(decode_secret(secret), msg_id, ts, body),
        "Content-Type": "application/json",
    }


def call_body(call_id: str | None = None, **extra: Any) -> bytes:
    record = {"call_id": call_id or f"call-{uuid.uuid4().hex[:8]}", "direction": "inbound",
              "from": "06 30 123 4567", "to": "+3612345678", "agent": "bob",
              "started_at": "2026-11-20T09:15:00+01:00", "duration_s": 185, "disposition": "answered",
              "notes": "Customer cannot log in to VPN.", **extra}
    return json.dumps(record).encode()


async def processed(gw: Gateway) -> None:
    """Wait for the records answered before their processing (SMTP's 250 comes when the mail is stored)."""
    for _ in range(1000):
        if not gw.intake.backlog:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{gw.intake.backlog} stored records still unprocessed after 10 s")


async def get_ticket(http: aiohttp.ClientSession, gw: Gateway, ticket_id: str) -> dict[str, Any]:
    await processed(gw)
    async with http.get(f"{base(gw)}/v1/tickets/{ticket_id}", headers=auth(API_TOKEN)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def all_tickets(http: aiohttp.ClientSession, gw: Gateway, **query: str) -> list[dict[str, Any]]:
    await processed(gw)
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {**query, "limit": "200", **({"cursor": cursor} if cursor else {})}
        async with http.get(f"{base(gw)}/v1/tickets", params=params, headers=auth(API_TOKEN)) as resp:
            assert resp.status == 200, await resp.text()
            page = await resp.json()
        found += page["tickets"]
        cursor = page["next_cursor"]
        if not cursor:
            return found
