"""`until="stored"`: answered once the raw record is committed, processed right after by the same writer."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest

from gateway import intake as intake_module
from normalize.raw import IntakeStatus, OverloadedError, RawInbound
from storage.repository import StorageError
from tests.support.http import all_tickets, processed


def portal_raw(subject: str) -> RawInbound:
    body = {"requester": {"email": "ann@example.org"}, "subject": subject, "body": f"about {subject}",
            "attachments": []}
    return RawInbound("portal", "http", f"portal:{uuid.uuid4()}", datetime.now(UTC), json.dumps(body).encode())


def hold_processing(gw, monkeypatch) -> asyncio.Event:
    """Processing of stored records waits for the returned event; storing them does not."""
    release = asyncio.Event()
    real = gw.processor.write

    async def write(tx, items, now):
        if items:
            await release.wait()
        return await real(tx, items, now)

    monkeypatch.setattr(gw.processor, "write", write)
    return release


async def test_the_answer_comes_when_stored_and_the_ticket_follows(gateway, http, monkeypatch):
    release = hold_processing(gateway, monkeypatch)
    unusable = RawInbound("portal", "http", "x", datetime.now(UTC), b"{}")
    result, again = await asyncio.wait_for(asyncio.gather(
        gateway.intake(portal_raw("stored first"), until="stored"), gateway.intake(unusable, until="stored"),
    ), timeout=10)
    assert (result.status, result.duplicate, result.ticket_id) == (IntakeStatus.PENDING, False, None)
    assert again.status == IntakeStatus.PENDING and gateway.intake.backlog == 2
    assert (await gateway.store.get_inbound(result.inbound_id)).status == "pending"  # durable, answered

    release.set()
    await processed(gateway)
    assert (await gateway.store.get_inbound(result.inbound_id)).status == "processed"
    assert [t["subject"] for t in await all_tickets(http, gateway)] == ["stored first"]
    failed = await gateway.store.get_inbound(again.inbound_id)
    assert failed.status == "failed" and failed.error.startswith("normalize:")


async def test_a_record_whose_processing_raises_fails_alone(gateway, http, monkeypatch):
    real = gateway.processor._classify

    def classify(drafts, now):
        if any(draft.subject == "explodes" for draft in drafts):
            raise RuntimeError("classifier bug")
        return real(drafts, now)

    monkeypatch.setattr(gateway.processor, "_classify", classify)
    results = await asyncio.gather(*(gateway.intake(portal_raw(s), until="stored") for s in ("a", "explodes", "b")))
    await processed(gateway)
    statuses = {s: (await gateway.store.get_inbound(r.inbound_id)).status
                for s, r in zip(("a", "explodes", "b"), results, strict=True)}
    assert statuses == {"a": "processed", "explodes": "failed", "b": "processed"}
    assert sorted(t["subject"] for t in await all_tickets(http, gateway)) == ["a", "b"]


async def test_stored_records_count_against_the_in_flight_bound(start_gateway, monkeypatch):
    gw = await start_gateway(intake={"max_in_flight": 2})
    release = hold_processing(gw, monkeypatch)
    await asyncio.wait_for(asyncio.gather(*(gw.intake(portal_raw(s), until="stored") for s in ("one", "two"))),
                           timeout=10)
    with pytest.raises(OverloadedError):
        await gw.intake(portal_raw("three"), until="stored")
    release.set()
    await processed(gw)
    assert (await gw.intake(portal_raw("three"), until="stored")).status == IntakeStatus.PENDING


async def test_processing_waits_out_a_database_refusal_and_loses_nothing(gateway, http, monkeypatch):
    monkeypatch.setattr(intake_module, "BACKLOG_RETRY_S", 0.05)
    real = gateway.processor.write
    refusals = []

    async def write(tx, items, now):
        if items and len(refusals) < 3:
            refusals.append(1)
            raise StorageError("database is down")
        return await real(tx, items, now)

    monkeypatch.setattr(gateway.processor, "write", write)
    results = [await gateway.intake(portal_raw(f"s{i}"), until="stored") for i in range(3)]
    await processed(gateway)
    assert len(refusals) == 3
    assert {(await gateway.store.get_inbound(r.inbound_id)).status for r in results} == {"processed"}
    assert sorted(t["subject"] for t in await all_tickets(http, gateway)) == ["s0", "s1", "s2"]


async def test_stopping_processes_what_was_stored(start_gateway, monkeypatch):
    gw = await start_gateway()
    release = hold_processing(gw, monkeypatch)
    result = await gw.intake(portal_raw("at shutdown"), until="stored")
    stopping = asyncio.create_task(gw.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done()  # waits for the backlog ...
    release.set()
    await asyncio.wait_for(stopping, timeout=10)
    assert (await gw.store.get_inbound(result.inbound_id)).status == "processed"  # ... and processes it


async def test_past_the_backlog_limit_the_answer_waits_for_the_ticket(gateway, monkeypatch):
    """A stored record must be readable within a second of its answer: the backlog stays short."""
    monkeypatch.setattr(intake_module, "BACKLOG_MAX", 2)
    results = await asyncio.gather(*(gateway.intake(portal_raw(f"s{i}"), until="stored") for i in range(3)))
    assert [r.status for r in results] == [IntakeStatus.PENDING, IntakeStatus.PENDING, IntakeStatus.PROCESSED]
    assert results[2].ticket_id is not None
    await processed(gateway)


async def test_a_waiting_backlog_is_processed_many_records_to_a_transaction(gateway, http, monkeypatch):
    """Each processing transaction costs several round trips: a backlog of stored mail shares them."""
    real = gateway.processor.write
    sizes: list[int] = []

    async def write(tx, items, now):
        if items:
            sizes.append(len(items))
        return await real(tx, items, now)

    monkeypatch.setattr(gateway.processor, "write", write)
    results = await asyncio.gather(*(gateway.intake(portal_raw(f"m{i}"), until="stored") for i in range(24)))
    assert {r.status for r in results} == {IntakeStatus.PENDING}
    await processed(gateway)
    assert sum(sizes) == 24 and len(sizes) <= 2, sizes
    assert len(await all_tickets(http, gateway)) == 24
