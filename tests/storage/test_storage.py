"""Storage on both backends: migrations, unique keys, times, and what intake relies on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage import migrate
from storage.engine import create_engine
from storage.repository import Store


def inbound_row(external_id: str, **extra):
    return {"channel": "portal", "transport": "http", "external_id": external_id, "idempotency_key": None,
            "body_sha256": None, "received_at": datetime.now(UTC), "principal": None, "meta": {"k": "v"},
            "payload": b"\x00raw bytes\xff", "status": "pending", "error": None, "attempts": 0,
            "processed_at": None, **extra}


async def migrated_store(url: str) -> AsyncIterator[Store]:
    s = Store(create_engine(url))
    await migrate.upgrade(s.engine)
    yield s
    await s.close()


@pytest.fixture
async def store(db_url):
    async for s in migrated_store(db_url):
        yield s


async def test_migrations_reach_head_and_nothing_is_pending(store):
    assert await migrate.pending_revisions(store.engine) == []


async def test_a_fresh_database_reports_every_revision_pending(db_url):
    s = Store(create_engine(db_url))
    try:
        assert len(await migrate.pending_revisions(s.engine)) >= 2
    finally:
        await s.close()


async def test_repeats_are_skipped_by_either_unique_key(store):
    async with store.transaction() as tx:
        first = await tx.insert_inbound([inbound_row("a"), inbound_row("b", idempotency_key="k1")])
    assert set(first) == {("portal", "a"), ("portal", "b")}
    async with store.transaction() as tx:
        again = await tx.insert_inbound([inbound_row("a"), inbound_row("c", idempotency_key="k1"), inbound_row("d")])
    assert set(again) == {("portal", "d")}
    async with store.transaction() as tx:
        found = await tx.find_inbound([("portal", "a")], ["k1"])
    assert sorted(r.external_id for r in found) == ["a", "b"]


async def test_raw_payload_and_times_round_trip_exactly(store):
    moment = datetime(2026, 11, 22, 10, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    async with store.transaction() as tx:
        ids = await tx.insert_inbound([inbound_row("t", received_at=moment)])
    row = await store.get_inbound(ids[("portal", "t")])
    assert row is not None
    assert row.payload == b"\x00raw bytes\xff"
    assert row.received_at == moment and row.received_at.tzinfo is not None
    assert row.meta == {"k": "v"}


async def test_a_failed_transaction_keeps_nothing(store):
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.insert_inbound([inbound_row("gone")])
            raise RuntimeError("crash mid-transaction")
    assert await store.count_by_status() == {}


async def test_backlog_counts_pending_records_and_their_age(store):
    old = datetime.now(UTC) - timedelta(minutes=5)
    async with store.transaction() as tx:
        await tx.insert_inbound([inbound_row("p1", received_at=old), inbound_row("p2")])
    count, oldest = await store.backlog()
    assert count == 2 and oldest is not None
    assert abs((oldest - old).total_seconds()) < 1


async def test_a_failed_transaction_undoes_every_hot_path_insert(store):
    """The bulk inserts run on the driver connection: they must still be inside the transaction."""
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            ids = await tx.insert_inbound([inbound_row("undone")])
            [inbound_id] = ids.values()
            await tx.insert_tickets([{"status": "open", "opened_via": "portal", "subject": "s", "requester": {},
                                      "requester_key": None, "conversation_key": None, "classification": {},
                                      "external_ref": None, "opened_by": inbound_id, "created_at": now,
                                      "updated_at": now}])
            raise RuntimeError("crash after the inserts")
    assert await store.count_by_status() == {}
    assert (await store.list_tickets(channel=None, since=None, limit=10, cursor=None)).tickets == []


async def test_an_unflushed_transaction_leaves_every_later_commit_flushed(store):
    from storage.bulk import fetch

    async def level(tx):
        if store.dialect == "sqlite":
            return (await fetch(tx._conn, "PRAGMA synchronous", []))[0][0]  # 2 FULL, 1 NORMAL
        return (await fetch(tx._conn, "SHOW synchronous_commit", []))[0][0]

    async with store.transaction() as tx:
        flushed = await level(tx)  # FULL (2) on SQLite; the server's setting on PostgreSQL
    assert store.dialect != "sqlite" or flushed == 2
    relaxed = 1 if store.dialect == "sqlite" else "off"
    for _ in range(3):  # the pool hands the same connection back
        async with store.transaction(flush=False) as tx:
            await tx.insert_inbound([inbound_row(f"x-{id(tx)}")])
            assert await level(tx) == relaxed
        async with store.transaction() as tx:
            assert await level(tx) == flushed
    with pytest.raises(RuntimeError):
        async with store.transaction(flush=False) as tx:
            raise RuntimeError("a failed unflushed transaction restores the level too")
    async with store.transaction() as tx:
        assert await level(tx) == flushed
    finished = {r.status for r in await store.list_inbound("pending", 10)}
    assert finished == {"pending"}


async def test_outbox_rows_of_one_insert_may_leave_different_columns_to_their_defaults(store):
    """A claimed row names its claim; a plain one leaves attempts and the claim out: both in one statement."""
    now = datetime.now(UTC)
    lease = now + timedelta(minutes=1)
    async with store.transaction() as tx:
        [inbound_id] = (await tx.insert_inbound([inbound_row("outbox")])).values()
        [ticket_id] = (await tx.insert_tickets([{
            "status": "open", "opened_via": "portal", "subject": "s", "requester": {}, "requester_key": None,
            "conversation_key": None, "classification": {}, "external_ref": None, "opened_by": inbound_id,
            "created_at": now, "updated_at": now}])).values()
        [message_id] = (await tx.insert_messages([{
            "ticket_id": ticket_id, "inbound_id": inbound_id, "channel": "portal", "transport": "http",
            "external_id": "outbox", "kind": "new", "received_at": now, "sent_at": None, "subject": "s",
            "text": "t", "body": {}, "thread": None}])).values()
        common = {"ticket_id": ticket_id, "message_id": message_id, "event": "ticket.created", "created_at": now}
        await tx.insert_deliveries([
            {**common, "key": "plain", "destination": "main", "status": "pending", "due_at": now},
            {**common, "key": "claimed", "destination": "other", "status": "sending", "due_at": lease,
             "attempts": 1, "claimed_by": "worker-1", "claimed_until": lease},
        ])
        # As the planner writes them: the same columns in every row, the NULL ones left out.
        await tx.insert_deliveries([
            {**common, "key": f"planned-{n}", "destination": "main", "status": "pending", "due_at": now,
             "attempts": n} for n in range(2)
        ])
    async with store.engine.connect() as conn:
        rows = (await conn.exec_driver_sql(
            "SELECT key, status, attempts, claimed_by, last_error, remote_id, delivered_at FROM deliveries"
            " ORDER BY key")).all()
    assert [tuple(r) for r in rows] == [
        ("claimed", "sending", 1, "worker-1", None, None, None),
        ("plain", "pending", 0, None, None, None, None),
        ("planned-0", "pending", 0, None, None, None, None),
        ("planned-1", "pending", 1, None, None, None, None),
    ]


def test_a_reply_joins_the_ticket_of_the_newest_message_it_names_received_before_sent():
    from storage.repository import pick_thread

    received = {"a@x": (10, 1), "b@x": (12, 2)}
    sent = {"c@x": (99, 3)}
    assert pick_thread((received, sent), ["a@x", "b@x"]) == (2, "b@x")  # the newest message named
    assert pick_thread((received, sent), ["c@x", "a@x"]) == (1, "a@x")  # mail received before ours sent
    assert pick_thread((received, sent), ["c@x", "z@x"]) == (3, "c@x")  # else what we sent (an ack)
    assert pick_thread((received, sent), ["z@x"]) is None and pick_thread(({}, {}), []) is None


@pytest.fixture
async def sqlite_store(tmp_path):
    async for s in migrated_store(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"):
        yield s


async def test_a_committed_sqlite_transaction_costs_its_statements_and_the_commit_only(sqlite_store, monkeypatch):
    """No rollback round trip when the connection goes back to the pool: on SQLite every round trip
    to the database's thread comes before a batch's answer. A failed transaction still rolls back."""
    import aiosqlite.core

    calls: list[str] = []
    real = aiosqlite.core.Connection._execute

    async def counting(self, fn, *args, **kwargs):
        calls.append(fn.__name__)
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.core.Connection, "_execute", counting)
    async with sqlite_store.transaction() as tx:
        await tx.insert_inbound([inbound_row("r1"), inbound_row("r2")])
    assert calls == ["_execute_fetchall", "commit"]

    calls.clear()
    with pytest.raises(RuntimeError):
        async with sqlite_store.transaction() as tx:
            await tx.insert_inbound([inbound_row("r3")])
            raise RuntimeError("undo")
    assert calls == ["_execute_fetchall", "rollback"]
    async with sqlite_store.transaction() as tx:
        assert [r.external_id for r in await tx.find_inbound([("portal", "r1"), ("portal", "r3")], [])] == ["r1"]


async def test_multi_row_insert_converts_only_the_columns_that_need_it_even_a_single_one(store):
    """`insert_returning` with one column (a JSON one, which needs converting) and with several."""
    from sqlalchemy import JSON, Column, Integer, MetaData, String, Table

    from storage.bulk import insert_returning
    from storage.types import UtcDateTime

    probe = Table("bulk_probe", MetaData(), Column("id", Integer, primary_key=True, autoincrement=True),
                  Column("doc", JSON), Column("name", String(20)), Column("at", UtcDateTime()))
    moment = datetime(2026, 12, 4, 9, 30, 0, 250000, tzinfo=UTC)
    async with store.transaction() as tx:
        await tx.connection.run_sync(probe.metadata.create_all)
        one = await insert_returning(tx.connection, probe, [{"doc": {"a": [1, "é"]}}, {"doc": None}], ["id"])
        many = await insert_returning(tx.connection, probe, [{"name": "x", "doc": {"b": True}, "at": moment}],
                                      ["id"])
        none = await insert_returning(tx.connection, probe, [{"name": "y"}, {"name": "z"}], [])
    assert len(one) == 2 and len(many) == 1 and none == []  # nothing read back: no RETURNING clause
    async with store.engine.connect() as conn:
        rows = (await conn.execute(probe.select().order_by(probe.c.id))).all()
    assert [(r.doc, r.name, r.at) for r in rows] == [({"a": [1, "é"]}, None, None), (None, None, None),
                                                      ({"b": True}, "x", moment), (None, "y", None),
                                                      (None, "z", None)]
    if store.dialect == "sqlite":  # JSON goes in as UTF-8 bytes: it must be stored as text, not as a blob
        async with store.engine.connect() as conn:
            stored = (await conn.exec_driver_sql(
                "SELECT typeof(doc), doc, json_extract(doc, '$.a[1]') FROM bulk_probe ORDER BY id")).all()
        assert [tuple(row) for row in stored] == [("text", '{"a":[1,"é"]}', "é"), ("null", None, None),
                                                  ("text", '{"b":true}', None), ("null", None, None),
                                                  ("null", None, None)]


async def test_a_statement_sqlite_refuses_on_the_fast_path_fails_as_a_storage_error(sqlite_store):
    """Multi-row inserts go to the driver directly; its errors must still reach callers as StorageError,
    which is what intake and the outbox handle (retry, one by one), not as sqlite3's own."""
    from storage.repository import StorageError

    with pytest.raises(StorageError, match="NOT NULL"):
        async with sqlite_store.transaction() as tx:
            await tx.insert_inbound([inbound_row("fine"), inbound_row("broken", channel=None)])
    async with sqlite_store.transaction() as tx:
        assert await tx.find_inbound([("portal", "fine")], []) == []  # the whole statement was undone


async def test_rows_read_through_the_driver_equal_what_sqlalchemy_reads(store):
    """`storage.bulk.reader` (the dispatcher's reads of tickets and messages) must give back exactly the
    values SQLAlchemy's own types read: aware UTC times, decoded JSON, NULLs, on both backends."""
    from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, select

    from storage.bulk import fetch, reader
    from storage.repository import MessageRow, TicketRow
    from storage.tables import messages, tickets
    from storage.types import UtcDateTime

    probe = Table("read_probe", MetaData(), Column("id", Integer, primary_key=True, autoincrement=True),
                  Column("doc", JSON), Column("name", String(20)), Column("at", UtcDateTime()))
    values = [
        {"doc": {"a": [1, "é", None, 2.5], "nested": {"x": True}}, "name": "ő", "at": datetime(2026, 12, 7, 9, 30,
                                                                                              0, 250000, tzinfo=UTC)},
        {"doc": None, "name": None, "at": None},
        {"doc": ["list", "𝄞"], "name": "", "at": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=7)))},
        {"doc": "just text", "name": "x", "at": datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
    ]
    async with store.transaction() as tx:
        await tx.connection.run_sync(probe.metadata.create_all)
        await tx.connection.execute(probe.insert(), values)
    names = ["id", "doc", "name", "at"]
    async with store.engine.connect() as conn:
        expected = [list(r) for r in (await conn.execute(probe.select().order_by(probe.c.id))).all()]
        read = reader(probe, names, store.dialect)
        got = [read(r) for r in await fetch(conn, "SELECT id, doc, name, at FROM read_probe ORDER BY id", [])]
    assert got == expected
    assert [v[3].utcoffset() for v in got if v[3]] == [timedelta(0)] * 3  # aware and in UTC, as the type reads

    now = datetime(2026, 12, 7, 10, 0, 0, 123456, tzinfo=UTC)
    async with store.transaction() as tx:
        opened = await tx.insert_inbound([inbound_row(f"r{i}") for i in range(2)])
        ids = list(opened.values())
        made = await tx.insert_tickets([{
            "status": "open", "opened_via": "portal", "subject": f"Sujet {i} ✓", "requester": {"email": "a@b.c"},
            "requester_key": None, "conversation_key": None, "classification": {"queue": "q", "why": ["r1"]},
            "external_ref": {"main": "Z-1"} if i else None, "opened_by": ids[i], "created_at": now,
            "updated_at": now + timedelta(seconds=i)} for i in range(2)])
        await tx.insert_messages([{
            "ticket_id": made[ids[i]], "inbound_id": ids[i], "channel": "portal", "transport": "http",
            "external_id": f"r{i}", "kind": "new", "received_at": now, "sent_at": now if i else None,
            "subject": "s", "text": "szöveg\n", "body": {"schema": 1, "fields": {"n": 1}},
            "thread": {"by": "reference"} if i else None} for i in range(2)])
    ticket_ids = sorted(made.values())
    found = await store.tickets_with_messages(ticket_ids)
    async with store.engine.connect() as conn:
        for ticket_id in ticket_ids:
            [t] = (await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).all()
            ms = (await conn.execute(select(messages).where(messages.c.ticket_id == ticket_id))).all()
            assert found[ticket_id] == (
                TicketRow(**{k: t._mapping[k] for k in TicketRow.__dataclass_fields__}),
                [MessageRow(**m._mapping) for m in ms],
            )
    assert await store.tickets_with_messages([10**9]) == {}


async def test_nulls_and_bytes_are_bound_unchanged_without_sqlites_adaptation_protocol(sqlite_store):
    """sqlite3 asks every parameter that is not an exact int, float or str to adapt itself, and each refusal
    raises an AttributeError (thousands of instructions, several per record). The SQLite engine registers
    pass-through adapters for None and bytes; they must bind exactly what sqlite3 would have bound."""
    import sqlite3

    from storage.bulk import fetch

    assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)](None) is None
    raw = b"\x00raw \xff bytes"
    assert sqlite3.adapters[(bytes, sqlite3.PrepareProtocol)](raw) is raw
    async with sqlite_store.engine.connect() as conn:
        row = (await fetch(conn, "SELECT typeof(?), ?, typeof(?), ?, ? IS NULL", [None, None, raw, raw, None]))[0]
    assert tuple(row) == ("null", None, "blob", raw, 1)
