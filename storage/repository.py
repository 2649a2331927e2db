"""The repository API: every SQL statement the gateway runs lives here.

Callers work in plain values and the row objects below; the hot intake path
is set-based (one statement per batch, not per record) so that a group commit
of a few hundred records costs a handful of round trips.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, text, true, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from storage.bulk import fetch, insert_returning, placeholders, reader, time_param
from storage.tables import checkpoints, deliveries, identity_links, inbound, messages, outbound_messages, tickets

log = logging.getLogger("storage.repository")


def _insert_defaults(table: Table) -> dict[str, Any]:
    """Every column but the id, with the value the table gives a row that leaves it out (scalar defaults only)."""
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.primary_key:
            continue
        default = column.default
        if default is not None and not isinstance(default, ScalarElementColumnDefault):
            raise TypeError(f"{table.name}.{column.name}: only scalar defaults can be filled in here")
        defaults[column.name] = default.arg if default is not None else None
    return defaults


_DELIVERY_DEFAULTS = _insert_defaults(deliveries)
"""Every column an outbox row is inserted with, and its value when the row leaves it out."""
_DELIVERY_FILLED = {name: default for name, default in _DELIVERY_DEFAULTS.items() if default is not None}
"""The columns a row may leave out that are not NULL then: rows that all have the same columns, these
among them, are inserted as they are (the others stored NULL), without filling each in."""


class StorageError(Exception):
    """A database operation failed; nothing of the transaction was kept."""


class DuplicateKeyError(StorageError):
    """A unique key was taken by a concurrent writer; retry the batch."""


@dataclass(frozen=True, slots=True)
class InboundRow:
    id: int
    channel: str
    transport: str
    external_id: str
    idempotency_key: str | None
    body_sha256: str | None
    received_at: datetime
    principal: str | None
    meta: dict[str, Any]
    payload: bytes
    status: str
    error: str | None
    attempts: int
    processed_at: datetime | None = None
    ticket_id: int | None = None  # from the message the record became, when it did
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class TicketRow:
    id: int
    status: str
    opened_via: str
    subject: str
    requester: dict[str, Any]
    classification: dict[str, Any]
    external_ref: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    ticket_id: int
    inbound_id: int
    channel: str
    transport: str
    external_id: str
    kind: str
    received_at: datetime
    sent_at: datetime | None
    subject: str
    text: str
    body: dict[str, Any]
    thread: dict[str, Any] | None


_TICKET_COLUMNS = [f.name for f in fields(TicketRow)]
_MESSAGE_COLUMNS = [f.name for f in fields(MessageRow)]
_INBOUND_LIGHT = [c for c in inbound.c if c.name != "payload"]
_OUTCOME = [messages.c.ticket_id, messages.c.id.label("message_id")]
_WITH_OUTCOME = inbound.outerjoin(messages, messages.c.inbound_id == inbound.c.id)


def _inbound_row(row: Any, payload: bytes = b"") -> InboundRow:
    data = dict(row._mapping)
    data.setdefault("payload", payload)
    return InboundRow(**data)


def _translate(exc: Exception) -> StorageError:
    if isinstance(exc, IntegrityError):
        return DuplicateKeyError(str(exc.orig))
    return StorageError(f"{type(exc).__name__}: {getattr(exc, 'orig', exc)}")


class Transaction:
    """One open transaction. Methods run on its connection, in order."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.wrote_outbox = False  # the store tells its outbox listeners after the commit
        self.outbox_rows: list[dict[str, Any]] = []  # the deliveries inserted, handed to the listeners

    @property
    def connection(self) -> AsyncConnection:
        """The transaction's connection, for repositories of other tables in this package."""
        return self._conn

    # -- inbound ---------------------------------------------------------
    async def find_inbound(
        self, keys: Sequence[tuple[str, str]], idempotency_keys: Sequence[str]
    ) -> list[InboundRow]:
        """Stored records matching any (channel, external id) or idempotency key."""
        clauses = []
        if keys:
            clauses.append(tuple_(inbound.c.channel, inbound.c.external_id).in_(list(keys)))
        if idempotency_keys:
            clauses.append(inbound.c.idempotency_key.in_(list(idempotency_keys)))
        if not clauses:
            return []
        stmt = select(*_INBOUND_LIGHT, *_OUTCOME).select_from(_WITH_OUTCOME).where(or_(*clauses))
        return [_inbound_row(r) for r in await self._conn.execute(stmt)]

    # Inserts return ids keyed by a unique column rather than in parameter
    # order: ordered RETURNING makes SQLite insert one row per statement.
    async def insert_inbound(self, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], int]:
        """Ids of the new records by (channel, external id); a record already stored is left out.

        One statement whether or not there are repeats: a repeat (either
        unique key taken) is skipped by the database, not looked up first.
        """
        result = await insert_returning(self._conn, inbound, rows, ["id", "channel", "external_id"],
                                        skip_conflicts=True)
        return {(channel, external_id): id_ for id_, channel, external_id in result}

    async def mark_inbound(self, updates: Sequence[dict[str, Any]]) -> None:
        """Set the outcome of records.

        Each update has b_id, status, error, processed_at.
        """
        if not updates:
            return
        stmt = (
            update(inbound)
            .where(inbound.c.id == bindparam("b_id"))
            .values(
                status=bindparam("status"),
                error=bindparam("error"),
                processed_at=bindparam("processed_at"),
                attempts=inbound.c.attempts + 1,
            )
        )
        await self._conn.execute(stmt, list(updates))

    async def finish_pending(self, outcomes: Mapping[int, str | None], now: datetime) -> set[int]:
        """Mark pending records processed (None) or failed (the reason); the ids no other process had
        taken or finished first. Claiming and marking are one statement: on PostgreSQL it waits for a
        record another process is processing, then skips it once that one has marked it."""
        done = [inbound_id for inbound_id, error in outcomes.items() if error is None]
        mine: set[int] = set()
        if done:
            rows = await fetch(
                self._conn,
                "UPDATE inbound SET status = 'processed', error = NULL, processed_at = ?, attempts = attempts + 1 "
                f"WHERE status = 'pending' AND id IN ({placeholders(len(done))}) RETURNING id",
                [time_param(self._conn, now), *done],
            )
            mine.update(int(row[0]) for row in rows)
        for inbound_id, error in outcomes.items():
            if error is not None:  # rare: one statement each
                rows = await fetch(
                    self._conn,
                    "UPDATE inbound SET status = 'failed', error = ?, processed_at = ?, attempts = attempts + 1 "
                    "WHERE status = 'pending' AND id = ? RETURNING id",
                    [error, time_param(self._conn, now), inbound_id],
                )
                mine.update(int(row[0]) for row in rows)
        return mine

    async def claim_for_processing(self, inbound_id: int, statuses: Sequence[str]) -> InboundRow | None:
        """Lock a record for re-processing; None when another process took it already."""
        stmt = select(inbound).where(inbound.c.id == inbound_id, inbound.c.status.in_(list(statuses)))
        if self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        row = (await self._conn.execute(stmt)).first()
        return _inbound_row(row) if row else None

    # -- tickets and messages -------------------------------------------
    async def insert_tickets(self, rows: Sequence[dict[str, Any]]) -> dict[int, int]:
        """Ids of the new tickets by the inbound record that opened each (`opened_by`)."""
        inserted = await insert_returning(self._conn, tickets, rows, ["id", "opened_by"])
        return {opened_by: id_ for id_, opened_by in inserted}

    async def insert_messages(self, rows: Sequence[dict[str, Any]]) -> dict[int, int]:
        """Ids of the new messages by their inbound record."""
        inserted = await insert_returning(self._conn, messages, rows, ["id", "inbound_id"])
        return {inbound_id: id_ for id_, inbound_id in inserted}

    async def touch_tickets(self, ticket_ids: Sequence[int], now: datetime) -> None:
        if ticket_ids:
            unique = sorted(set(ticket_ids))
            await fetch(self._conn, f"UPDATE tickets SET updated_at = ? WHERE id IN ({placeholders(len(unique))})",
                        [time_param(self._conn, now), *unique])

    async def set_ticket_status(self, ticket_id: int, status: str, now: datetime) -> None:
        await self._conn.execute(
            update(tickets).where(tickets.c.id == ticket_id).values(status=status, updated_at=now)
        )

    async def ticket_statuses(self, ticket_ids: Sequence[int]) -> dict[int, str]:
        """The status of each of these tickets that exists, in one round trip."""
        if not ticket_ids:
            return {}
        unique = sorted(set(ticket_ids))
        rows = await fetch(self._conn, f"SELECT id, status FROM tickets WHERE id IN ({placeholders(len(unique))})",
                           unique)
        return {int(ticket_id): str(status) for ticket_id, status in rows}

    async def tickets_by_message_id(
        self, external_ids: Sequence[str]
    ) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
        """Which tickets hold these Message-IDs: (received, sent by us), each id -> (newest row, its ticket).

        Two round trips for a whole batch; `pick_thread` chooses for one message.
        """
        if not external_ids:
            return {}, {}
        unique = sorted(set(external_ids))
        marks = placeholders(len(unique))
        received = await fetch(self._conn, f"SELECT id, ticket_id, external_id FROM messages "
                                           f"WHERE external_id IN ({marks})", unique)
        sent = await fetch(self._conn, f"SELECT id, ticket_id, message_id FROM outbound_messages "
                                       f"WHERE message_id IN ({marks})", unique)
        return _newest(received), _newest(sent)

    async def open_conversation(self, key: str, active_since: datetime) -> int | None:
        stmt = (
            select(tickets.c.id)
            .where(
                tickets.c.conversation_key == key,
                tickets.c.status == "open",
                tickets.c.updated_at >= active_since,
            )
            .order_by(tickets.c.id.desc())
            .limit(1)
        )
        row = (await self._conn.execute(stmt)).first()
        return row[0] if row else None

    async def recent_tickets_by(self, requester_keys: Sequence[str], since: datetime) -> dict[str, tuple[int, int]]:
        """For each requester who opened tickets since `since`: how many, and the newest one's id (flood check)."""
        if not requester_keys:
            return {}
        rows = await fetch(
            self._conn,
            "SELECT requester_key, count(*), max(id) FROM tickets WHERE created_at >= ? AND requester_key IN "
            f"({placeholders(len(requester_keys))}) GROUP BY requester_key",
            [time_param(self._conn, since), *requester_keys],
        )
        return {str(key): (int(count), int(newest)) for key, count, newest in rows}

    # -- outbox ----------------------------------------------------------
    async def insert_deliveries(self, rows: Sequence[dict[str, Any]]) -> None:
        """Outbox rows in one multi-row statement; a column a row leaves out gets its default (as in the table)."""
        if rows:
            columns = rows[0].keys()
            if _DELIVERY_FILLED.keys() <= columns and all(row.keys() == columns for row in rows):
                given: Sequence[dict[str, Any]] = rows  # the planner's rows: what they leave out is NULL
            else:
                given = [{name: row.get(name, default) for name, default in _DELIVERY_DEFAULTS.items()} for row in rows]
            await insert_returning(self._conn, deliveries, given, [])
            self.wrote_outbox = True
            self.outbox_rows += rows

    async def ticket_classifications(self, ticket_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The stored classification of each ticket, in one statement (follow-ups are routed by it)."""
        if not ticket_ids:
            return {}
        stmt = select(tickets.c.id, tickets.c.classification).where(tickets.c.id.in_(list(set(ticket_ids))))
        return {row[0]: dict(row[1] or {}) for row in await self._conn.execute(stmt)}

    # -- checkpoints -----------------------------------------------------
    async def get_checkpoint(self, name: str) -> dict[str, Any] | None:
        row = (await self._conn.execute(select(checkpoints.c.value).where(checkpoints.c.name == name))).first()
        return dict(row[0]) if row else None

    async def set_checkpoint(self, name: str, value: dict[str, Any], now: datetime) -> None:
        done = await self._conn.execute(
            update(checkpoints).where(checkpoints.c.name == name).values(value=value, updated_at=now)
        )
        if done.rowcount == 0:
            await self._conn.execute(checkpoints.insert().values(name=name, value=value, updated_at=now))


@dataclass(frozen=True, slots=True)
class TicketPage:
    tickets: list[TicketRow]
    next_cursor: tuple[int, ...] | None


class Store:
    """Entry point of the repository API; owns the engine."""

    def __init__(self, engine: AsyncEngine, *, sqlite_synchronous: str = "FULL") -> None:
        self.engine = engine
        self._sqlite_synchronous = sqlite_synchronous.upper()
        self._outbox_listeners: list[Callable[[Sequence[dict[str, Any]]], None]] = []
        self._as_ticket = reader(tickets, _TICKET_COLUMNS, self.dialect)
        self._as_message = reader(messages, _MESSAGE_COLUMNS, self.dialect)

    def add_outbox_listener(self, listener: Callable[[Sequence[dict[str, Any]]], None]) -> None:
        """Call `listener` with the rows after every commit that wrote deliveries (the dispatcher wakes on it)."""
        self._outbox_listeners.append(listener)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, *, flush: bool = True) -> AsyncIterator[Transaction]:
        """A transaction that commits on success; database errors become StorageError.

        `flush=False` lets the commit return before it reaches the disk (SQLite
        `synchronous=NORMAL`, PostgreSQL `synchronous_commit = off`), for work
        that can be redone from what an earlier flushed commit holds, such as
        processing stored records: a crash may lose it but never corrupts the
        database, and the next flushed commit makes it durable too.

        On SQLite such a transaction also moves the write-ahead log into the
        database file (a passive checkpoint) while nobody waits on it: else
        SQLite does it inside whichever commit takes the log past 1,000 pages,
        and with mail-sized records that is often one that senders wait on.
        """
        relaxed = not flush and self.dialect == "sqlite"
        try:
            async with self.engine.connect() as conn:
                if relaxed:  # per connection, and only between transactions
                    await fetch(conn, "PRAGMA synchronous=NORMAL", [])
                try:
                    async with conn.begin():
                        if not flush and self.dialect == "postgresql":
                            await fetch(conn, "SET LOCAL synchronous_commit TO OFF", [])
                        tx = Transaction(conn)
                        yield tx
                finally:
                    if relaxed:
                        await self._restore_synchronous(conn)
                if relaxed:
                    try:
                        await fetch(conn, "PRAGMA wal_checkpoint(PASSIVE)", [])
                    except Exception as exc:  # the commit stands; SQLite checkpoints by itself later
                        log.warning("checkpoint after a transaction failed: %s", exc)
        except (DBAPIError, OperationalError) as exc:
            raise _translate(exc) from exc
        if tx.wrote_outbox:
            for listener in self._outbox_listeners:
                listener(tx.outbox_rows)

    async def _restore_synchronous(self, conn: AsyncConnection) -> None:
        """Back to flushed commits before the connection serves another transaction, or never again."""
        try:
            await fetch(conn, f"PRAGMA synchronous={self._sqlite_synchronous}", [])
        except Exception:
            await conn.invalidate()
            raise

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (DBAPIError, OperationalError, OSError) as exc:
            raise StorageError(str(exc)) from exc

    async def _fetch(self, *statements: tuple[str, Sequence[Any]]) -> list[list[Sequence[Any]]]:
        """Reads through the driver, without SQLAlchemy's result machinery (see `storage.bulk.fetch`),
        on one connection: on PostgreSQL every checkout costs a round trip (the pool's ping)."""
        try:
            async with self.engine.connect() as conn:
                return [await fetch(conn, sql, params) for sql, params in statements]
        except (DBAPIError, OperationalError) as exc:
            raise _translate(exc) from exc

    async def _all(self, stmt: Any) -> list[Any]:
        try:
            async with self.engine.connect() as conn:
                return list(await conn.execute(stmt))
        except (DBAPIError, OperationalError) as exc:
            raise _translate(exc) from exc

    # -- inbound ---------------------------------------------------------
    async def inbound_ids(self, status: str, limit: int, after_id: int = 0) -> list[int]:
        stmt = (
            select(inbound.c.id)
            .where(inbound.c.status == status, inbound.c.id > after_id)
            .order_by(inbound.c.id)
            .limit(limit)
        )
        return [r[0] for r in await self._all(stmt)]

    async def list_inbound(self, status: str, limit: int, after_id: int = 0) -> list[InboundRow]:
        stmt = (
            select(*_INBOUND_LIGHT, *_OUTCOME)
            .select_from(_WITH_OUTCOME)
            .where(inbound.c.status == status, inbound.c.id > after_id)
            .order_by(inbound.c.id)
            .limit(limit)
        )
        return [_inbound_row(r) for r in await self._all(stmt)]

    async def get_inbound(self, inbound_id: int) -> InboundRow | None:
        stmt = select(inbound, *_OUTCOME).select_from(_WITH_OUTCOME).where(inbound.c.id == inbound_id)
        rows = await self._all(stmt)
        return _inbound_row(rows[0]) if rows else None

    async def backlog(self) -> tuple[int, datetime | None]:
        """Records stored but not yet processed, and the oldest one's receipt time."""
        stmt = select(func.count(), func.min(inbound.c.received_at)).where(inbound.c.status == "pending")
        count, oldest = (await self._all(stmt))[0]  # min() keeps the column's type: an aware UTC time
        return int(count), oldest

    async def count_by_status(self) -> dict[str, int]:
        stmt = select(inbound.c.status, func.count()).group_by(inbound.c.status)
        return {status: int(n) for status, n in await self._all(stmt)}

    # -- tickets ---------------------------------------------------------
    async def get_ticket(self, ticket_id: int) -> tuple[TicketRow, list[MessageRow]] | None:
        return (await self.tickets_with_messages([ticket_id])).get(ticket_id)

    async def tickets_with_messages(self, ticket_ids: Iterable[int]) -> dict[int, tuple[TicketRow, list[MessageRow]]]:
        """Tickets and their messages (oldest first), in two statements for any number of tickets.

        The dispatcher reads every claim's tickets here, so the rows come
        through the driver and `storage.bulk.reader`, not SQLAlchemy's result
        machinery, which cost more than the reads themselves.
        """
        ids = sorted(set(ticket_ids))
        if not ids:
            return {}
        marks = placeholders(len(ids))
        ticket_rows, message_rows = await self._fetch(
            (f"SELECT {', '.join(_TICKET_COLUMNS)} FROM tickets WHERE id IN ({marks})", ids),
            (f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages WHERE ticket_id IN ({marks}) ORDER BY id", ids),
        )
        found: dict[int, tuple[TicketRow, list[MessageRow]]] = {}
        for row in ticket_rows:
            ticket = TicketRow(*self._as_ticket(row))
            found[ticket.id] = (ticket, [])
        for row in message_rows:
            message = MessageRow(*self._as_message(row))
            if message.ticket_id in found:
                found[message.ticket_id][1].append(message)
        return found

    async def list_tickets(
        self,
        *,
        channel: str | None,
        since: datetime | None,
        limit: int,
        cursor: int | None,
        status: str | None = None,
    ) -> TicketPage:
        """Newest first, keyset-paginated on id (ids grow with creation time)."""
        conditions = []
        if channel:
            conditions.append(tickets.c.opened_via == channel)
        if since:
            conditions.append(tickets.c.created_at >= since)
        if status:
            conditions.append(tickets.c.status == status)
        if cursor is not None:
            conditions.append(tickets.c.id < cursor)
        stmt = select(tickets).where(and_(true(), *conditions)).order_by(tickets.c.id.desc()).limit(limit + 1)
        rows = [_ticket_row(r) for r in await self._all(stmt)]
        next_cursor = (rows[limit - 1].id,) if len(rows) > limit else None
        return TicketPage(tickets=rows[:limit], next_cursor=next_cursor)

    # -- identities, a conversation's ticket, acknowledgements sent --------
    async def link_identity(self, key: str, linked_key: str, now: datetime) -> None:
        """Record that `key` (telegram:42) is the owner of `linked_key` (phone:+36...); the newest link wins."""
        for _attempt in range(2):
            try:
                async with self.transaction() as tx:
                    conn = tx.connection
                    done = await conn.execute(
                        update(identity_links)
                        .where(identity_links.c.key == key, identity_links.c.linked_key != linked_key)
                        .values(linked_key=linked_key, created_at=now)
                    )
                    if done.rowcount == 0:
                        found = (await conn.execute(
                            select(identity_links.c.key).where(identity_links.c.key == key))).first()
                        if found is None:
                            await conn.execute(identity_links.insert().values(key=key, linked_key=linked_key,
                                                                              created_at=now))
                return
            except DuplicateKeyError:
                continue  # a concurrent writer linked it first: update theirs

    async def identity_link(self, key: str) -> str | None:
        rows = await self._all(select(identity_links.c.linked_key).where(identity_links.c.key == key))
        return rows[0][0] if rows else None

    async def conversation_ticket(self, key: str) -> TicketRow | None:
        """The conversation's newest open ticket, else its newest ticket of any status."""
        base = select(tickets).where(tickets.c.conversation_key == key).order_by(tickets.c.id.desc()).limit(1)
        rows = await self._all(base.where(tickets.c.status == "open"))
        if not rows:
            rows = await self._all(base)
        return _ticket_row(rows[0]) if rows else None

    async def opened_ticket(self, ticket_id: int, message_id: int) -> bool:
        """Whether the message is its ticket's first, the one that opened it."""
        rows = await self._all(select(func.min(messages.c.id)).where(messages.c.ticket_id == ticket_id))
        return bool(rows) and rows[0][0] == message_id

    async def outbound_sent(self, ticket_id: int, recipient: str, kind: str) -> bool:
        """Whether a message of this kind for this ticket was recorded as sent to the recipient."""
        stmt = select(outbound_messages.c.id).where(
            outbound_messages.c.recipient == recipient,
            outbound_messages.c.ticket_id == ticket_id,
            outbound_messages.c.kind == kind,
        ).limit(1)
        return bool(await self._all(stmt))

    async def record_outbound(self, message_id: str, ticket_id: int, channel: str, kind: str,
                              recipient: str | None, now: datetime) -> None:
        """Remember a message the gateway sent (replies to it thread to the ticket); a repeat is a no-op."""
        try:
            async with self.transaction() as tx:
                await tx.connection.execute(outbound_messages.insert().values(
                    message_id=message_id, ticket_id=ticket_id, channel=channel, kind=kind,
                    recipient=recipient, created_at=now))
        except DuplicateKeyError:
            pass


def _ticket_row(row: Any) -> TicketRow:
    data = dict(row._mapping)
    for key in ("requester_key", "conversation_key", "opened_by"):
        data.pop(key, None)
    return TicketRow(**data)


def _newest(rows: Sequence[Sequence[Any]]) -> dict[str, tuple[int, int]]:
    """(row id, ticket id, key) rows -> key -> (newest row id, its ticket id)."""
    newest: dict[str, tuple[int, int]] = {}
    for row_id, ticket_id, key in rows:
        if key not in newest or int(row_id) > newest[key][0]:
            newest[str(key)] = (int(row_id), int(ticket_id))
    return newest


def pick_thread(
    known: tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]], external_ids: Sequence[str]
) -> tuple[int, str] | None:
    """The newest ticket holding a message with one of these ids (received first, else sent by us), and
    the id matched, from what `tickets_by_message_id` found."""
    for table in known:
        found = [(table[value][0], table[value][1], value) for value in external_ids if value in table]
        if found:
            _, ticket_id, value = max(found)
            return ticket_id, value
    return None
