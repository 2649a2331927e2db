"""osTicket's ticket API: `POST /api/tickets.json` with `X-API-Key`.

A new ticket is created through `tickets.json` (or, with
`create_via = "email"`, through `tickets.email`, osTicket's remote-piping
endpoint that takes a whole RFC 822 message). osTicket answers 201 with the
ticket number, which is kept as the ticket's id there. Its API has no call
that adds a message to a ticket, so follow-ups go through `tickets.email`
as a mail from the requester whose subject carries `[#<number>]`, which
osTicket threads onto that ticket.

What it guarantees: every mail sent to `tickets.email` carries the delivery
key as its Message-ID and osTicket skips a Message-ID it has already
threaded, so follow-ups, and tickets created with `create_via = "email"`,
arrive once. `tickets.json` has no idempotency key and stock osTicket no
look-up call, so with `create_via = "json"` a crash between osTicket's 201
and our record can create the ticket twice.
"""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from router.destinations.base import Delivered, DeliveryError, DeliveryJob, RetryPolicy, source_line
from router.destinations.config import OsTicketConfig
from router.destinations.http import OutboundHttp
from router.destinations.mail import clean_header, message_id, plain_address, render

SOURCES = {"email": "Email", "phone": "Phone"}  # osTicket's own source names; the rest arrive as "API"
NUMBER_CHARS = 64


class OsTicketDestination:
    needs_original = False

    def __init__(self, config: OsTicketConfig, api_key: str, *, own_domain: str, limit: int = 100) -> None:
        self.name = config.name
        self.retry: RetryPolicy = config.retry
        self._config = config
        self._own_domain = own_domain
        self._key = {"X-API-Key": api_key}
        self._http = OutboundHttp(config.url, config.timeout_s, secrets=(api_key,), limit=limit)

    async def open(self) -> None:
        await self._http.open()

    async def close(self) -> None:
        await self._http.close()

    async def deliver(self, job: DeliveryJob) -> Delivered:
        if job.event == "message.added" and job.downstream_id:
            number = await self._post_email(job, f"[#{job.downstream_id}] ")
            return Delivered(remote_id=number)
        if self._config.create_via == "email":
            number = await self._post_email(job, "")
        else:
            number = await self._post_json(job)
        return Delivered(remote_id=number, ticket_ref=number)

    def _requester(self, job: DeliveryJob) -> tuple[str, str, str]:
        """(name, email, phone); the email falls back to the ticket's, then to `default_email`."""
        own = job.message.get("requester") or {}
        ticket = job.ticket.get("requester") or {}
        email = plain_address(own.get("email")) or plain_address(ticket.get("email")) or self._config.default_email
        if not email:
            raise DeliveryError(
                f"osticket {self.name}: the requester has no email address and "
                f"destinations.{self.name}.default_email is not set",
                permanent=True,
            )
        name = clean_header(own.get("name") or ticket.get("name") or email, 128)
        phone = clean_header(own.get("phone") or ticket.get("phone") or "", 64)
        return name, email, phone

    def _text(self, job: DeliveryJob) -> str:
        text = job.message.get("text") or job.message.get("full_text") or ""
        return f"{text}\n\n{source_line(job)}"

    async def _post_json(self, job: DeliveryJob) -> str:
        name, email, phone = self._requester(job)
        payload: dict[str, Any] = {
            "alert": self._config.alert,
            "autorespond": self._config.autorespond,
            "source": SOURCES.get(job.channel, "API"),
            "name": name,
            "email": email,
            "subject": clean_header(job.message.get("subject") or job.ticket.get("subject") or "(no subject)"),
            "message": "data:text/plain;charset=utf-8;base64," + base64.b64encode(self._text(job).encode()).decode(),
        }
        if phone:
            payload["phone"] = phone
        if self._config.topic_id is not None:
            payload["topicId"] = self._config.topic_id
        body = json.dumps(payload, ensure_ascii=False).encode()
        return await self._post("api/tickets.json", body, "application/json")

    async def _post_email(self, job: DeliveryJob, subject_prefix: str) -> str:
        name, email, _phone = self._requester(job)
        mail = EmailMessage()
        mail["From"] = formataddr((name, email))
        mail["Subject"] = subject_prefix + clean_header(job.message.get("subject") or job.ticket.get("subject") or "")
        mail["Date"] = format_datetime(_received(job))
        mail["Message-ID"] = f"<{message_id(job.key, self._own_domain)}>"
        mail["X-Gateway-Source-Channel"] = clean_header(job.channel)
        mail["X-Gateway-Source-Transport"] = clean_header(job.transport)
        mail["X-Gateway-Ticket"] = clean_header(job.ticket_ref)
        mail.set_content(self._text(job))
        return await self._post("api/tickets.email", render(mail), "message/rfc822")

    async def _post(self, path: str, body: bytes, content_type: str) -> str:
        headers = {**self._key, "Content-Type": content_type}
        answer = await self._http.request("POST", self._http.url(path), body=body, headers=headers)
        self._http.check(answer, f"osticket {self.name} POST /{path}")
        number = answer.body.decode("utf-8", "replace").strip()[:NUMBER_CHARS]
        if not number:
            raise DeliveryError(f"osticket {self.name}: accepted but answered no ticket number")
        return number


def _received(job: DeliveryJob) -> Any:
    from datetime import UTC, datetime

    try:
        return datetime.fromisoformat(str(job.message.get("received_at")).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
