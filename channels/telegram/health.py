"""The channel's health as /readyz reports it: what is wrong, said plainly.

Polling: the time since the last successful getUpdates, and the last error.
Webhook: what getWebhookInfo last said (the URL Telegram delivers to,
Telegram's last delivery error, the pending count and whether it grows).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

PENDING_GROWTH_CHECKS = 3  # this many rising pending counts in a row means updates pile up
ERROR_FRESH_S = 3600.0  # a delivery error newer than this, and newer than our last receipt, counts


@dataclass
class Health:
    mode: str
    stale_after_s: float
    expected_url: str | None = None  # the webhook URL we registered, when we did
    problem: str | None = None  # a configuration fault that keeps the channel down (no token, no secret)
    blocking: str | None = None  # a lasting Bot API refusal (409, 401, failed setWebhook) until it clears
    bot: str | None = None
    ready: bool = False
    last_error: str | None = None
    failures: int = 0
    last_poll: float | None = None  # monotonic
    offset: int | None = None
    webhook: dict[str, Any] | None = None
    webhook_checked: float | None = None
    webhook_error: str | None = None
    last_received: float | None = None  # wall clock of the last webhook update we stored
    pending: deque[int] = field(default_factory=lambda: deque(maxlen=PENDING_GROWTH_CHECKS))

    def poll_ok(self) -> None:
        self.last_poll = time.monotonic()
        self.failures = 0
        self.blocking = None

    def failed(self, error: str, *, lasting: bool = False) -> None:
        self.failures += 1
        self.last_error = error
        if lasting:
            self.blocking = error

    def webhook_info(self, info: dict[str, Any]) -> None:
        self.webhook = info
        self.webhook_checked = time.time()
        self.webhook_error = None
        self.pending.append(int(info.get("pending_update_count") or 0))

    def report(self) -> dict[str, Any]:
        problems: list[str] = []
        body: dict[str, Any] = {"mode": self.mode, "bot": self.bot}
        if self.problem:
            problems.append(self.problem)
        if self.blocking:
            problems.append(self.blocking)
        if not self.ready and not self.problem:
            problems.append("starting: the Bot API has not answered yet" +
                            (f" ({self.last_error})" if self.last_error else ""))
        if self.mode == "polling":
            self._polling(body, problems)
        else:
            self._webhook(body, problems)
        body["last_error"] = self.last_error
        body["problems"] = problems
        body["ok"] = not problems
        return body

    def _polling(self, body: dict[str, Any], problems: list[str]) -> None:
        age = None if self.last_poll is None else round(time.monotonic() - self.last_poll, 3)
        body["last_poll_age_s"] = age
        body["offset"] = self.offset
        body["consecutive_failures"] = self.failures
        if self.ready and (age is None or age > self.stale_after_s):
            problems.append(f"no successful getUpdates for {age if age is not None else 'ever'} s")
        elif self.ready and self.failures >= 3:
            problems.append(f"polling failed {self.failures} times in a row: {self.last_error}")

    def _webhook(self, body: dict[str, Any], problems: list[str]) -> None:
        info = self.webhook or {}
        body["webhook"] = {
            "url": info.get("url"),
            "expected_url": self.expected_url,
            "pending_update_count": info.get("pending_update_count"),
            "last_error_message": info.get("last_error_message"),
            "last_error_date": info.get("last_error_date"),
            "checked_age_s": round(time.time() - self.webhook_checked, 3) if self.webhook_checked else None,
        }
        if self.webhook_error:
            problems.append(f"getWebhookInfo failed: {self.webhook_error}")
        if not self.ready:
            return
        if self.webhook is None:
            problems.append("getWebhookInfo has not answered yet")
            return
        url = info.get("url") or ""
        if not url:
            problems.append("no webhook is registered with Telegram: set [telegram] public_url or call setWebhook")
        elif self.expected_url and url != self.expected_url:
            problems.append(f"Telegram delivers to {url}, not to {self.expected_url}")
        error_at = info.get("last_error_date")
        if isinstance(error_at, int) and time.time() - error_at < ERROR_FRESH_S and (
            self.last_received is None or error_at >= self.last_received
        ):
            problems.append(f"Telegram reports a delivery error: {info.get('last_error_message') or 'unknown'}")
        counts = list(self.pending)
        if len(counts) == PENDING_GROWTH_CHECKS and all(a < b for a, b in itertools.pairwise(counts)):
            problems.append(f"updates pile up at Telegram: pending {' -> '.join(map(str, counts))}")
