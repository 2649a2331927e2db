"""The contract between the dispatcher and each destination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently one destination is retried."""

    max_attempts: int = 10
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 30.0
    max_retry_after_s: float = 600.0


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """Everything a destination needs for one delivery, read before the send.

    `ticket` is the ticket as `GET /v1/tickets/{id}` answers it, with the
    messages up to and including this delivery's message, so every retry
    sends the same content. `downstream_id` is this destination's id for the
    ticket once a `ticket.created` delivery to it has succeeded.
    """

    id: int
    key: str
    destination: str
    event: str  # ticket.created | message.added | ack
    attempt: int  # 1 on the first try
    ticket_id: int
    message_id: int
    ticket: dict[str, Any]
    message: dict[str, Any]
    channel: str
    transport: str
    downstream_id: str | None = None
    original: bytes | None = None  # the raw inbound payload, for destinations that ask for it

    @property
    def ticket_ref(self) -> str:
        return str(self.ticket["id"])


@dataclass(frozen=True, slots=True)
class Delivered:
    """Success. `ticket_ref` is kept as the ticket's id at this destination (follow-ups use it)."""

    remote_id: str | None = None
    ticket_ref: str | None = None


class DeliveryError(Exception):
    """The delivery did not succeed; `permanent` ones are dead-lettered without retrying."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


class DeliverySkippedError(Exception):
    """The delivery must not be made at all (an acknowledgement to a mailing list, say)."""


class Destination(Protocol):
    name: str
    retry: RetryPolicy
    needs_original: bool  # the dispatcher loads the raw inbound payload for it

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def deliver(self, job: DeliveryJob) -> Delivered: ...


def source_line(job: DeliveryJob) -> str:
    """The line helpdesk destinations add to a forwarded text, naming where it came from."""
    return f"-- \nReceived via {job.channel} ({job.transport}), gateway ticket {job.ticket_ref}"
