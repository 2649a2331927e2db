"""One IMAP mailbox taken in: fetch, store durably, then move or flag.

The poller runs as a task on the gateway's loop; imapclient blocks, so every
IMAP call runs in the mailbox's own single worker thread (one connection,
always used from the same thread). A pass takes every message above the
checkpoint in UID order, in groups bounded in count and bytes: fetch with
BODY.PEEK[], hand each to the intake concurrently (they share a group
commit), acknowledge the stored ones on the server, then advance the
checkpoint over the unbroken run of finished UIDs.

Failures are sorted by what can fix them. The intake refusing (storage down,
overload, shutdown) keeps the message and retries the pass after a back-off
on the same connection. Any IMAP or network error drops the connection and
reconnects with capped, jittered back-off. A message that keeps failing for
reasons of its own is left in the folder untouched, counted and logged, and
the mailbox moves on.

A message over `max_message_bytes` is never downloaded: its header block and
size are, and handed to the intake as a record marked `oversized` (payload:
the headers), which the email normalizer turns into a failed record with the
reason, listed by the API like any other. The checkpoint moves past it, but
it is not acknowledged: it stays in the folder, unread and unmoved, for a
person to deal with. Its external id is `oversized:` + the usual one, so the
message imported whole later (after the limit is raised and it is put back
in the folder) is a new record, not a repeat of the failed one.

Every record carries the envelope recipients as far as the headers tell
them (`meta["rcpt_tos"]`, see `channels.imap.recipients`), as SMTP's do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from channels.imap.backoff import backoff_delay
from channels.imap.checkpoint import Checkpoint, LoadCheckpoint, SaveCheckpoint, checkpoint_name
from channels.imap.recipients import envelope_recipients
from channels.imap.session import FetchedMail, MailboxSession
from gateway.config import ImapMailbox
from normalize.raw import Intake, IntakeError, RawInbound

log = logging.getLogger("gateway.channels.imap")

T = TypeVar("T")

GROUP_MAX_MESSAGES = 25
GROUP_MAX_BYTES = 16 * 1024 * 1024
SIZE_QUERY_MAX = 200  # UIDs per RFC822.SIZE fetch
IDLE_REFRESH_S = 600.0  # re-issue IDLE well within RFC 2177's 29 minutes
MESSAGE_ATTEMPTS = 3  # a message failing this often for its own reasons is skipped
OFF_LOOP_BYTES = 1024 * 1024
STOP_WAIT_S = 10.0


class RetryLaterError(Exception):
    """The intake refused some mail for now; the pass is retried after a back-off."""


@dataclass
class _Stats:
    connected: bool = False
    last_poll: datetime | None = None
    last_error: str | None = None
    imported: int = 0
    skipped: int = 0
    oversized: int = 0
    failures: dict[int, int] = field(default_factory=dict)  # uid -> attempts that failed on their own


class ImapPoller:
    """The `[[imap.mailboxes]]` entry as a running poller; a gateway channel."""

    def __init__(
        self,
        box: ImapMailbox,
        password: str,
        intake: Intake,
        external_id: Callable[[bytes], str],
        load_checkpoint: LoadCheckpoint,
        save_checkpoint: SaveCheckpoint,
        *,
        ssl_context: ssl.SSLContext | None = None,
        events: Callable[[str, str], None] | None = None,
        idle_refresh_s: float = IDLE_REFRESH_S,
        backoff_base_s: float = 1.0,
    ) -> None:
        self.name = f"imap:{box.name}"
        self._box = box
        self._intake = intake
        self._external_id = external_id
        self._load = load_checkpoint
        self._save = save_checkpoint
        self._events = events or (lambda _channel, _event: None)
        self._idle_refresh_s = idle_refresh_s
        self._backoff_base_s = backoff_base_s
        context = ssl_context or ssl.create_default_context(cafile=box.ca_file or None)
        self._session = MailboxSession(box, password, context)
        self._where = f"{box.user}@{box.host}/{box.folder}"
        self._checkpoint_name = checkpoint_name(box.name)
        self._uidvalidity = 0
        self._last_uid = 0
        self._stats = _Stats()
        self._stopping = threading.Event()
        self._wake = asyncio.Event()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"imap-{self._box.name}")
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=STOP_WAIT_S)
            if not done:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        if self._executor is not None:
            try:
                await asyncio.wait_for(self._call(self._session.close), timeout=STOP_WAIT_S)
            except Exception:
                pass
            self._executor.shutdown(wait=False)
        self._stats.connected = False

    def health(self) -> dict[str, object]:
        """`ok` is False only if the poller itself died; a server outage shows as connected=False."""
        stats = self._stats
        alive = self._task is not None and not self._task.done()
        return {
            "ok": alive,
            "connected": stats.connected,
            "folder": self._box.folder,
            "last_poll": stats.last_poll.isoformat() if stats.last_poll else None,
            "last_error": stats.last_error,
            "imported": stats.imported,
            "skipped": stats.skipped,
            "oversized": stats.oversized,
        }

    # -- the loop --------------------------------------------------------
    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                if not self._session.connected:
                    await self._connect()
                # Wait only after a search found nothing new: mail that arrived
                # during a pass was announced (EXISTS) in the answer to one of its
                # commands, and IDLE would not announce it again.
                while await self._pass() and not self._stopping.is_set():
                    pass
                failures = 0
                self._stats.last_poll = datetime.now(UTC)
                self._stats.last_error = None
                await self._wait_for_mail()
            except RetryLaterError as exc:
                failures += 1
                self._note_error(str(exc))
                await self._sleep(self._delay(failures))
            except Exception as exc:
                failures += 1
                self._note_error(f"{type(exc).__name__}: {exc}")
                self._count("connection_error")
                log.warning("imap %s: %s; reconnecting (attempt %d)", self._box.name,
                            self._stats.last_error, failures)
                await self._disconnect()
                await self._sleep(self._delay(failures))

    def _delay(self, failures: int) -> float:
        return backoff_delay(failures, base=self._backoff_base_s, cap=self._box.reconnect_max_s)

    async def _connect(self) -> None:
        state = await self._call(self._session.connect)
        self._stats.connected = True
        saved = Checkpoint.from_json(await self._load(self._checkpoint_name))
        self._uidvalidity = state.uidvalidity
        self._last_uid = saved.resume(self._where, state.uidvalidity) if saved else 0
        if saved and self._last_uid == 0 and saved.last_uid:
            log.warning("imap %s: UIDVALIDITY or server changed (%s -> %s): rescanning the whole folder",
                        self._box.name, saved.uidvalidity, state.uidvalidity)
        log.info("imap %s: connected to %s, %d messages, continuing after UID %d",
                 self._box.name, self._where, state.exists, self._last_uid)

    async def _disconnect(self) -> None:
        self._stats.connected = False
        try:
            await self._call(self._session.close)
        except Exception:
            pass

    async def _wait_for_mail(self) -> None:
        if self._stopping.is_set():
            return
        if self._box.idle and self._session.can_idle:
            await self._call(self._session.wait_idle, self._idle_refresh_s, self._stopping)
        else:
            await self._sleep(self._box.poll_interval_s)
            if not self._stopping.is_set():
                await self._call(self._session.noop)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass

    # -- one pass --------------------------------------------------------
    async def _pass(self) -> int:
        """Take every message above the checkpoint; returns how many there were."""
        uids = await self._call(self._session.uids_after, self._last_uid)
        retry = False
        for start in range(0, len(uids), SIZE_QUERY_MAX):
            chunk = uids[start:start + SIZE_QUERY_MAX]
            sizes = await self._call(self._session.sizes, chunk)
            for group in _groups(chunk, sizes, self._box.max_message_bytes):
                if self._stopping.is_set():
                    return len(uids)
                if not await self._take(group, sizes):
                    retry = True
                    break
            if retry:
                break
        if retry:
            raise RetryLaterError("the intake refused mail for now; will retry")
        return len(uids)

    async def _take(self, group: Sequence[int], sizes: dict[int, int]) -> bool:
        """Store, acknowledge and checkpoint one group; False when some mail must be retried."""
        limit = self._box.max_message_bytes
        present = [uid for uid in group if uid in sizes]  # the rest was expunged meanwhile
        oversized = [uid for uid in present if sizes[uid] > limit]
        wanted = [uid for uid in present if sizes[uid] <= limit]
        mails = await self._call(self._session.fetch, wanted)
        heads = await self._call(self._session.fetch_headers, oversized) if oversized else []
        fetched = {m.uid for m in mails} | {h.uid for h in heads}
        finished: set[int] = {uid for uid in group if uid not in fetched}  # gone before it was fetched
        outcomes = await asyncio.gather(
            *(self._offer(mail) for mail in mails),
            *(self._offer(head, oversized=head.size or sizes[head.uid]) for head in heads),
        )
        whole = outcomes[:len(mails)]
        stored = [mail.uid for mail, outcome in zip(mails, whole, strict=True) if outcome == "stored"]
        await self._call(self._session.acknowledge, stored)  # never the oversized: they stay for a person
        self._stats.imported += len(stored)
        finished.update(uid for uid, outcome in zip([m.uid for m in mails] + [h.uid for h in heads], outcomes,
                                                    strict=True) if outcome in ("stored", "skip"))
        last = self._last_uid
        for uid in group:
            if uid not in finished:
                break
            last = uid
        if last != self._last_uid:
            self._last_uid = last
            await self._save(self._checkpoint_name,
                             Checkpoint(self._where, self._uidvalidity, last).to_json())
        return all(outcome != "retry" for outcome in outcomes)

    async def _offer(self, mail: FetchedMail, *, oversized: int | None = None) -> str:
        """Hand one message to the intake: "stored", "retry" (try again later) or "skip".

        With `oversized` (its size), `mail` holds only the message's headers,
        and the record says so; the normalizer makes it a failed record.
        """
        try:
            if len(mail.content) > OFF_LOOP_BYTES:
                external_id = await asyncio.to_thread(self._external_id, mail.content)
            else:
                external_id = self._external_id(mail.content)
            meta: dict[str, Any] = {
                "mailbox": self._box.name, "folder": self._box.folder, "uid": mail.uid,
                "uidvalidity": self._uidvalidity, "rcpt_tos": envelope_recipients(mail.content),
            }
            if oversized is not None:
                external_id = f"oversized:{external_id}"
                meta["oversized"] = {"size": oversized, "limit": self._box.max_message_bytes}
            await self._intake(RawInbound(
                channel="email",
                transport="imap",
                external_id=external_id,
                received_at=mail.internal_date or datetime.now(UTC),
                payload=mail.content,
                meta=meta,
            ))
            self._stats.failures.pop(mail.uid, None)
            if oversized is not None:
                self._stats.oversized += 1
                self._count("oversized")
                log.warning("imap %s: UID %d is %d bytes, over max_message_bytes (%d): its headers are kept as a "
                            "failed record and the message is left in %s", self._box.name, mail.uid, oversized,
                            self._box.max_message_bytes, self._box.folder)
            return "stored"
        except IntakeError as exc:
            self._count("intake_refused")
            log.info("imap %s: intake refused UID %d for now: %s", self._box.name, mail.uid, exc)
            return "retry"
        except Exception:
            attempts = self._stats.failures.get(mail.uid, 0) + 1
            self._stats.failures[mail.uid] = attempts
            log.exception("imap %s: taking UID %d failed (attempt %d)", self._box.name, mail.uid, attempts)
            if attempts >= MESSAGE_ATTEMPTS:
                self._skip(mail.uid, f"failed {attempts} times")
                return "skip"
            return "retry"

    def _skip(self, uid: int, why: str) -> None:
        self._stats.skipped += 1
        self._stats.failures.pop(uid, None)
        self._count("skipped")
        log.error("imap %s: UID %d left in %s untaken: %s", self._box.name, uid, self._box.folder, why)

    # -- helpers ---------------------------------------------------------
    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError("the poller is not started")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _note_error(self, text: str) -> None:
        self._stats.last_error = text[:500]

    def _count(self, event: str) -> None:
        self._events("email", f"imap_{event}")


def _groups(uids: Sequence[int], sizes: dict[int, int], max_message: int) -> list[list[int]]:
    """Consecutive UIDs in groups of at most GROUP_MAX_MESSAGES and GROUP_MAX_BYTES (one big mail alone)."""
    groups: list[list[int]] = []
    current: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0) if sizes.get(uid, 0) <= max_message else 0
        if current and (len(current) >= GROUP_MAX_MESSAGES or total + size > GROUP_MAX_BYTES):
            groups.append(current)
            current, total = [], 0
        current.append(uid)
        total += size
    if current:
        groups.append(current)
    return groups
