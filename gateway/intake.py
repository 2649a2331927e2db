"""The one intake function every adapter calls, with group commit.

A record is acknowledged only after it is committed. Records arriving while a
commit is under way wait in a bounded queue and share the next commit, so a
burst costs one disk sync per batch, not per request. In the normal case a
batch is stored and processed into tickets in one transaction; if processing
raises, the raw records are committed alone and processed one by one, so one
bad record is kept as failed with its reason and never takes others with it.

A transport whose answer needs no ticket (SMTP's 250 says only that the mail
is ours now) asks for `until="stored"`: its record is committed as pending,
answered, and processed in a later transaction by the same writer, between
batches. The sender's next message does not wait behind the parsing and
ticket writes of its last one, and a record left pending by a crash is
processed at start like any other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from gateway.metrics import Metrics
from gateway.processing import Processor, raw_from_row
from normalize.errors import NormalizeError
from normalize.raw import (
    IntakeResult,
    IntakeStatus,
    OverloadedError,
    RawInbound,
    ShuttingDownError,
    StorageUnavailableError,
)
from normalize.refs import format_ticket_id
from normalize.schema import MessageDraft
from storage.repository import DuplicateKeyError, InboundRow, StorageError, Store, Transaction

log = logging.getLogger("gateway.intake")

OFF_LOOP_BYTES = 1024 * 1024  # normalize larger payloads in a thread
MAX_ERROR_CHARS = 2000
GATHER_TURNS = 16  # event-loop turns the writer may yield before taking a batch ...
QUIET_TURNS = 3  # ... stopping early after this many turns in which nothing arrived
STORED_GATHER_TURNS, STORED_QUIET_TURNS = 4, 1  # the same for a record answered when stored: its commit is
# cheap (no processing to share), so it is held back less for company
BACKLOG_CHUNK = 32  # stored records processed per transaction between batches (each costs a few round trips
# to the database, so chunks of one made most of a mail's cost after its normalization)
BACKLOG_AHEAD = 16  # past this many, the backlog is processed even while new records wait, to keep pace; below
# it, normalizing stops as soon as a sender waits, so a sender waits for one normalization at most
BACKLOG_MAX = 128  # past this many, a record is answered after its ticket, as any other: a stored record
# must be readable within a second of its answer, and this many are processed well within that
BACKLOG_RETRY_S = 1.0  # pause before processing again after the database refused
CLOSE_BACKLOG_S = 30.0  # how long stopping waits for the backlog
CLOSE_IN_FLIGHT_S = 30.0  # how long stopping waits for records whose senders wait for their commit

Until = Literal["processed", "stored"]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Pending:
    raw: RawInbound
    future: asyncio.Future[IntakeResult]
    until_stored: bool = False
    draft: MessageDraft | None = None
    error: str | None = None
    inbound_id: int | None = None
    followers: list[_Pending] = field(default_factory=list)


class IntakeService:
    def __init__(
        self,
        store: Store,
        processor: Processor,
        metrics: Metrics,
        *,
        max_in_flight: int = 1024,
        batch_max: int = 256,
        retry_after_s: int = 1,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._processor = processor
        self._metrics = metrics
        self._max_in_flight = max_in_flight
        self._batch_max = batch_max
        self._retry_after = retry_after_s
        self._clock = clock
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._backlog: list[_Pending] = []  # committed as pending, to be processed

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def backlog(self) -> int:
        """Records committed and answered but not processed yet (see `until="stored"`)."""
        return len(self._backlog)

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="intake-writer")

    async def close(self, in_flight_s: float = CLOSE_IN_FLIGHT_S) -> None:
        """Refuse new records, finish the ones in flight, stop the writer.

        A commit that has not returned after `in_flight_s` (a database that stopped answering) is
        given up: its senders are told to retry (503, SMTP 451), which is safe because nothing
        was acknowledged, and a retry of a record that did commit after all finds it stored.
        """
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + in_flight_s
        while self._in_flight and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if self._in_flight:
            log.warning("stopping with %d records not committed after %.0f s; their senders are asked to retry",
                        self._in_flight, in_flight_s)
        else:
            try:  # what is stored but not processed yet is processed at the next start if it must be left
                await asyncio.wait_for(self._idle.wait(), CLOSE_BACKLOG_S)
            except TimeoutError:
                log.warning("stopping with %d stored records not processed yet", len(self._backlog))
        if self._writer:
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
        while not self._queue.empty():
            _fail(self._queue.get_nowait(), ShuttingDownError("the gateway stopped before storing this record"))

    async def __call__(self, raw: RawInbound, until: Until = "processed") -> IntakeResult:
        """Store (and process) one record; returns after the commit of the record, and of its ticket
        unless `until="stored"` (then the result is `pending`, and processing follows)."""
        if self._closing:
            self._metrics.intake(raw.channel, "shutting_down")
            raise ShuttingDownError("the gateway is shutting down")
        if self._in_flight + len(self._backlog) >= self._max_in_flight:
            self._metrics.intake(raw.channel, "overloaded")
            raise OverloadedError(self._retry_after)
        started = time.perf_counter()
        self._in_flight += 1
        self._idle.clear()
        try:
            pending = _Pending(raw, asyncio.get_running_loop().create_future(), until_stored=until == "stored")
            self._queue.put_nowait(pending)
            try:
                result = await pending.future
            except StorageUnavailableError:
                self._metrics.intake(raw.channel, "storage_error")
                raise
            except ShuttingDownError:
                self._metrics.intake(raw.channel, "shutting_down")
                raise
            outcome = "duplicate" if result.duplicate else result.status.value
            self._metrics.intake(raw.channel, outcome, time.perf_counter() - started)
            return result
        finally:
            self._in_flight -= 1
            self._check_idle()

    def _check_idle(self) -> None:
        if self._in_flight == 0 and not self._backlog:
            self._idle.set()

    # -- the writer ------------------------------------------------------
    async def _write_loop(self) -> None:
        while True:
            if self._backlog and (self._queue.empty() or len(self._backlog) >= BACKLOG_AHEAD):
                # New records go first (their senders wait); the backlog when nothing
                # waits, or before it outgrows a batch so processing keeps pace.
                await self._process_backlog()
                continue
            batch = [await self._queue.get()]
            # Let requests that are already being read reach the queue first, so
            # that a burst shares one commit instead of its first record paying
            # for a commit of its own while the rest wait behind it.
            still = 0
            turns, quiet = (STORED_GATHER_TURNS, STORED_QUIET_TURNS) if batch[0].until_stored else (
                GATHER_TURNS, QUIET_TURNS)
            for _ in range(turns):
                size = self._queue.qsize()
                if size + 1 >= self._batch_max:
                    break
                await asyncio.sleep(0)
                still = still + 1 if self._queue.qsize() == size else 0
                if still == quiet:
                    break
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            except asyncio.CancelledError:  # stopping gave up on this commit: its senders may retry
                for item in batch:
                    _fail(item, ShuttingDownError("the gateway stopped before this record was committed"))
                raise
            except Exception as exc:  # never let the writer die
                log.exception("intake batch failed")
                for item in batch:
                    _fail(item, StorageUnavailableError(str(exc)))

    async def _commit(self, batch: list[_Pending]) -> None:
        leaders = _merge_repeats(batch)
        room = BACKLOG_MAX - len(self._backlog)
        for item in leaders:
            if item.until_stored and room <= 0:
                item.until_stored = False  # the backlog is full: this one waits for its ticket
            room -= item.until_stored
            if not item.until_stored:
                await self._normalize(item)
        for attempt in range(3):
            try:
                started = time.perf_counter()
                results = await self._store_and_process(leaders)
                self._metrics.group_commit(len(leaders), time.perf_counter() - started)
                break
            except DuplicateKeyError:
                if attempt == 2:
                    raise
                continue  # a concurrent writer took a key: look again
            except StorageError as exc:
                log.warning("intake commit failed: %s", exc)
                await self._commit_one_by_one(leaders, exc)
                return
        for item, result in zip(leaders, results, strict=True):
            self._answer(item, result)

    def _answer(self, item: _Pending, result: IntakeResult) -> None:
        """Answer a record (and its repeats); one stored to be processed later joins the backlog."""
        if result.status == IntakeStatus.PENDING and not result.duplicate:
            self._backlog.append(item)
        _resolve(item, result)

    async def _process_backlog(self) -> None:
        """Process up to `BACKLOG_CHUNK` stored records in one transaction, or each alone if that fails.

        Normalizing (the expensive part) stops as soon as new records wait, and goes on next time,
        so that a sender waits for at most one normalization or one short transaction, not a chunk;
        unless the backlog is `BACKLOG_AHEAD` long, when keeping pace comes first.
        """
        chunk = self._backlog[:BACKLOG_CHUNK]
        behind = len(self._backlog) >= BACKLOG_AHEAD
        for item in chunk:
            if item.draft is None and item.error is None:
                await self._normalize(item)
                await asyncio.sleep(0)  # let records being read reach the queue
                if not behind and not self._queue.empty():
                    return
        now = self._clock()
        try:
            try:
                async with self._store.transaction(flush=False) as tx:  # redone from the stored record if lost
                    mine = await tx.finish_pending(
                        {i.inbound_id: (i.error or "normalize: nothing usable") if i.draft is None else None
                         for i in chunk if i.inbound_id is not None}, now)
                    good = [(i.inbound_id, i.draft) for i in chunk
                            if i.inbound_id in mine and i.draft is not None]
                    await self._processor.write(tx, good, now)  # type: ignore[arg-type]
                failed = [i for i in chunk if i.inbound_id in mine and i.draft is None]
            except StorageError:
                raise
            except Exception:
                log.exception("processing stored records failed; processing them one by one")
                failed = []
                for item in chunk:
                    if item.inbound_id is not None:
                        await self.process_stored(item.inbound_id)
        except StorageError as exc:
            log.warning("processing stored records failed, will retry: %s", exc)
            await asyncio.sleep(BACKLOG_RETRY_S)
            return
        for item in failed:
            self._metrics.failed_record(item.raw.channel)
        del self._backlog[: len(chunk)]
        self._check_idle()

    async def _commit_one_by_one(self, leaders: list[_Pending], cause: StorageError) -> None:
        """After a failed group commit: if the database answers, one record was at fault.

        Each record is then committed on its own, so a record the database
        refuses fails alone (its raw form kept when even processing it is
        refused) and the others of its batch are acknowledged as usual.
        """
        try:
            await self._store.ping()
        except StorageError:
            for item in leaders:
                _fail(item, StorageUnavailableError(str(cause)))
            return
        for item in leaders:
            try:
                try:
                    [result] = await self._store_and_process([item])
                except DuplicateKeyError:
                    [result] = await self._store_and_process([item])
                except StorageError:
                    [result] = await self._store_then_isolate([item])
            except StorageError as exc:
                _fail(item, StorageUnavailableError(str(exc)))
                continue
            self._answer(item, result)

    async def _normalize(self, item: _Pending) -> None:
        try:
            if len(item.raw.payload) > OFF_LOOP_BYTES:
                item.draft = await asyncio.to_thread(self._processor.normalize, item.raw)
            else:
                item.draft = self._processor.normalize(item.raw)
        except NormalizeError as exc:
            item.error = f"normalize: {exc}"[:MAX_ERROR_CHARS]

    async def _store_and_process(self, items: list[_Pending]) -> list[IntakeResult]:
        """Store and process a batch in one transaction: in the common case three statements.

        Records are inserted already marked with their outcome (processed, or
        failed when normalization gave nothing usable); if processing raises,
        the whole transaction is undone and the raw records are stored alone.
        """
        now = self._clock()
        try:
            async with self._store.transaction() as tx:
                ids = await tx.insert_inbound([_inbound_values(i.raw, now, i.error if i.draft is None else None,
                                                               pending=i.until_stored) for i in items])
                for item in items:
                    item.inbound_id = ids.get((item.raw.channel, item.raw.external_id))
                good = [i for i in items if i.inbound_id is not None and i.draft is not None]
                written = await self._processor.write(
                    tx, [(i.inbound_id, i.draft) for i in good], now  # type: ignore[misc]
                )
                known = await self._known(tx, [i for i in items if i.inbound_id is None])
        except StorageError:
            raise
        except Exception:
            log.exception("processing a batch failed; storing the records and processing them one by one")
            return await self._store_then_isolate(items)
        by_id = {i.inbound_id: w for i, w in zip(good, written, strict=True)}
        results = []
        for item in items:
            if item.inbound_id is None:
                results.append(_result(known[id(item)], duplicate=True))
            elif item.until_stored:
                results.append(IntakeResult(item.inbound_id, False, IntakeStatus.PENDING,
                                            body_sha256=item.raw.body_sha256))
            elif item.draft is None:
                self._metrics.failed_record(item.raw.channel)
                results.append(IntakeResult(item.inbound_id, False, IntakeStatus.FAILED, error=item.error,
                                            body_sha256=item.raw.body_sha256))
            else:
                w = by_id[item.inbound_id]
                results.append(IntakeResult(item.inbound_id, False, IntakeStatus.PROCESSED,
                                            format_ticket_id(w.ticket_id), f"M-{w.message_id}",
                                            body_sha256=item.raw.body_sha256))
        return results

    @staticmethod
    async def _known(tx: Transaction, repeats: list[_Pending]) -> dict[int, InboundRow]:
        """The stored records that repeats were repeats of (by either unique key)."""
        if not repeats:
            return {}
        rows = await tx.find_inbound(
            [(i.raw.channel, i.raw.external_id) for i in repeats],
            [i.raw.idempotency_key for i in repeats if i.raw.idempotency_key],
        )
        found = {}
        for item in repeats:
            match = _match(item.raw, rows)
            if match is None:  # taken by a writer whose commit we cannot see yet
                raise DuplicateKeyError(f"{item.raw.channel}:{item.raw.external_id} is being written elsewhere")
            found[id(item)] = match
        return found

    async def _store_then_isolate(self, items: list[_Pending]) -> list[IntakeResult]:
        now = self._clock()
        async with self._store.transaction() as tx:
            ids = await tx.insert_inbound([_inbound_values(i.raw, now, None, pending=True) for i in items])
            for item in items:
                item.inbound_id = ids.get((item.raw.channel, item.raw.external_id))
            known = await self._known(tx, [i for i in items if i.inbound_id is None])
        results = []
        for item in items:
            if item.inbound_id is None:
                results.append(_result(known[id(item)], duplicate=True))
            else:
                results.append(await self.process_stored(item.inbound_id))
        return results

    # -- re-processing ---------------------------------------------------
    async def process_stored(self, inbound_id: int, statuses: tuple[str, ...] = ("pending",)) -> IntakeResult:
        """Process one stored record in its own transaction; a failure is kept with its reason."""
        now = self._clock()
        row: InboundRow | None = None
        try:
            async with self._store.transaction() as tx:
                row = await tx.claim_for_processing(inbound_id, statuses)
                if row is None:
                    current = await self._store.get_inbound(inbound_id)
                    if current is None:
                        raise LookupError(f"no inbound record {inbound_id}")
                    return _result(current, duplicate=True)
                draft = self._processor.normalize(raw_from_row(row))
                [written] = await self._processor.write(tx, [(row.id, draft)], now)
                await tx.mark_inbound([_mark(row.id, "processed", None, now)])
            return IntakeResult(row.id, False, IntakeStatus.PROCESSED, format_ticket_id(written.ticket_id),
                                f"M-{written.message_id}", body_sha256=row.body_sha256)
        except DuplicateKeyError:
            current = await self._store.get_inbound(inbound_id)  # processed by another process meanwhile
            if current is None or current.status != "processed":
                raise
            return _result(current, duplicate=True)
        except Exception as exc:  # a database refusal of this record included: it fails alone
            if isinstance(exc, NormalizeError):
                reason = f"normalize: {exc}"
            else:
                reason = f"{'storage' if isinstance(exc, StorageError) else 'process'}: {type(exc).__name__}: {exc}"
                log.exception("processing inbound record %s failed", inbound_id)
            reason = reason[:MAX_ERROR_CHARS]
            async with self._store.transaction() as tx:
                await tx.mark_inbound([_mark(inbound_id, "failed", reason, now)])
            channel = row.channel if row else "unknown"
            self._metrics.failed_record(channel)
            return IntakeResult(inbound_id, False, IntakeStatus.FAILED, error=reason,
                                body_sha256=row.body_sha256 if row else None)

    async def recover(self) -> int:
        """Process records a crash left stored but unprocessed; returns how many."""
        ok, still_failed = await self._reprocess("pending")
        return ok + still_failed

    async def replay_failed(self, ids: list[int] | None = None) -> tuple[int, int]:
        """Re-run failed records (all, or the given ids); returns (processed, still failed)."""
        if ids is None:
            return await self._reprocess("failed")
        results = [await self.process_stored(i, ("failed",)) for i in ids]
        ok = sum(1 for r in results if r.status == IntakeStatus.PROCESSED)
        return ok, len(results) - ok

    async def _reprocess(self, status: str) -> tuple[int, int]:
        """Process every record in `status` one by one, in id order; (processed, failed)."""
        ok = failed = 0
        after = 0
        while chunk := await self._store.inbound_ids(status, 500, after):
            for inbound_id in chunk:
                result = await self.process_stored(inbound_id, (status,))
                if result.status == IntakeStatus.PROCESSED:
                    ok += 1
                else:
                    failed += 1
            after = chunk[-1]
        return ok, failed


def _merge_repeats(batch: list[_Pending]) -> list[_Pending]:
    """One leader per key in a batch; repeats of it share its answer as duplicates."""
    leaders: list[_Pending] = []
    seen: dict[tuple[str, str], _Pending] = {}
    for item in batch:
        keys = [("ext", f"{item.raw.channel}\x00{item.raw.external_id}")]
        if item.raw.idempotency_key:
            keys.append(("idem", item.raw.idempotency_key))
        leader = next((seen[k] for k in keys if k in seen), None)
        if leader is None:
            leaders.append(item)
            for k in keys:
                seen[k] = item
        else:
            leader.followers.append(item)
    return leaders


def _match(raw: RawInbound, known: list[InboundRow]) -> InboundRow | None:
    for row in known:
        if (row.channel == raw.channel and row.external_id == raw.external_id) or (
            raw.idempotency_key and row.idempotency_key == raw.idempotency_key
        ):
            return row
    return None


def _result(row: InboundRow, *, duplicate: bool) -> IntakeResult:
    return IntakeResult(
        inbound_id=row.id,
        duplicate=duplicate,
        status=IntakeStatus(row.status),
        ticket_id=format_ticket_id(row.ticket_id) if row.ticket_id else None,
        message_id=f"M-{row.message_id}" if row.message_id else None,
        error=row.error,
        body_sha256=row.body_sha256,
    )


def _inbound_values(raw: RawInbound, now: datetime, error: str | None, *, pending: bool = False) -> dict[str, Any]:
    return {
        "channel": raw.channel,
        "transport": raw.transport,
        "external_id": raw.external_id,
        "idempotency_key": raw.idempotency_key,
        "body_sha256": raw.body_sha256,
        "received_at": raw.received_at,
        "principal": raw.principal,
        "meta": raw.meta,
        "payload": raw.payload,
        "status": "pending" if pending else "failed" if error else "processed",
        "error": error,
        "attempts": 0 if pending else 1,
        "processed_at": None if pending else now,
    }


def _mark(inbound_id: int, status: str, error: str | None, now: datetime) -> dict[str, Any]:
    return {"b_id": inbound_id, "status": status, "error": error, "processed_at": now}


def _resolve(item: _Pending, result: IntakeResult) -> None:
    if not item.future.done():
        item.future.set_result(result)
    for follower in item.followers:
        if not follower.future.done():
            # The leader is this batch's first copy: to its repeats it is in flight.
            follower.future.set_result(
                IntakeResult(result.inbound_id, True, result.status, result.ticket_id, result.message_id,
                             result.error, result.body_sha256)
            )


def _fail(item: _Pending, exc: Exception) -> None:
    for each in [item, *item.followers]:
        if not each.future.done():
            each.future.set_exception(exc)
