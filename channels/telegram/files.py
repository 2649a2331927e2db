"""Files a message carries: fetched with getFile into attachment storage before intake.

Content goes to `<attachments_dir>/<sha256>` (written, synced, then renamed
into place, so a file either is complete or is not there) before the record
is committed, so every attachment a stored message lists by digest exists.
A file over `max_file_bytes` is not fetched: it is recorded by name and size
with a note, and the sender is told. A fetch that still fails after its
retries is recorded the same way, with the reason: the message is never held
back for one of its files (the file id stays in the stored update).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import Bot
from telegram.error import BadRequest

from channels.telegram.backoff import Backoff, GaveUpError, with_retries
from normalize.telegram import FileRef

log = logging.getLogger("gateway.channels.telegram")

OVER_LIMIT = "over the size limit of {limit} bytes: not fetched"
TOO_BIG_FOR_BOTS = "file is too big"  # Bot API 400 for files over its own 20 MB limit


@dataclass(frozen=True, slots=True)
class Fetched:
    ref: FileRef
    size: int
    sha256: str
    note: str | None = None  # why the content is missing
    over_limit: bool = False

    def meta(self) -> dict[str, Any]:
        """The entry the stored record's `meta.files` keeps for the normalizer."""
        return {
            "file_unique_id": self.ref.file_unique_id,
            "kind": self.ref.kind,
            "name": self.ref.name,
            "content_type": self.ref.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "note": self.note,
        }


class AttachmentStore:
    """Content-addressed files on disk; writing the same content twice keeps one file."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def path(self, sha256: str) -> Path:
        return self._dir / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists() and target.stat().st_size == len(data):
            return digest
        self._dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return digest


class FileFetcher:
    def __init__(self, bot: Bot, store: AttachmentStore, max_bytes: int, backoff: Backoff,
                 stopping: asyncio.Event, attempts: int = 4) -> None:
        self._bot = bot
        self._store = store
        self._max = max_bytes
        self._backoff = backoff
        self._stopping = stopping
        self._attempts = attempts

    async def fetch(self, ref: FileRef) -> Fetched:
        if ref.size is not None and ref.size > self._max:
            return self._over(ref, ref.size)
        try:
            tg_file = await with_retries(lambda: self._bot.get_file(ref.file_id), self._backoff, self._stopping,
                                         attempts=self._attempts, max_wait_s=self._backoff.max_s)
            if tg_file.file_size is not None and tg_file.file_size > self._max:
                return self._over(ref, tg_file.file_size)
            data = bytes(await with_retries(tg_file.download_as_bytearray, self._backoff, self._stopping,
                                            attempts=self._attempts, max_wait_s=self._backoff.max_s))
        except GaveUpError as exc:
            if isinstance(exc.cause, BadRequest) and TOO_BIG_FOR_BOTS in exc.cause.message.lower():
                return self._over(ref, ref.size or 0)
            # Never log the file's URL or path: it contains the bot token.
            log.warning("telegram: could not fetch %s %s: %s", ref.kind, ref.name, exc)
            return Fetched(ref, ref.size or 0, "", note=f"not fetched from Telegram: {exc}"[:300])
        if len(data) > self._max:
            return self._over(ref, len(data))
        digest = await asyncio.to_thread(self._store.put, data)
        return Fetched(ref, len(data), digest)

    def _over(self, ref: FileRef, size: int) -> Fetched:
        return Fetched(ref, size, "", note=OVER_LIMIT.format(limit=self._max), over_limit=True)
