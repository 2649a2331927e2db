"""Zammad's REST API: a ticket per gateway ticket, follow-ups as its articles.

`POST /api/v1/tickets` creates the ticket with its first article (the
customer found or made from the requester's address with Zammad's
`guess:` form), and `POST /api/v1/ticket_articles` adds each follow-up to
the ticket id kept from the creation. Requests carry
`Authorization: Token token=...`.

What it guarantees: Zammad has no idempotency key. Each article carries the
delivery key as its `message_id`, and before re-sending a follow-up after
an attempt whose outcome is unknown the ticket's articles are listed and a
match ends the delivery, so follow-ups arrive once. A ticket is created once
only when `key_field` names a ticket attribute (created in Zammad's object
manager) that receives the delivery key: a retry then searches for it
before creating. Without it, a crash between Zammad's answer and our record
can create the ticket twice.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from router.destinations.base import Delivered, DeliveryError, DeliveryJob, RetryPolicy, source_line
from router.destinations.config import ZammadConfig
from router.destinations.http import OutboundHttp

ARTICLE_TYPES = {"email": "email", "phone": "phone", "portal": "web"}
PRIORITIES = {"low": "1 low", "normal": "2 normal", "high": "3 high", "urgent": "3 high"}
TITLE_CHARS = 250


class ZammadDestination:
    needs_original = False

    def __init__(self, config: ZammadConfig, token: str, *, limit: int = 100) -> None:
        self.name = config.name
        self.retry: RetryPolicy = config.retry
        self._config = config
        self._auth = {"Authorization": f"Token token={token}", "Content-Type": "application/json"}
        self._http = OutboundHttp(config.url, config.timeout_s, secrets=(token,), limit=limit)

    async def open(self) -> None:
        await self._http.open()

    async def close(self) -> None:
        await self._http.close()

    async def deliver(self, job: DeliveryJob) -> Delivered:
        if job.event == "message.added" and job.downstream_id:
            return await self._add_article(job, job.downstream_id)
        return await self._create_ticket(job)  # a follow-up of a ticket Zammad never got opens one

    async def _create_ticket(self, job: DeliveryJob) -> Delivered:
        key_field = self._config.key_field
        if job.attempt > 1 and key_field:
            found = await self._find_ticket(key_field, job.key)
            if found:
                return Delivered(remote_id=found, ticket_ref=found)
        ticket = job.ticket
        payload: dict[str, Any] = {
            "title": (ticket.get("subject") or job.message.get("subject") or "(no subject)")[:TITLE_CHARS],
            "group": self._config.group,
            "customer_id": f"guess:{self._customer(job)}",
            "article": self._article(job),
            "tags": f"channel:{job.channel},transport:{job.transport}",
        }
        priority = PRIORITIES.get(str((ticket.get("classification") or {}).get("priority")))
        if priority:
            payload["priority"] = priority
        if key_field:
            payload[key_field] = job.key
        answer = await self._post("api/v1/tickets", payload)
        ticket_id = _id_of(answer)
        if ticket_id is None:
            raise DeliveryError(f"zammad {self.name}: ticket created but the answer has no id")
        return Delivered(remote_id=ticket_id, ticket_ref=ticket_id)

    async def _add_article(self, job: DeliveryJob, ticket_id: str) -> Delivered:
        if job.attempt > 1:
            found = await self._find_article(ticket_id, _marker(job))
            if found:
                return Delivered(remote_id=found)
        article = self._article(job)
        article["ticket_id"] = int(ticket_id) if ticket_id.isdigit() else ticket_id
        answer = await self._post("api/v1/ticket_articles", article)
        return Delivered(remote_id=_id_of(answer))

    def _customer(self, job: DeliveryJob) -> str:
        requester = job.ticket.get("requester") or {}
        address = requester.get("email") or self._config.default_customer
        if not address:
            raise DeliveryError(
                f"zammad {self.name}: the requester has no email address and "
                f"destinations.{self.name}.default_customer is not set",
                permanent=True,
            )
        return str(address)

    def _article(self, job: DeliveryJob) -> dict[str, Any]:
        message = job.message
        text = message.get("text") or message.get("full_text") or ""
        article: dict[str, Any] = {
            "subject": message.get("subject") or job.ticket.get("subject") or "",
            "body": f"{text}\n\n{source_line(job)}",
            "content_type": "text/plain",
            "type": ARTICLE_TYPES.get(job.channel, "note"),
            "internal": False,
            "sender": "Customer",
            "message_id": _marker(job),
        }
        requester = message.get("requester") or job.ticket.get("requester") or {}
        if article["type"] == "email" and requester.get("email"):
            article["from"] = requester["email"]
        return article

    async def _post(self, path: str, payload: dict[str, Any]) -> Any:
        body = json.dumps(payload, ensure_ascii=False).encode()
        answer = await self._http.request("POST", self._http.url(path), body=body, headers=self._auth)
        self._http.check(answer, f"zammad {self.name} POST /{path}")
        return answer.json()

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        answer = await self._http.request("GET", self._http.url(path), headers=self._auth, params=params)
        self._http.check(answer, f"zammad {self.name} GET /{path}")
        return answer.json()

    async def _find_ticket(self, field: str, key: str) -> str | None:
        data = await self._get("api/v1/tickets/search", {"query": f'{field}:"{key}"', "limit": "1"})
        if isinstance(data, dict):  # {"tickets": [ids], "tickets_count": n, "assets": {...}}
            ids = data.get("tickets") or []
            return str(ids[0]) if ids else None
        if isinstance(data, list) and data:  # expand=true answers a list of tickets
            return _id_of(data[0])
        return None

    async def _find_article(self, ticket_id: str, marker: str) -> str | None:
        data = await self._get(f"api/v1/ticket_articles/by_ticket/{quote(ticket_id, safe='')}")
        for article in data if isinstance(data, list) else []:
            if isinstance(article, dict) and article.get("message_id") == marker:
                return _id_of(article)
        return None


def _marker(job: DeliveryJob) -> str:
    """The Message-ID-shaped mark of this delivery on the article it makes."""
    return f"<{job.key}@ticket-intake-gateway>"


def _id_of(data: Any) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("id"), int | str) and not isinstance(data.get("id"), bool):
        return str(data["id"])
    return None
