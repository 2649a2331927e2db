"""A generic webhook: the ticket as JSON, signed the Standard Webhooks way.

The body is `{"event": ..., "ticket": ...}` with the ticket as the read API
shows it. `webhook-id` (and `Idempotency-Key`) is the delivery's key, the
same on every retry, so the receiver can drop a repeat; this is what makes a
crash between the receiver's 2xx and our record harmless. The source
channel and transport are in the ticket's messages and, for receivers that
route on headers, in `X-Gateway-Source-Channel` / `-Transport`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from router.destinations.base import Delivered, DeliveryJob, RetryPolicy
from router.destinations.config import WebhookConfig
from router.destinations.http import OutboundHttp
from router.destinations.signing import webhook_headers


class WebhookDestination:
    needs_original = False

    def __init__(
        self, config: WebhookConfig, secret: bytes, *, secret_text: str = "", limit: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = config.name
        self.retry: RetryPolicy = config.retry
        self._url = config.url
        self._key = secret
        self._clock = clock
        self._http = OutboundHttp(config.url, config.timeout_s, secrets=(secret_text,), limit=limit)

    async def open(self) -> None:
        await self._http.open()

    async def close(self) -> None:
        await self._http.close()

    async def deliver(self, job: DeliveryJob) -> Delivered:
        body = orjson.dumps({"event": job.event, "ticket": job.ticket})
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": job.key,
            "X-Gateway-Event": job.event,
            "X-Gateway-Source-Channel": job.channel,
            "X-Gateway-Source-Transport": job.transport,
            **webhook_headers(self._key, job.key, int(self._clock()), body),
        }
        answer = await self._http.request("POST", self._url, body=body, headers=headers)
        self._http.check(answer, f"webhook {self.name}")
        remote = _remote_id(answer.json())
        return Delivered(remote_id=remote, ticket_ref=remote if job.event == "ticket.created" else None)


def _remote_id(data: object) -> str | None:
    """The receiver's id for what it made, when it answers with one (`{"id": ...}`)."""
    if isinstance(data, dict):
        value = data.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)[:255]
    return None
