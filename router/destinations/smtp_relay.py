"""A helpdesk mailbox behind an SMTP relay.

Mail that came in as mail is relayed as it arrived, byte for byte, under a
few headers of ours (as every relay adds `Received:`): the source channel
and transport, the gateway's ticket reference and the delivery key. Anything
else (a portal form, a call record, a Telegram message) is composed into a
plain-text mail whose subject carries the ticket reference and whose
Message-ID is the delivery's, threaded under the first one by In-Reply-To.

What it guarantees: at least once. SMTP has no idempotency key, but every
retry of a delivery sends the same Message-ID (the original's, or ours), and
helpdesks that drop a Message-ID they have seen (Zammad and osTicket do)
keep one copy.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime

from router.destinations.base import Delivered, DeliveryJob, RetryPolicy, source_line
from router.destinations.config import SmtpRelayConfig
from router.destinations.mail import (
    SmtpSettings,
    clean_header,
    message_id,
    plain_address,
    prepend_headers,
    render,
    submit,
)

LOOP_HEADER = "X-Gateway-Loop"


class SmtpRelayDestination:
    needs_original = True

    def __init__(self, config: SmtpRelayConfig, password: str, *, own_domain: str, ref_format: str) -> None:
        self.name = config.name
        self.retry: RetryPolicy = config.retry
        self._config = config
        self._own_domain = own_domain
        self._ref_format = ref_format
        self._smtp = SmtpSettings(config.host, config.port, config.tls, config.username, password, config.timeout_s)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _our_headers(self, job: DeliveryJob) -> list[tuple[str, str]]:
        return [
            ("X-Gateway-Source-Channel", job.channel),
            ("X-Gateway-Source-Transport", job.transport),
            ("X-Gateway-Ticket", job.ticket_ref),
            ("X-Gateway-Event", job.event),
            ("X-Gateway-Delivery", job.key),
            (LOOP_HEADER, self._own_domain),
        ]

    async def deliver(self, job: DeliveryJob) -> Delivered:
        external_id = str(job.message.get("external_id") or "")
        if job.channel == "email" and job.original:
            data = prepend_headers(job.original, self._our_headers(job))
            sent_id = None if external_id.startswith("sha256:") else external_id
        else:
            sent_id = message_id(job.key, self._own_domain)
            data = render(self.compose(job, sent_id))
        await submit(self._smtp, self._config.from_address, [self._config.to], data)
        return Delivered(remote_id=sent_id, ticket_ref=sent_id if job.event == "ticket.created" else None)

    def compose(self, job: DeliveryJob, sent_id: str) -> EmailMessage:
        message = job.message
        requester = message.get("requester") or job.ticket.get("requester") or {}
        tag = self._ref_format.format(ref=job.ticket_ref)
        subject = clean_header(message.get("subject") or job.ticket.get("subject") or "")
        mail = EmailMessage()
        mail["From"] = self._config.from_address
        mail["To"] = self._config.to
        reply_to = plain_address(requester.get("email"))
        if reply_to:
            mail["Reply-To"] = reply_to
        mail["Subject"] = f"{tag} {subject}".strip()
        mail["Date"] = _date(message.get("received_at"))
        mail["Message-ID"] = f"<{sent_id}>"
        if job.event != "ticket.created" and job.downstream_id:
            mail["In-Reply-To"] = f"<{clean_header(job.downstream_id)}>"
            mail["References"] = f"<{clean_header(job.downstream_id)}>"
        for name, value in self._our_headers(job):
            mail[name] = clean_header(value)
        who = clean_header(requester.get("name") or requester.get("email") or requester.get("phone") or "")
        text = message.get("text") or message.get("full_text") or ""
        body = f"From: {who}\n\n{text}\n\n{source_line(job)}\n" if who else f"{text}\n\n{source_line(job)}\n"
        mail.set_content(body)
        return mail


def _date(value: object) -> str:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            moment = datetime.now(UTC)
    return format_datetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
