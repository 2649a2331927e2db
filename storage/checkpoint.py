"""Moving SQLite's write-ahead log into the database file outside the commits that acknowledge records.

SQLite checkpoints automatically inside the commit that takes the log past
1,000 pages. With mail-sized records that is every few hundred records, and
that commit, and every sender waiting on it, takes 50-150 ms longer: the
slowest answers of the whole intake path. Here a connection of its own
checkpoints in PASSIVE mode (it never waits for readers or the writer, and
the writer never waits for it) from a worker thread, every `interval`
seconds; the writer's own automatic checkpoint stays as a backstop at a much
longer log (`BACKSTOP_PAGES`), should this one fall behind or stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3

log = logging.getLogger("storage.checkpoint")

BACKSTOP_PAGES = 16_000  # the writer's own automatic checkpoint, ~64 MB of log with 4 KB pages
INTERVAL_S = 0.25


class WalCheckpointer:
    def __init__(self, path: str, synchronous: str, interval: float = INTERVAL_S) -> None:
        self._path = path
        self._synchronous = synchronous
        self._interval = interval
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sqlite-checkpoint")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._conn is not None:
            await asyncio.to_thread(self._conn.close)
            self._conn = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await asyncio.to_thread(self.checkpoint)
            except sqlite3.Error as exc:  # the backstop still checkpoints; say so and go on
                log.warning("checkpoint of %s failed: %s", self._path, exc)

    def checkpoint(self) -> tuple[int, int, int]:
        """(busy, log pages, pages moved), as `PRAGMA wal_checkpoint` reports them."""
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, timeout=10, check_same_thread=False, isolation_level=None)
            self._conn.execute(f"PRAGMA synchronous={self._synchronous}")
        busy, pages, moved = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(pages), int(moved)
