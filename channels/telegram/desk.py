"""What the adapter needs from the rest of the gateway, as plain callables.

Adapters never touch storage: the gateway's wiring builds a `Desk` on its
store and hands it in. Every callable raises `StorageUnavailableError` (from
normalize.raw) when the database cannot answer, so the adapter treats it like
a refused intake: retry later, acknowledge nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ChatTicket:
    """The ticket a chat's /status reports."""

    ref: str  # "T-12"
    status: str  # open, closed, ...
    subject: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Desk:
    load_checkpoint: Callable[[str], Awaitable[dict[str, Any] | None]]
    save_checkpoint: Callable[[str, dict[str, Any]], Awaitable[None]]
    link_identity: Callable[[str, str], Awaitable[None]]
    """(telegram key, phone key): the Telegram user is the owner of that phone number."""
    chat_ticket: Callable[[str], Awaitable[ChatTicket | None]]
    """The conversation key's open ticket, else its newest one."""
    needs_ack: Callable[[str, str, str], Awaitable[bool]]
    """(ticket ref, message ref, recipient): the message opened the ticket and no acknowledgement to the
    recipient was recorded."""
    record_ack: Callable[[str, str, str], Awaitable[None]]
    """(ticket ref, sent message's external id, recipient): the acknowledgement went out."""
