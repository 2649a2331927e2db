"""The outbox's statements: claim due deliveries, record outcomes, list and re-drive them.

A claim is one UPDATE over a sub-select of due rows. On PostgreSQL the
sub-select takes its rows `FOR UPDATE SKIP LOCKED`, so several gateway
processes claim disjoint sets without waiting on each other; on SQLite the
UPDATE takes the database's single write lock first, which serializes
claimers just as well. A claimed row's `due_at` becomes the end of its lease,
so a row whose worker died is simply due again once the lease runs out.

Within one ticket and destination, deliveries go out in order: a row waits
while an earlier row of the same pair is still pending or being sent, and
while the pair's `ticket.created` has not been delivered (a follow-up needs
the downstream ticket to exist).

The statements the dispatcher runs for every claim (the claim, the reads of
its tickets and messages) are SQL text sent through the driver
(`storage.bulk.fetch`): built and read by SQLAlchemy they cost the event loop
about three times as much, 130-190 us a delivery against 46-50.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from storage.bulk import fetch, placeholders, reader, time_param, time_value
from storage.repository import MessageRow, StorageError, Store, TicketRow
from storage.tables import deliveries, inbound, messages, outbound_messages, tickets

T = TypeVar("T")
MAX_OUTCOMES_PER_STATEMENT = 1000
_FINISH = (
    "UPDATE deliveries SET status = v.status, due_at = v.due_at, last_error = v.last_error, "
    "remote_id = v.remote_id, delivered_at = v.delivered_at, claimed_by = NULL, claimed_until = NULL "
    "FROM (SELECT column1 AS id, column2 AS status, column3 AS due_at, column4 AS last_error, "
    "column5 AS remote_id, column6 AS delivered_at FROM (VALUES {rows}) AS x) AS v "
    "WHERE deliveries.id = v.id AND deliveries.claimed_by = ? AND deliveries.status = 'sending' "
    "RETURNING deliveries.id"
)
"""Outcomes as one statement whose RETURNING counts the rows recorded: SQLAlchemy's executemany
reported -1 on asyncpg, and put every value of every row through its type system. The rows that
are no longer this worker's are left out by the WHERE clause and do not come back. It must start
with UPDATE: Python's sqlite3 opens the transaction only before a statement it sees is one (a
leading WITH would run alone, committed before the ticket's downstream id beside it)."""
_OUTCOME_ROW = {
    "sqlite": "(?, ?, ?, ?, ?, ?)",
    "postgresql": "(?::bigint, ?::text, ?::timestamptz, ?::text, ?::text, ?::timestamptz)",  # VALUES has no types
}
_WAITING = (
    "EXISTS (SELECT 1 FROM deliveries AS earlier WHERE earlier.ticket_id = c.ticket_id "
    "AND earlier.destination = c.destination AND earlier.id < c.id "
    "AND (earlier.status IN ('pending', 'sending') "
    "OR (earlier.event = 'ticket.created' AND earlier.status <> 'delivered')))"
)
"""Whether delivery `c` must wait for an earlier one of its ticket and destination (see the module's docstring)."""
_REAP = ("UPDATE deliveries SET status = 'pending', claimed_by = NULL, claimed_until = NULL "
         "WHERE status = 'sending' AND due_at <= ? AND destination IN ({destinations})")
_CLAIM_COLUMNS = "id, key, ticket_id, message_id, destination, event, attempts"
_CHOSEN = ("SELECT c.id FROM deliveries AS c WHERE c.status = 'pending' AND c.destination IN ({destinations}) "
           "AND c.due_at <= ? AND NOT {waiting} ORDER BY c.due_at, c.id LIMIT ?")
_CLAIM = {
    # SQLite: the UPDATE takes the single write lock first, which serializes claimers. It must start
    # with UPDATE (see _FINISH).
    "sqlite": ("UPDATE deliveries SET status = 'sending', claimed_by = ?, claimed_until = ?, due_at = ?, "
               f"attempts = attempts + 1 WHERE id IN ({_CHOSEN}) AND status = 'pending' AND due_at <= ? "
               f"RETURNING {_CLAIM_COLUMNS}"),
    # PostgreSQL: the chosen rows are locked SKIP LOCKED, so claimers take disjoint sets without
    # waiting; MATERIALIZED makes the locking sub-select run once (inlined as a semi-join it can be
    # re-scanned, each scan skipping the rows just updated and taking the next ones, past the limit).
    "postgresql": (f"WITH chosen AS MATERIALIZED ({_CHOSEN} FOR UPDATE OF c SKIP LOCKED) "
                   "UPDATE deliveries SET status = 'sending', claimed_by = ?, claimed_until = ?, due_at = ?, "
                   "attempts = attempts + 1 WHERE id IN (SELECT id FROM chosen) AND status = 'pending' "
                   f"AND due_at <= ? RETURNING {_CLAIM_COLUMNS}"),
}
LOCK_WAIT_S = 30.0  # how long a write waits for SQLite's lock before it fails
FINAL = ("delivered", "dead", "skipped")


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery this worker has claimed: what sending it needs to know."""

    id: int
    key: str
    ticket_id: int
    message_id: int
    destination: str
    event: str
    attempts: int  # a claim's own included


@dataclass(frozen=True, slots=True)
class DeliveryRow(Claim):
    """A whole row, as operators list and re-drive them."""

    status: str
    due_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    last_error: str | None
    remote_id: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What became of one claimed delivery; `ticket_ref` is the downstream ticket id to keep."""

    id: int
    status: str  # delivered | pending (retry) | dead | skipped
    due_at: datetime
    error: str | None = None
    remote_id: str | None = None
    ticket_id: int | None = None
    destination: str | None = None
    ticket_ref: str | None = None


class Reservation(enum.StrEnum):
    """The answer to "may this message be sent to this recipient now?"."""

    RESERVED = "reserved"  # recorded now: send it
    ALREADY = "already"  # recorded by an earlier attempt of the same delivery: send it again
    RATE_LIMITED = "rate_limited"  # another message went to the recipient inside the window


def _delivery(row: Any) -> DeliveryRow:
    return DeliveryRow(**row._mapping)


class Outbox:
    """Repository of the `deliveries` table (and the outbound-message ledger acks need).

    With `relaxed`, the dispatcher's own transactions (claims, outcomes,
    hand-backs) do not wait for the disk on PostgreSQL (`synchronous_commit
    = off`); on SQLite the same is had by giving the outbox an engine with
    `synchronous=NORMAL`. Both still survive a crash of the process; a power
    loss may undo the last of them, which only means a delivery is sent
    again under the same key, which every destination absorbs. The rows
    themselves are written by intake, with intake's durability.
    """

    def __init__(self, store: Store, *, relaxed: bool = False, owns_store: bool = False) -> None:
        self._store = store
        self._relaxed = relaxed
        self._owns_store = owns_store
        self._as_due = reader(deliveries, ["due_at"], store.dialect)  # the column's type reads min() too

    async def close(self) -> None:
        if self._owns_store:
            await self._store.close()

    async def _write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in one transaction; on SQLite, retry at once while another writer holds the lock.

        The dispatcher's SQLite engine has no busy timeout: SQLite's own busy
        handler sleeps in steps growing to 100 ms, and a claimer that sleeps
        that long loses the lock again and again to a steady stream of intake
        commits. Retrying every millisecond or two takes it as soon as it is free.
        """
        delay = 0.0005
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                async with self._store.transaction() as tx:
                    if self._relaxed and self.dialect == "postgresql":
                        await tx.connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
                    return await work(tx.connection)
            except StorageError as exc:
                if self.dialect != "sqlite" or "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.004)

    async def _read(self, call: Callable[[], Awaitable[T]]) -> T:
        """A read, retried like `_write` in the rare case SQLite answers busy to a reader."""
        delay = 0.0005
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                return await call()
            except StorageError as exc:
                if self.dialect != "sqlite" or "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.004)

    async def _all(self, stmt: Any) -> list[Any]:
        return await self._read(lambda: self._store._all(stmt))

    @property
    def dialect(self) -> str:
        return self._store.dialect

    async def claim(
        self, worker: str, now: datetime, lease_until: datetime, limit: int, destinations: Sequence[str]
    ) -> list[Claim]:
        """Take up to `limit` due deliveries for these destinations; each counts as an attempt."""
        if limit <= 0 or not destinations:
            return []
        names = list(destinations)
        marks = placeholders(len(names))

        async def work(conn: AsyncConnection) -> list[Claim]:
            at, until = time_param(conn, now), time_param(conn, lease_until)
            # Claims whose lease ran out (their worker died) become pending again first, so the
            # claim itself reads one status in (due_at, id) order off the (status, due_at) index.
            await fetch(conn, _REAP.format(destinations=marks), [at, *names])
            sql = _CLAIM[conn.dialect.name].format(destinations=marks, waiting=_WAITING)
            chosen, claimed = [*names, at, limit], [worker, until, until]
            params = [*claimed, *chosen, at] if conn.dialect.name == "sqlite" else [*chosen, *claimed, at]
            rows = await fetch(conn, sql, params)
            return [Claim(*row) for row in rows]

        return sorted(await self._write(work), key=lambda r: r.id)

    async def claimed(self, worker: str, keys: Sequence[str]) -> list[Claim]:
        """Rows written already claimed by `worker` (a read: no lock needed)."""
        if not keys:
            return []
        sql = (f"SELECT {_CLAIM_COLUMNS} FROM deliveries WHERE key IN ({placeholders(len(keys))}) "
               "AND claimed_by = ? AND status = 'sending' ORDER BY id")
        [rows] = await self._read(lambda: self._store._fetch((sql, [*keys, worker])))
        return [Claim(*row) for row in rows]

    async def next_due(self, now: datetime, destinations: Sequence[str]) -> datetime | None:
        """When the next delivery that is not waiting on another one becomes due."""
        if not destinations:
            return None
        sql = ("SELECT min(c.due_at) FROM deliveries AS c WHERE c.status IN ('pending', 'sending') "
               f"AND c.destination IN ({placeholders(len(destinations))}) AND c.due_at > ? AND NOT {_WAITING}")
        [rows] = await self._read(lambda: self._store._fetch((sql, [*destinations, time_value(self.dialect, now)])))
        if not rows:
            return None
        [due] = self._as_due(rows[0])
        return due  # type: ignore[no-any-return]

    async def finish(self, worker: str, outcomes: Sequence[DeliveryOutcome], now: datetime) -> int:
        """Record outcomes of this worker's claims in one transaction; returns rows recorded.

        A row another worker has since re-claimed (this worker's lease ran
        out) is left alone: its new owner records it.
        """
        if not outcomes:
            return 0
        refs = [o for o in outcomes if o.status == "delivered" and o.ticket_ref and o.ticket_id is not None]

        async def work(conn: AsyncConnection) -> int:
            recorded = 0
            for start in range(0, len(outcomes), MAX_OUTCOMES_PER_STATEMENT):
                chunk = outcomes[start:start + MAX_OUTCOMES_PER_STATEMENT]
                params: list[Any] = []
                for o in chunk:
                    params += [o.id, o.status, time_param(conn, o.due_at), o.error, o.remote_id,
                               time_param(conn, now) if o.status == "delivered" else None]
                row = _OUTCOME_ROW[conn.dialect.name]
                sql = _FINISH.format(rows=", ".join(row for _ in chunk))
                recorded += len(await fetch(conn, sql, [*params, worker]))
            if refs:
                await self._keep_ticket_refs(conn, refs, now)
            return recorded

        return await self._write(work)

    async def _keep_ticket_refs(self, conn: Any, refs: Sequence[DeliveryOutcome], now: datetime) -> None:
        """Merge downstream ids into `tickets.external_ref` (read under lock, then written)."""
        ids = sorted({o.ticket_id for o in refs if o.ticket_id is not None})
        query = select(tickets.c.id, tickets.c.external_ref).where(tickets.c.id.in_(ids))
        if self.dialect == "postgresql":
            query = query.with_for_update()
        current = {row[0]: dict(row[1] or {}) for row in await conn.execute(query)}
        for outcome in refs:
            if outcome.ticket_id in current and outcome.destination:
                current[outcome.ticket_id][outcome.destination] = outcome.ticket_ref
        if current:
            await conn.execute(
                update(tickets).where(tickets.c.id == bindparam("b_id")).values(external_ref=bindparam("b_ref")),
                [{"b_id": ticket_id, "b_ref": ref} for ticket_id, ref in current.items()],
            )

    async def release(self, worker: str, ids: Sequence[int], now: datetime, reason: str) -> None:
        """Hand claims back undone (shutdown): due now, the attempt not held against them."""
        if not ids:
            return
        stmt = (
            update(deliveries)
            .where(deliveries.c.id.in_(list(ids)), deliveries.c.claimed_by == worker, deliveries.c.status == "sending")
            .values(status="pending", due_at=now, claimed_by=None, claimed_until=None, last_error=reason,
                    attempts=deliveries.c.attempts - 1)
        )
        async def work(conn: AsyncConnection) -> None:
            await conn.execute(stmt)

        await self._write(work)

    # -- reading what a delivery needs ------------------------------------
    async def tickets_with_messages(
        self, ticket_ids: Iterable[int]
    ) -> dict[int, tuple[TicketRow, list[MessageRow]]]:
        ids = list(ticket_ids)
        return await self._read(lambda: self._store.tickets_with_messages(ids))

    async def originals(self, message_ids: Iterable[int]) -> dict[int, bytes]:
        """The raw inbound payload each message was made from, by message id."""
        ids = sorted(set(message_ids))
        if not ids:
            return {}
        stmt = (
            select(messages.c.id, inbound.c.payload)
            .join(inbound, inbound.c.id == messages.c.inbound_id)
            .where(messages.c.id.in_(ids))
        )
        return {row[0]: bytes(row[1]) for row in await self._all(stmt)}

    # -- operators ---------------------------------------------------------
    async def list(
        self, *, status: str | None = None, destination: str | None = None, limit: int = 100, after_id: int = 0
    ) -> list[DeliveryRow]:
        conditions = [deliveries.c.id > after_id]
        if status:
            conditions.append(deliveries.c.status == status)
        if destination:
            conditions.append(deliveries.c.destination == destination)
        stmt = select(deliveries).where(*conditions).order_by(deliveries.c.id).limit(limit)
        return [_delivery(r) for r in await self._all(stmt)]

    async def get(self, delivery_id: int) -> DeliveryRow | None:
        rows = await self._all(select(deliveries).where(deliveries.c.id == delivery_id))
        return _delivery(rows[0]) if rows else None

    async def retry(self, now: datetime, *, ids: Sequence[int] = (), all_dead: bool = False) -> int:
        """Make dead (or, by id, any finished) deliveries due again with a fresh attempt budget."""
        if all_dead:
            where: ColumnElement[bool] = deliveries.c.status == "dead"
        elif ids:
            where = and_(deliveries.c.id.in_(list(ids)), deliveries.c.status.in_(FINAL))
        else:
            return 0
        stmt = update(deliveries).where(where).values(
            status="pending", due_at=now, attempts=0, claimed_by=None, claimed_until=None
        )
        async with self._store.transaction() as tx:
            done = await tx.connection.execute(stmt)
            tx.wrote_outbox = True  # wake this process's dispatcher, if it has one
        return int(done.rowcount or 0)

    async def count_by_status(self) -> dict[str, int]:
        stmt = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
        return {status: int(n) for status, n in await self._all(stmt)}

    # -- the ledger of mail the gateway sends ----------------------------
    async def reserve_outbound(
        self,
        *,
        message_id: str,
        ticket_id: int,
        channel: str,
        kind: str,
        recipient: str,
        since: datetime,
        now: datetime,
    ) -> Reservation:
        """Record a message about to be sent, unless the recipient got one of `kind` since `since`.

        The check and the record are one transaction that holds a lock for
        the recipient (an advisory lock on PostgreSQL; SQLite's write lock,
        taken by writing first), so two workers cannot both send.
        """
        address = recipient.lower()
        row = {"message_id": message_id, "ticket_id": ticket_id, "channel": channel, "kind": kind,
               "recipient": address, "created_at": now}

        async def work(conn: AsyncConnection) -> Reservation:
            if self.dialect == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:r))"), {"r": address})
                mine = (await conn.execute(
                    select(outbound_messages.c.id).where(outbound_messages.c.message_id == message_id)
                )).first()
                if mine:
                    return Reservation.ALREADY
                await conn.execute(outbound_messages.insert().values(**row))
            elif (await conn.execute(outbound_messages.insert().prefix_with("OR IGNORE").values(**row))).rowcount == 0:
                return Reservation.ALREADY
            others = (await conn.execute(
                select(func.count()).select_from(outbound_messages).where(
                    outbound_messages.c.recipient == address,
                    outbound_messages.c.kind == kind,
                    outbound_messages.c.created_at >= since,
                    outbound_messages.c.message_id != message_id,
                )
            )).scalar_one()
            if others:
                await conn.execute(outbound_messages.delete().where(outbound_messages.c.message_id == message_id))
                return Reservation.RATE_LIMITED
            return Reservation.RESERVED

        return await self._write(work)
