"""The outbox is written in the ticket's own transaction, and the dispatcher wakes at its commit."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from gateway.app import build_processor, build_store, prepare_storage
from gateway.routing import build_router
from normalize.schema import Channel, Kind, MessageDraft, Requester, Transport
from tests.conftest import make_config, wait_for
from tests.router.dispatch.conftest import rows, submit, webhook_setup


def draft(n: int) -> MessageDraft:
    return MessageDraft(channel=Channel.PORTAL, transport=Transport.HTTP, external_id=f"p{n}", kind=Kind.NEW,
                        requester=Requester(email="ann@example.org"), subject=f"s{n}", text="t",
                        received_at=datetime.now(UTC))


class Boom(Exception):
    pass


async def test_ticket_and_its_deliveries_commit_or_roll_back_together(db_url, tmp_path):
    config = make_config(db_url, tmp_path, **webhook_setup("http://127.0.0.1:9/hook"))
    store = build_store(config)
    processor = build_processor(config, build_router(config))
    await prepare_storage(config, store)
    now = datetime.now(UTC)
    raw = {"channel": "portal", "transport": "http", "idempotency_key": None, "body_sha256": None,
           "received_at": now, "principal": None, "meta": {}, "payload": b"{}", "status": "pending",
           "error": None, "attempts": 0, "processed_at": None}
    try:
        with pytest.raises(Boom):
            async with store.transaction() as tx:
                ids = await tx.insert_inbound([{**raw, "external_id": "p1"}])
                await processor.write(tx, [(ids[("portal", "p1")], draft(1))], now)
                raise Boom  # anything failing after the write, before the commit
        page = await store.list_tickets(channel=None, since=None, limit=10, cursor=None)
        from storage.outbox import Outbox

        assert page.tickets == [] and await Outbox(store).list() == []

        async with store.transaction() as tx:
            ids = await tx.insert_inbound([{**raw, "external_id": "p2"}])
            [written] = await processor.write(tx, [(ids[("portal", "p2")], draft(2))], now)
        [row] = await Outbox(store).list()
        assert (row.ticket_id, row.message_id, row.destination, row.event, row.status) == (
            written.ticket_id, written.message_id, "main", "ticket.created", "pending")
    finally:
        await store.close()


async def test_the_dispatcher_wakes_at_the_commit_not_at_the_next_poll(start_gateway, receiver, http):
    setup = webhook_setup(receiver.hook_url)
    setup["dispatch"] = {"poll_interval_s": 30.0}
    gw = await start_gateway(**setup)
    started = time.monotonic()
    await submit(gw, http)
    await wait_for(lambda: _len_is(receiver.tickets, 1), timeout=5)
    assert time.monotonic() - started < 1.0
    assert len(await rows(gw)) == 1


async def _len_is(items: object, n: int) -> bool:
    return len(items) == n  # type: ignore[arg-type]
