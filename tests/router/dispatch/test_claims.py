"""Claims are atomic: several processes on one database take disjoint sets, and a dead worker's claims come back.

Each `Store` here has its own engine and connection pool, as a separate
gateway process would; on PostgreSQL the claim is `FOR UPDATE SKIP LOCKED`,
on SQLite the write lock.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gateway.views import ticket_json
from router.destinations.webhook import WebhookDestination
from router.dispatch import Dispatcher, DispatchSettings
from router.outbox_plan import new_key
from storage import migrate
from storage.engine import create_engine
from storage.outbox import Outbox
from storage.repository import Store
from tests.conftest import wait_for
from tests.router.dispatch.conftest import HOOK_ENV, HOOK_SECRET

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


async def seed(store: Store, count: int, destination: str = "main", due: datetime = NOW) -> None:
    """`count` tickets with one message and one due delivery each."""
    async with store.transaction() as tx:
        inbound = await tx.insert_inbound([{
            "channel": "portal", "transport": "http", "external_id": f"x{i}", "idempotency_key": None,
            "body_sha256": None, "received_at": NOW, "principal": None, "meta": {}, "payload": b"{}",
            "status": "processed", "error": None, "attempts": 1, "processed_at": NOW} for i in range(count)])
        ids = [inbound[("portal", f"x{i}")] for i in range(count)]
        tickets = await tx.insert_tickets([{
            "status": "open", "opened_via": "portal", "subject": f"s{i}", "requester": {}, "requester_key": None,
            "conversation_key": None, "classification": {"queue": "general"}, "external_ref": None,
            "opened_by": ids[i], "created_at": NOW, "updated_at": NOW} for i in range(count)])
        messages = await tx.insert_messages([{
            "ticket_id": tickets[ids[i]], "inbound_id": ids[i], "channel": "portal", "transport": "http",
            "external_id": f"x{i}", "kind": "new", "received_at": NOW, "sent_at": None, "subject": f"s{i}",
            "text": "t", "body": {}, "thread": None} for i in range(count)])
        await tx.insert_deliveries([{
            "key": new_key(), "ticket_id": tickets[ids[i]], "message_id": messages[ids[i]],
            "destination": destination, "event": "ticket.created", "status": "pending", "attempts": 0,
            "due_at": due, "claimed_by": None, "claimed_until": None, "last_error": None, "remote_id": None,
            "created_at": NOW, "delivered_at": None} for i in range(count)])


async def stores(url: str, count: int) -> list[Store]:
    made = [Store(create_engine(url, sqlite_synchronous="normal")) for _ in range(count)]
    await migrate.upgrade(made[0].engine)
    return made


async def test_concurrent_claimers_take_disjoint_sets_and_all_rows(both_db_url):
    a, b, c = await stores(both_db_url, 3)
    try:
        await seed(a, 120)
        for store in (a, b, c):
            await store.ping()  # connected, so none of them starts late
        taken: dict[str, list[int]] = {"a": [], "b": [], "c": []}

        async def claimer(name: str, store: Store) -> None:
            outbox = Outbox(store)
            while rows := await outbox.claim(name, NOW, NOW + timedelta(minutes=1), 7, ["main"]):
                taken[name] += [r.id for r in rows]
                await asyncio.sleep(0.002)

        await asyncio.gather(claimer("a", a), claimer("b", b), claimer("c", c))
        every = taken["a"] + taken["b"] + taken["c"]
        assert len(every) == len(set(every)) == 120
        assert sum(1 for ids in taken.values() if ids) >= 2  # they really competed
        assert all(r.status == "sending" and r.attempts == 1 for r in await Outbox(a).list(limit=200))
    finally:
        for store in (a, b, c):
            await store.close()


async def test_an_expired_lease_is_taken_again_and_the_late_owner_cannot_record(both_db_url):
    first, second = await stores(both_db_url, 2)
    try:
        await seed(first, 1)
        lost = Outbox(first)
        [row] = await lost.claim("dead-worker", NOW, NOW + timedelta(seconds=30), 10, ["main"])
        assert await Outbox(second).claim("other", NOW + timedelta(seconds=29), NOW + timedelta(minutes=1),
                                          10, ["main"]) == []
        [again] = await Outbox(second).claim("other", NOW + timedelta(seconds=31), NOW + timedelta(minutes=2),
                                             10, ["main"])
        assert again.id == row.id and again.attempts == 2
        assert (await Outbox(second).get(row.id)).claimed_by == "other"
        from storage.outbox import DeliveryOutcome

        assert await lost.finish("dead-worker", [DeliveryOutcome(row.id, "dead", NOW, "late")], NOW) == 0
        assert (await lost.get(row.id)).status == "sending"
    finally:
        await first.close()
        await second.close()


async def test_two_dispatchers_on_one_database_deliver_each_key_once(both_db_url, receiver, monkeypatch):
    from router.destinations.base import RetryPolicy
    from router.destinations.config import WebhookConfig
    from router.destinations.signing import decode_secret

    monkeypatch.setenv(HOOK_ENV, HOOK_SECRET)
    one, two = await stores(both_db_url, 2)
    config = WebhookConfig("main", receiver.hook_url, HOOK_ENV, 5.0, RetryPolicy())
    settings = DispatchSettings(concurrency=8, batch_size=5, poll_interval_s=0.05)
    dispatchers = [
        Dispatcher(Outbox(store), {"main": WebhookDestination(config, decode_secret(HOOK_SECRET))}, ticket_json,
                   settings, worker=name)
        for name, store in (("one", one), ("two", two))
    ]
    try:
        await seed(one, 60, due=datetime.now(UTC) - timedelta(seconds=1))
        for d in dispatchers:
            await d.start()

        async def done() -> bool:
            rows = await Outbox(one).list(limit=100)
            return len(receiver.tickets) == 60 and all(r.status == "delivered" for r in rows)

        await wait_for(done, timeout=20)
        keys = [s.headers["webhook-id"] for s in receiver.requests]
        assert len(keys) == len(set(keys)) == 60  # no key sent twice
    finally:
        for d in dispatchers:
            await d.stop()
        await one.close()
        await two.close()


async def test_concurrent_acknowledgements_to_one_sender_reserve_one(both_db_url):
    from storage.outbox import Reservation

    stores_ = await stores(both_db_url, 4)
    try:
        for store in stores_:
            await store.ping()
        since = NOW - timedelta(hours=1)
        for sender in range(5):  # several rounds: the first ones warm the connections up
            answers = await asyncio.gather(*(
                Outbox(store).reserve_outbound(message_id=f"ack-{sender}-{n}@gw.example.org", ticket_id=n,
                                               channel="email", kind="ack", recipient=f"Ann{sender}@Example.org",
                                               since=since, now=NOW)
                for n, store in enumerate(stores_)
            ))
            assert sorted(answers) == sorted([Reservation.RESERVED] + [Reservation.RATE_LIMITED] * 3), answers
        again = await Outbox(stores_[0]).reserve_outbound(
            message_id=f"ack-4-{answers.index(Reservation.RESERVED)}@gw.example.org", ticket_id=0, channel="email",
            kind="ack", recipient="ann4@example.org", since=since, now=NOW)
        assert again is Reservation.ALREADY  # a retry of the reserved one may send again
    finally:
        for store in stores_:
            await store.close()


async def test_outcomes_and_the_downstream_ticket_id_are_recorded_together_or_not_at_all(both_db_url, monkeypatch):
    """A delivered row must not be seen delivered without the downstream id its follow-ups need."""
    from storage.outbox import DeliveryOutcome
    from storage.repository import StorageError

    [store] = await stores(both_db_url, 1)
    try:
        await seed(store, 3)
        outbox = Outbox(store)
        rows = await outbox.claim("w", NOW, NOW + timedelta(minutes=1), 10, ["main"])
        outcomes = [DeliveryOutcome(r.id, "delivered", NOW, None, f"remote-{r.id}", r.ticket_id, "main", f"Z-{r.id}")
                    for r in rows]

        async def refused(*_args: object) -> None:
            raise StorageError("the ticket update was refused")

        monkeypatch.setattr(outbox, "_keep_ticket_refs", refused)
        try:
            await outbox.finish("w", outcomes, NOW)
        except StorageError:
            pass
        assert [(await outbox.get(r.id)).status for r in rows] == ["sending"] * 3  # nothing recorded
        assert [(await store.get_ticket(r.ticket_id))[0].external_ref for r in rows] == [None] * 3  # type: ignore[index]
        monkeypatch.undo()

        assert await outbox.finish("w", outcomes[1:], NOW) == 2
        assert await outbox.finish("other-worker", outcomes[:1], NOW) == 0  # not its claim
        after = [await outbox.get(r.id) for r in rows]
        assert [(a.status, a.remote_id) for a in after] == [
            ("sending", None), ("delivered", f"remote-{rows[1].id}"), ("delivered", f"remote-{rows[2].id}")]
        assert after[1].delivered_at == NOW and after[1].claimed_by is None and after[1].due_at == NOW
        refs = [(await store.get_ticket(r.ticket_id))[0].external_ref for r in rows[1:]]  # type: ignore[index]
        assert refs == [{"main": f"Z-{rows[1].id}"}, {"main": f"Z-{rows[2].id}"}]
    finally:
        await store.close()
