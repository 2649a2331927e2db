"""Fixtures of the outbox tests: fake helpdesks, a secret in the environment, helpers to make tickets.

Most tests here run on SQLite only (the runtime of this directory must stay
modest); the claim and multi-dispatcher tests ask for `both_db_url`, which
adds the real PostgreSQL the shared fixtures start.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from channels.phone.signature import decode_secret, sign
from gateway.app import Gateway
from storage.outbox import DeliveryRow, Outbox
from tests.conftest import PHONE_SECRET, PORTAL_TOKEN, base, create_pg_database
from tests.support.fake_helpdesks import FakeOsTicket, FakeZammad, SmtpSink, WebhookReceiver

HOOK_SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGhlLXdlYmhvb2stdGVzdHM="
HOOK_ENV = "GW_TEST_HOOK_SECRET"
ZAMMAD_TOKEN = "zammad-token-do-not-leak-5b1e"
ZAMMAD_ENV = "GW_TEST_ZAMMAD_TOKEN"
OSTICKET_KEY = "OSTKEY0123456789ABCDEF"
OSTICKET_ENV = "GW_TEST_OSTICKET_KEY"
FAST = {"backoff_base_s": 0.05, "backoff_cap_s": 0.2}


@pytest.fixture
async def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def both_db_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_base_url: str | None) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    if postgres_base_url is None:
        pytest.skip("PostgreSQL is not available here")
    return await create_pg_database(postgres_base_url)


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_ENV, HOOK_SECRET)
    monkeypatch.setenv(ZAMMAD_ENV, ZAMMAD_TOKEN)
    monkeypatch.setenv(OSTICKET_ENV, OSTICKET_KEY)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    server = WebhookReceiver(HOOK_SECRET)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def zammad() -> AsyncIterator[FakeZammad]:
    server = FakeZammad(ZAMMAD_TOKEN, custom_fields=("gateway_key",))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def osticket() -> AsyncIterator[FakeOsTicket]:
    server = FakeOsTicket(OSTICKET_KEY)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    server = SmtpSink()
    await server.start()
    yield server
    await server.stop()


def webhook_setup(url: str, **extra: Any) -> dict[str, Any]:
    """The config sections of a gateway that routes every queue to one webhook."""
    return {
        "destinations": {"main": {"kind": "webhook", "url": url, "secret_env": HOOK_ENV, **FAST, **extra}},
        "router": {"default_queue": "general", "routes": [{"queue": "*", "to": "main"}]},
        "dispatch": {"poll_interval_s": 0.2},
    }


async def submit(gw: Gateway, http: aiohttp.ClientSession, subject: str = "Printer", body: str = "It burns",
                 email: str = "ann@example.org") -> dict[str, str]:
    async with http.post(f"{base(gw)}/v1/portal/submissions", json={
        "requester": {"email": email, "name": "Ann"}, "subject": subject, "body": body,
    }, headers={"Authorization": f"Bearer {PORTAL_TOKEN}"}) as resp:
        assert resp.status == 202, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def call(gw: Gateway, http: aiohttp.ClientSession, notes: str, caller: str = "+36 1 234 5678") -> dict[str, str]:
    """A signed call record (a follow-up when `notes` names a ticket)."""
    record = {"call_id": uuid.uuid4().hex, "direction": "inbound", "from": caller, "to": "+3619999999",
              "started_at": "2026-11-22T10:00:00Z", "duration_s": 60, "notes": notes}
    body = json.dumps(record).encode()
    msg_id, stamp = "msg_" + uuid.uuid4().hex, str(int(time.time()))
    headers = {"webhook-id": msg_id, "webhook-timestamp": stamp, "Content-Type": "application/json",
               "webhook-signature": sign(decode_secret(PHONE_SECRET), msg_id, stamp, body)}
    async with http.post(f"{base(gw)}/v1/phone/calls", data=body, headers=headers) as resp:
        assert resp.status == 202, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def rows(gw: Gateway, **filters: Any) -> list[DeliveryRow]:
    return await Outbox(gw.store).list(limit=1000, **filters)


async def settled(gw: Gateway) -> bool:
    """Every record answered is processed and every delivery has reached a final state."""
    return not gw.intake.backlog and all(r.status in ("delivered", "dead", "skipped") for r in await rows(gw))


def raw_mail(subject: str = "Printer", sender: str = "ann@example.org", mid: str = "m1@example.org",
             extra: tuple[str, ...] = ()) -> bytes:
    lines = [f"From: Ann <{sender}>", "To: support@localhost", f"Subject: {subject}", f"Message-ID: <{mid}>",
             "Date: Sun, 22 Nov 2026 10:00:00 +0000", *extra, "", "It burns.", "Please help."]
    return "\r\n".join(lines).encode() + b"\r\n"


async def write_email(gw: Gateway, raw: bytes, *, subject: str = "Printer", sender: str = "ann@example.org",
                      mid: str = "m1@example.org", name: str | None = "Ann", language: str | None = None,
                      kind: Any = None) -> int:
    """Store a raw mail and write its ticket through the gateway's processor (the email
    channel's normalizer is another package's; these tests need only its result)."""
    from datetime import UTC, datetime

    from normalize.schema import Channel, Kind, MessageDraft, Requester, Transport

    now = datetime.now(UTC)
    draft = MessageDraft(
        channel=Channel.EMAIL, transport=Transport.SMTP, external_id=mid, kind=kind or Kind.NEW,
        requester=Requester(name=name, email=sender, language=language), subject=subject,
        text="It burns.\nPlease help.", received_at=now,
    )
    async with gw.store.transaction() as tx:
        inserted = await tx.insert_inbound([{
            "channel": "email", "transport": "smtp", "external_id": mid, "idempotency_key": None,
            "body_sha256": None, "received_at": now, "principal": None, "meta": {}, "payload": raw,
            "status": "pending", "error": None, "attempts": 0, "processed_at": None,
        }])
        inbound_id = inserted[("email", mid)]
        [written] = await gw.processor.write(tx, [(inbound_id, draft)], now)
        await tx.mark_inbound([{"b_id": inbound_id, "status": "processed", "error": None, "processed_at": now}])
    return written.ticket_id
