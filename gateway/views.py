"""The JSON form of tickets and messages, as the API and destinations see them."""

from __future__ import annotations

from typing import Any

from normalize.refs import format_ticket_id
from normalize.schema import iso
from storage.repository import InboundRow, MessageRow, TicketRow


def ticket_summary(ticket: TicketRow) -> dict[str, Any]:
    return {
        "id": format_ticket_id(ticket.id),
        "status": ticket.status,
        "opened_via": ticket.opened_via,
        "subject": ticket.subject,
        "requester": ticket.requester,
        "classification": ticket.classification,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
    }


def ticket_json(ticket: TicketRow, messages: list[MessageRow]) -> dict[str, Any]:
    data = ticket_summary(ticket)
    data["external_ref"] = ticket.external_ref or {}
    data["messages"] = [message_json(m) for m in messages]
    return data


def message_json(message: MessageRow) -> dict[str, Any]:
    body = message.body
    return {
        "id": f"M-{message.id}",
        "channel": message.channel,
        "transport": message.transport,
        "external_id": message.external_id,
        "kind": message.kind,
        "received_at": iso(message.received_at),
        "sent_at": iso(message.sent_at) if message.sent_at else None,
        "subject": message.subject,
        "text": message.text,
        "full_text": body.get("full_text"),
        "html": body.get("html"),
        "requester": body.get("requester"),
        "attachments": body.get("attachments", []),
        "category_hint": body.get("category_hint"),
        "fields": body.get("fields", {}),
        "extras": body.get("extras", {}),
        "defects": body.get("defects", []),
        "thread": message.thread,
        "schema": body.get("schema", 1),
    }


def inbound_json(row: InboundRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel": row.channel,
        "transport": row.transport,
        "external_id": row.external_id,
        "received_at": iso(row.received_at),
        "status": row.status,
        "error": row.error,
        "attempts": row.attempts,
        "ticket_id": format_ticket_id(row.ticket_id) if row.ticket_id else None,
        "message_id": f"M-{row.message_id}" if row.message_id else None,
    }
