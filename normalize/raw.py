"""The raw inbound record: the contract between channel adapters and intake.

An adapter turns one transport event into a `RawInbound` and hands it to the
gateway's single intake function; it learns the outcome as an `IntakeResult`.
Both live here, beside the schema, so adapters depend on neither storage nor
the router.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class RawInbound:
    """One transport event, exactly as received.

    `external_id` is unique per channel: a second record with the same pair is
    a re-delivery. `idempotency_key`, when given, is a second unique key (a
    portal `Idempotency-Key` scoped to its token, a webhook id) and
    `body_sha256` lets a retry with another body be told apart from a repeat.
    """

    channel: str
    transport: str
    external_id: str
    received_at: datetime
    payload: bytes
    principal: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    body_sha256: str | None = None


class IntakeStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class IntakeResult:
    inbound_id: int
    duplicate: bool
    status: IntakeStatus
    ticket_id: str | None = None
    message_id: str | None = None
    error: str | None = None
    body_sha256: str | None = None


class IntakeError(Exception):
    """Base of the errors an adapter may see from intake."""


class OverloadedError(IntakeError):
    """Too much work in flight; the transport should ask the sender to retry."""

    def __init__(self, retry_after: float = 1.0) -> None:
        super().__init__("intake is at its in-flight limit")
        self.retry_after = retry_after


class StorageUnavailableError(IntakeError):
    """The record could not be committed; nothing was acknowledged."""


class ShuttingDownError(IntakeError):
    """The gateway is stopping and takes no new work."""


class IdempotencyConflictError(IntakeError):
    """The idempotency key was used before, with another body."""


class InFlightError(IntakeError):
    """The first request with this idempotency key is still being processed."""


Intake = Callable[[RawInbound], Awaitable[IntakeResult]]
"""What every adapter is handed: store durably, then tell the outcome.

Returns once the raw record is committed and (unless the record was already
there) processed into a ticket, so the adapter can acknowledge the transport.
"""
