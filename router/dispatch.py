"""The dispatcher: drains the outbox into the destinations, with retries.

One loop claims due deliveries (atomically, see `storage.outbox`) while
fewer than `concurrency` are in flight, and starts one task per delivery.
It wakes when a commit wrote deliveries (the store's outbox listener calls
`poke`), when enough slots free up, when the next retry falls due, and at
least every `poll_interval_s` for rows written by other processes.
Outcomes are written by a second loop in batches (group commit), so the
record of many deliveries costs one transaction.

A failed delivery is retried after a capped exponential back-off with full
jitter, or after the server's Retry-After; a permanent refusal, or the last
allowed attempt, leaves it `dead` with its last error until an operator
re-drives it (`gateway deliveries retry`). A delivery that must not be made
at all (an acknowledgement to list mail) ends `skipped` with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from router.backoff import retry_delay
from router.destinations.base import DeliveryError, DeliveryJob, DeliverySkippedError, Destination
from router.jobs import Render, Unloadable, load_jobs
from storage.outbox import Claim, DeliveryOutcome, Outbox
from storage.repository import StorageError

log = logging.getLogger("router.dispatch")

MAX_ERROR_CHARS = 1000


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    concurrency: int = 64
    batch_size: int = 100
    poll_interval_s: float = 1.0
    lease_s: float = 60.0
    shutdown_grace_s: float = 10.0
    gauge_interval_s: float = 15.0
    record_interval_s: float = 0.05


class DispatchMetrics(Protocol):
    def delivery_outcome(self, destination: str, outcome: str) -> None: ...
    def delivery_counts(self, counts: Mapping[str, int]) -> None: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


def worker_name() -> str:
    """Unique per process start, and short enough for `deliveries.claimed_by`."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dispatcher:
    name = "dispatcher"

    def __init__(
        self,
        outbox: Outbox,
        destinations: Mapping[str, Destination],
        render: Render,
        settings: DispatchSettings = DispatchSettings(),
        *,
        metrics: DispatchMetrics | None = None,
        worker: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self._outbox = outbox
        self._destinations = dict(destinations)
        self._names = sorted(self._destinations)
        self._render = render
        self._settings = settings
        self._metrics = metrics
        self.worker = worker or worker_name()
        self._clock = clock
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._poked = False
        self._stopping = False
        self._sending: dict[int, asyncio.Task[None]] = {}
        self._outcomes: list[tuple[DeliveryOutcome, str]] = []
        self._have_outcomes = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._failure: str | None = None
        # In flight at most `concurrency`; claimed and waiting for a slot at most `batch_size` more,
        # so claims stay large (one statement for many rows) however few slots free up at a time.
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._capacity = settings.concurrency + settings.batch_size
        self._refill = max(1, settings.batch_size // 2)
        self._handed: list[str] = []  # keys of rows intake wrote already claimed by this worker
        self.destinations = frozenset(self._destinations)
        self._drained = False  # the last claim found fewer due rows than it asked for
        self._waiting = True  # pending rows may be waiting on a delivery in flight (a follow-up on its ticket)

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        for destination in self._destinations.values():
            await destination.open()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._guard(self._claim_loop), name="dispatch-claims"),
            loop.create_task(self._guard(self._record_loop), name="dispatch-records"),
        ]
        if self._metrics is not None:
            self._tasks.append(loop.create_task(self._guard(self._gauge_loop), name="dispatch-gauges"))
        self.poke()

    async def stop(self) -> None:
        """Stop claiming, let sends finish within the grace period, hand back the rest, record all."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            await asyncio.wait([self._tasks[0]], timeout=self._settings.shutdown_grace_s)
        sending = list(self._sending.values())
        if sending:
            _done, late = await asyncio.wait(sending, timeout=self._settings.shutdown_grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        interrupted = list(self._sending)
        self._sending.clear()
        if self._handed:
            try:
                interrupted += [r.id for r in await self._outbox.claimed(self.worker, self._handed)]
            except StorageError:
                pass  # their lease will run out
            self._handed = []
        self._have_outcomes.set()
        if len(self._tasks) > 1:  # the record loop ends once everything is recorded
            await asyncio.wait([self._tasks[1]], timeout=self._settings.shutdown_grace_s)
        if interrupted:
            try:
                await self._outbox.release(self.worker, interrupted, self._clock(), "interrupted by shutdown")
            except StorageError as exc:
                log.warning("could not hand back %d deliveries (their lease will expire): %s", len(interrupted), exc)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for destination in self._destinations.values():
            await destination.close()
        await self._outbox.close()

    def health(self) -> dict[str, object]:
        return {
            "ok": self._failure is None,
            "in_flight": len(self._sending),
            "destinations": self._names,
            **({"error": self._failure} if self._failure else {}),
        }

    @property
    def lease_s(self) -> float:
        return self._settings.lease_s

    def can_take(self, count: int) -> bool:
        """Whether `count` more deliveries may be handed over claimed (see router.outbox_plan)."""
        outstanding = len(self._sending) + len(self._handed) + count
        return not self._stopping and self._failure is None and outstanding <= self._capacity

    def poke(self, rows: Sequence[Mapping[str, Any]] = ()) -> None:
        """Deliveries were just committed: send those handed over claimed, claim the others now."""
        handed = [r["key"] for r in rows if r.get("claimed_by") == self.worker]
        self._handed += handed
        if len(handed) < len(rows) or not rows:
            self._poked = True
            self._waiting = True
        self._wake.set()

    async def _guard(self, loop: Callable[[], Awaitable[None]]) -> None:
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must show on /readyz, not vanish
            log.exception("dispatcher loop failed")
            self._failure = f"{type(exc).__name__}: {exc}"

    # -- claiming ------------------------------------------------------------
    async def _claim_loop(self) -> None:
        """Claim when told of new rows (`poke`, or outcomes recorded that may let follow-ups go),
        when the timer runs out, or, while due rows remain, when enough slots are free."""
        timer_fired = True
        while not self._stopping:
            self._wake.clear()
            if self._handed:
                await self._take_handed()
            free = self._capacity - len(self._sending)
            wanted = min(free, self._settings.batch_size)
            refill = not self._drained and (free >= self._refill or not self._sending)
            if wanted > 0 and (self._poked or timer_fired or refill):
                self._poked = False
                try:
                    got = await self._claim(wanted)
                except StorageError as exc:
                    log.warning("claiming deliveries failed: %s", exc)
                    got = 0
                self._drained = got < wanted
                if self._drained and not self._sending:
                    self._waiting = False  # nothing in flight: nothing left is waiting on this process
                if not self._drained and len(self._sending) < self._capacity:
                    continue
            timeout = await self._next_due_in() if self._drained else self._settings.poll_interval_s
            timer_fired = not await self._sleep(timeout)

    async def _next_due_in(self) -> float:
        """Seconds until the next retry falls due, at most the poll interval."""
        poll = self._settings.poll_interval_s
        try:
            now = self._clock()
            due = await self._outbox.next_due(now, self._names)
        except StorageError:
            return poll
        if due is None:
            return poll
        return min(poll, max(0.005, (due - now).total_seconds()))

    async def _sleep(self, timeout: float) -> bool:
        """True when woken, False when the time ran out."""
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
            return True
        except TimeoutError:
            return False

    async def _take_handed(self) -> None:
        keys, self._handed = self._handed, []
        try:
            await self._start(await self._outbox.claimed(self.worker, keys))
        except StorageError as exc:  # their lease will run out and a claim will take them
            log.warning("reading %d handed-over deliveries failed: %s", len(keys), exc)

    async def _claim(self, limit: int) -> int:
        now = self._clock()
        lease = now + timedelta(seconds=self._settings.lease_s)
        rows = await self._outbox.claim(self.worker, now, lease, limit, self._names)
        await self._start(rows)
        return len(rows)

    async def _start(self, rows: list[Claim]) -> None:
        if not rows:
            return
        now = self._clock()
        loop = asyncio.get_running_loop()
        # Finish before another worker may retake the claim (time spent waiting for a slot counts).
        deadline = loop.time() + self._settings.lease_s * 0.8
        for item in await load_jobs(self._outbox, rows, self._destinations, self._render):
            if isinstance(item, Unloadable):
                self._record(DeliveryOutcome(item.row.id, "dead", now, item.reason), item.row.destination)
                continue
            self._sending[item.id] = loop.create_task(self._send(item, deadline), name=f"delivery-{item.id}")

    # -- sending -------------------------------------------------------------
    async def _send(self, job: DeliveryJob, deadline: float) -> None:
        destination = self._destinations[job.destination]
        try:
            async with self._slots, asyncio.timeout_at(deadline):
                delivered = await destination.deliver(job)
            outcome = DeliveryOutcome(job.id, "delivered", self._clock(), None, delivered.remote_id,
                                      job.ticket_id, job.destination, delivered.ticket_ref)
        except DeliverySkippedError as exc:
            outcome = DeliveryOutcome(job.id, "skipped", self._clock(), str(exc)[:MAX_ERROR_CHARS])
        except DeliveryError as exc:
            outcome = self._failed(job, destination, exc)
        except TimeoutError:
            outcome = self._failed(job, destination, DeliveryError("gave up: the claim's lease was running out"))
        except asyncio.CancelledError:
            raise  # shutdown: the claim is handed back
        except Exception as exc:
            log.exception("delivery %s to %s failed unexpectedly", job.key, job.destination)
            outcome = self._failed(job, destination, DeliveryError(f"{type(exc).__name__}: {exc}"))
        self._sending.pop(job.id, None)
        self._record(outcome, job.destination)
        self._wake.set()  # a slot is free

    def _failed(self, job: DeliveryJob, destination: Destination, error: DeliveryError) -> DeliveryOutcome:
        now = self._clock()
        policy = destination.retry
        text = f"attempt {job.attempt}: {error.message}"[:MAX_ERROR_CHARS]
        if error.permanent:
            log.warning("delivery %s to %s refused for good: %s", job.key, job.destination, error.message)
            return DeliveryOutcome(job.id, "dead", now, text)
        if job.attempt >= policy.max_attempts:
            log.warning("delivery %s to %s failed %d times, giving up: %s",
                        job.key, job.destination, job.attempt, error.message)
            return DeliveryOutcome(job.id, "dead", now, text)
        delay = retry_delay(job.attempt, policy, self._rng, error.retry_after)
        log.info("delivery %s to %s failed (attempt %d), retrying in %.2f s: %s",
                 job.key, job.destination, job.attempt, delay, error.message)
        return DeliveryOutcome(job.id, "pending", now + timedelta(seconds=delay), text)

    # -- recording -----------------------------------------------------------
    def _record(self, outcome: DeliveryOutcome, destination: str) -> None:
        self._outcomes.append((outcome, destination))
        self._have_outcomes.set()

    async def _record_loop(self) -> None:
        """Record outcomes in batches, at most every `record_interval_s` unless a batch is full:
        each record takes the database's write lock, which intake's commits need too."""
        loop = asyncio.get_running_loop()
        last = 0.0
        while not (self._stopping and not self._outcomes and not self._sending):
            await self._have_outcomes.wait()
            linger = last + self._settings.record_interval_s - loop.time()
            if linger > 0 and not self._stopping and len(self._outcomes) < self._settings.batch_size:
                await asyncio.sleep(linger)
            last = loop.time()
            await self._flush()

    async def _flush(self) -> None:
        self._have_outcomes.clear()
        batch, self._outcomes = self._outcomes, []
        if not batch:
            return
        try:
            await self._outbox.finish(self.worker, [o for o, _ in batch], self._clock())
        except StorageError as exc:
            log.warning("recording %d delivery outcomes failed, trying again: %s", len(batch), exc)
            self._outcomes = batch + self._outcomes
            await asyncio.sleep(0.5)
            self._have_outcomes.set()
            return
        if self._metrics is not None:
            for outcome, destination in batch:
                self._metrics.delivery_outcome(destination, "retry" if outcome.status == "pending" else outcome.status)
        if self._drained and self._waiting:  # a finished delivery may let a waiting follow-up go
            self._poked = True
            self._wake.set()

    async def _gauge_loop(self) -> None:
        assert self._metrics is not None
        while True:
            try:
                self._metrics.delivery_counts(await self._outbox.count_by_status())
            except StorageError:
                pass
            await asyncio.sleep(self._settings.gauge_interval_s)
