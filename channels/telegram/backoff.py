"""Back-off for Bot API calls: Telegram's `retry_after` when it gives one, else exponential.

Only transient failures are retried (429, 5xx, timeouts, network errors); a
400 or 403 means the same call will fail again, so it is given up at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

T = TypeVar("T")


class GaveUpError(Exception):
    """A call still failed after its retries (or the adapter is stopping); `cause` is the last error."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(describe(cause))
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 1.0
    max_s: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the n-th failure in a row (n >= 1), with up to 25% jitter."""
        raw = min(self.max_s, self.base_s * 2 ** max(0, failures - 1))
        return raw * random.uniform(1.0, 1.25)

    def wait_for(self, exc: BaseException, failures: int) -> float:
        if isinstance(exc, RetryAfter):
            return retry_after_s(exc)
        return self.delay(failures)


def retry_after_s(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int form becomes a timedelta; both are read
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def transient(exc: BaseException) -> bool:
    return isinstance(exc, RetryAfter) or (isinstance(exc, NetworkError) and not isinstance(exc, BadRequest))


def describe(exc: BaseException) -> str:
    """A short, token-free description of a Bot API failure for logs and health."""
    if isinstance(exc, RetryAfter):
        return f"rate limited by Telegram (retry after {retry_after_s(exc):g} s)"
    if isinstance(exc, TelegramError):
        return f"{type(exc).__name__}: {exc.message}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


async def sleep_unless(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep, cut short when `stopping` is set; True when it was."""
    try:
        await asyncio.wait_for(stopping.wait(), timeout=max(0.0, seconds))
    except TimeoutError:
        return False
    return True


async def with_retries(
    call: Callable[[], Awaitable[T]],
    backoff: Backoff,
    stopping: asyncio.Event,
    *,
    attempts: int,
    max_wait_s: float,
) -> T:
    """Run `call` until it succeeds; GaveUpError after `attempts` or a wait longer than `max_wait_s`."""
    failures = 0
    while True:
        try:
            return await call()
        except TelegramError as exc:
            failures += 1
            wait = backoff.wait_for(exc, failures)
            if not transient(exc) or failures >= attempts or wait > max_wait_s:
                raise GaveUpError(exc) from exc
            if await sleep_unless(stopping, wait):
                raise GaveUpError(exc) from exc
