"""The `ack:email` destination: acknowledgements of new email tickets through an SMTP relay.

Acknowledgements are outbox deliveries like any other, so they survive a
crash and are retried, and a delivered one is never sent again. Before the
send, the acknowledgement's Message-ID is recorded in `outbound_messages`
under a per-recipient lock, which both enforces "at most one per sender per
window" across processes and lets a reply to the acknowledgement thread
back to its ticket. If the process dies between the relay's 250 and the
record of the delivery, the retry sends the same Message-ID again, which
mail providers collapse; that window is all that remains of "twice".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.parser import BytesHeaderParser

from router.acks import Ack, choose_language, compose_ack, refusal
from router.destinations.base import Delivered, DeliveryJob, DeliverySkippedError, RetryPolicy
from router.destinations.mail import SmtpSettings, message_id, plain_address, render, submit
from storage.outbox import Outbox, Reservation

ACK_DESTINATION = "ack:email"
ACK_EVENT = "ack"


@dataclass(frozen=True, slots=True)
class AckSettings:
    smtp: SmtpSettings
    sender: Address
    own_domain: str
    ref_format: str
    window: timedelta = timedelta(hours=1)
    default_language: str = "en"
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def utcnow() -> datetime:
    return datetime.now(UTC)


class AckMailer:
    name = ACK_DESTINATION
    needs_original = True

    def __init__(self, outbox: Outbox, settings: AckSettings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.retry = settings.retry
        self._outbox = outbox
        self._settings = settings
        self._clock = clock
        self._own = frozenset({settings.sender.addr_spec.lower()})

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def deliver(self, job: DeliveryJob) -> Delivered:
        ack = self.prepare(job)
        reservation = await self._outbox.reserve_outbound(
            message_id=ack.message_id, ticket_id=job.ticket_id, channel="email", kind="ack", recipient=ack.to,
            since=ack.sent_at - self._settings.window, now=ack.sent_at,
        )
        if reservation is Reservation.RATE_LIMITED:
            minutes = int(self._settings.window.total_seconds() // 60)
            raise DeliverySkippedError(f"not acknowledged: {ack.to} was acknowledged in the last {minutes} minutes")
        await submit(self._settings.smtp, self._settings.sender.addr_spec, [ack.to], render(compose_ack(ack)))
        return Delivered(remote_id=ack.message_id)

    def prepare(self, job: DeliveryJob) -> Ack:
        """The acknowledgement for this job; DeliverySkippedError when none may be sent."""
        message = job.message
        if job.channel != "email":
            raise DeliverySkippedError(f"not acknowledged: {job.channel} is acknowledged by its own channel")
        if message.get("kind") in ("auto_reply", "bounce"):
            raise DeliverySkippedError(f"not acknowledged: it is an {message.get('kind')}")
        requester = message.get("requester") or job.ticket.get("requester") or {}
        to = plain_address(requester.get("email"))
        if not to:
            raise DeliverySkippedError("not acknowledged: the sender has no usable address")
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(job.original or b"")
        reason = refusal(headers, own_domain=self._settings.own_domain, own_addresses=self._own)
        if reason:
            raise DeliverySkippedError(f"not acknowledged: {reason}")
        external_id = str(message.get("external_id") or "")
        return Ack(
            to=to,
            sender=self._settings.sender,
            ticket_ref=job.ticket_ref,
            ref_format=self._settings.ref_format,
            subject=str(message.get("subject") or job.ticket.get("subject") or ""),
            name=requester.get("name"),
            language=choose_language(
                [requester.get("language"), str(headers.get("content-language") or "") or None],
                self._settings.default_language,
            ),
            message_id=message_id(f"ack-{job.key}", self._settings.own_domain),
            in_reply_to=None if not external_id or external_id.startswith("sha256:") else external_id,
            own_domain=self._settings.own_domain,
            sent_at=self._clock(),
        )
