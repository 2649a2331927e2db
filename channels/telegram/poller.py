"""Long polling with at-least-once confirmation.

Telegram confirms updates when a later getUpdates passes a higher offset. So
the next offset is sent only after every update of the batch is committed
(and answered), and it is kept in the checkpoints table: a crash before that
brings the same updates again, and intake recognises them. 409 Conflict
(another poller, or a webhook set), 429 (its retry_after), 5xx and timeouts
are met with back-off; none of them ends the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from telegram import Bot
from telegram.error import Conflict, Forbidden, InvalidToken, TelegramError

from channels.telegram.backoff import Backoff, describe, sleep_unless
from channels.telegram.bot import ALLOWED_UPDATES, UpdatesRequest
from channels.telegram.desk import Desk
from channels.telegram.health import Health
from channels.telegram.pipeline import Arrival, Prepared, UpdatePipeline
from channels.telegram.responder import Responder
from normalize.raw import IntakeError, OverloadedError

log = logging.getLogger("gateway.channels.telegram")

T = TypeVar("T")
REPLY_BUDGET_S = 30.0
CONFLICT_MIN_WAIT_S = 5.0


class StoppedError(Exception):
    """The adapter is stopping; the batch in hand is left unconfirmed."""


def payload_of(update: dict[str, Any]) -> bytes:
    """Polled updates arrive in one JSON array; each is kept as its own compact JSON object."""
    return json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Poller:
    def __init__(self, bot: Bot, updates: UpdatesRequest, pipeline: UpdatePipeline, responder: Responder,
                 desk: Desk, health: Health, backoff: Backoff, stopping: asyncio.Event, *, bot_id: int,
                 poll_timeout_s: int) -> None:
        self._bot = bot
        self._updates = updates
        self._pipeline = pipeline
        self._responder = responder
        self._desk = desk
        self._health = health
        self._backoff = backoff
        self._stopping = stopping
        self._checkpoint = f"telegram:{bot_id}:offset"
        self._timeout = poll_timeout_s
        self.busy = False  # a batch is between receipt and confirmation
        self._wait = 0.0

    async def run(self) -> None:
        try:
            saved = await self._until_done(lambda: self._desk.load_checkpoint(self._checkpoint))
            offset = int(saved["offset"]) if saved and saved.get("offset") else None
            self._health.offset = offset
            self._health.poll_ok()  # the age reported counts from here until the first answer
            stuck = 0  # batches in a row whose handling raised
            while not self._stopping.is_set():
                batch = await self._poll(offset)
                if batch is None:
                    if await sleep_unless(self._stopping, self._wait):
                        return
                    continue
                if not batch:
                    continue
                try:
                    offset = await self._handle(batch)
                    stuck = 0
                except StoppedError:
                    raise
                except Exception as exc:  # a bug must not end polling; the batch stays unconfirmed
                    stuck += 1
                    log.exception("telegram: handling updates failed; they will be fetched and tried again")
                    self._health.failed(f"handling updates failed: {type(exc).__name__}: {exc}"[:300], lasting=True)
                    if await sleep_unless(self._stopping, self._backoff.delay(stuck)):
                        return
        except StoppedError:
            return

    async def _poll(self, offset: int | None) -> list[dict[str, Any]] | None:
        """The next batch (maybe empty), or None after a failure (with `_wait` set)."""
        self._updates.take()
        try:
            await self._bot.get_updates(offset=offset, timeout=self._timeout, allowed_updates=list(ALLOWED_UPDATES))
        except TelegramError as exc:
            self._failed(exc)
            return None
        except Exception as exc:  # PTB could not parse an update; we still have them as sent
            batch = self._updates.take()
            if not batch:
                self._failed(exc)
                return None
            log.warning("telegram: python-telegram-bot could not parse an update (%s); storing it raw",
                        type(exc).__name__)
            self._health.poll_ok()
            return batch
        self._health.poll_ok()
        return self._updates.take()

    def _failed(self, exc: BaseException) -> None:
        lasting = isinstance(exc, (Conflict, InvalidToken, Forbidden))
        self._health.failed(describe(exc), lasting=lasting)
        wait = self._backoff.wait_for(exc, self._health.failures)
        if isinstance(exc, Conflict):
            wait = max(wait, min(CONFLICT_MIN_WAIT_S, self._backoff.max_s))
            log.error("telegram: getUpdates conflict: %s (another poller on this token, or a webhook is set)",
                      describe(exc))
        elif lasting:
            log.error("telegram: the Bot API refuses this bot: %s", describe(exc))
        else:
            log.warning("telegram: getUpdates failed (%d in a row): %s; retrying in %.1f s",
                        self._health.failures, describe(exc), wait)
        self._wait = wait

    async def _handle(self, batch: list[dict[str, Any]]) -> int | None:
        """Store and answer the batch; returns the offset that confirms it, saved."""
        self.busy = True
        try:
            received = datetime.now(UTC)
            arrivals = [Arrival(u, payload_of(u), "polling", received) for u in batch
                        if isinstance(u.get("update_id"), int)]
            prepared: list[Prepared] = []
            for arrival in arrivals:
                prepared.append(await self._until_done(lambda a=arrival: self._pipeline.prepare(a)))  # type: ignore[misc]
            await self._until_done(lambda: self._pipeline.commit(prepared))
            for item in prepared:
                await self._responder.respond(item, REPLY_BUDGET_S)
        finally:
            self.busy = False
        offset = max(a.update_id for a in arrivals) + 1 if arrivals else None
        if offset is None:
            return self._health.offset
        self._health.offset = offset
        try:
            await self._desk.save_checkpoint(self._checkpoint, {"offset": offset, "update_id": offset - 1})
        except IntakeError as exc:  # Telegram is told by the next poll anyway; a restart re-fetches at worst
            log.warning("telegram: could not save the update offset: %s", exc)
        return offset

    async def _until_done(self, step: Callable[[], Awaitable[T]]) -> T:
        """Retry a storage step until it succeeds; StoppedError when the adapter stops meanwhile."""
        failures = 0
        while True:
            try:
                return await step()
            except (IntakeError, OSError) as exc:
                failures += 1
                wait = exc.retry_after if isinstance(exc, OverloadedError) else self._backoff.delay(failures)
                self._health.last_error = f"storing updates failed: {type(exc).__name__}: {exc}"[:300]
                log.warning("telegram: storing updates failed (%s); retrying in %.1f s", exc, wait)
                if await sleep_unless(self._stopping, wait):
                    raise StoppedError from exc
