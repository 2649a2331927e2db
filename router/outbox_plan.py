"""Which deliveries a written message needs: one per routed destination, and its acknowledgement.

Called by the processor inside the transaction that writes the ticket, so
the deliveries commit (or roll back) with it: a routed ticket is never
without its outbox rows, and no row points at a ticket that was not written.

When this process runs a dispatcher with room to spare, the rows of a new
ticket are written already claimed by it (as its claim statement would
leave them, lease and all) and handed to it after the commit, so the first
send does not wait for a claim to get the database's write lock. Follow-ups
are always written pending: only the claim statement knows whether they
must wait for an earlier delivery of their ticket. If the process dies,
the lease runs out and any dispatcher takes the rows, as with any claim.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any, Protocol

from normalize.schema import Channel, Kind, MessageDraft
from router.ack_mailer import ACK_DESTINATION, ACK_EVENT
from router.routes import Routes


class Claimer(Protocol):
    """This process's dispatcher, as the planner sees it."""

    worker: str

    @property
    def lease_s(self) -> float: ...
    @property
    def destinations(self) -> Collection[str]: ...

    def can_take(self, count: int) -> bool: ...


class _KeySource:
    """Delivery keys: 96 random bits drawn once per process, then a counter.

    As unique as a fresh uuid4 per row across processes and restarts, without
    a system call for random bytes per row; a forked child draws its own bits.
    """

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._prefix = "dlv_" + secrets.token_hex(12)
        self._counter = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):08x}"


new_key = _KeySource()
"""A delivery key: unique, and the `webhook-id` every attempt of the delivery sends."""


class OutboxPlanner:
    def __init__(self, routes: Routes, *, acks: bool, key: Callable[[], str] = new_key) -> None:
        self._routes = routes
        self._acks = acks
        self._key = key
        self._claimer: Claimer | None = None

    def attach(self, claimer: Claimer) -> None:
        """Write new tickets' deliveries claimed by `claimer` while it has room."""
        self._claimer = claimer

    def __call__(
        self,
        ticket_id: int,
        message_id: int,
        draft: MessageDraft,
        event: str,
        classification: dict[str, Any],
        now: datetime,
    ) -> list[dict[str, Any]]:
        rows = [
            self._row(ticket_id, message_id, destination, event, now)
            for destination in self._routes.destinations_for(classification.get("queue"))
        ]
        if self._acks and self.wants_ack(draft, event):
            rows.append(self._row(ticket_id, message_id, ACK_DESTINATION, ACK_EVENT, now))
        claimer = self._claimer
        if (rows and event == "ticket.created" and claimer is not None
                and all(r["destination"] in claimer.destinations for r in rows) and claimer.can_take(len(rows))):
            lease = now + timedelta(seconds=claimer.lease_s)
            for row in rows:
                row.update(status="sending", attempts=1, claimed_by=claimer.worker, claimed_until=lease, due_at=lease)
        return rows

    @staticmethod
    def wants_ack(draft: MessageDraft, event: str) -> bool:
        """New email tickets from an address; the mailer checks the headers before sending."""
        return (
            event == "ticket.created"
            and draft.channel is Channel.EMAIL
            and draft.kind is Kind.NEW
            and bool(draft.requester.email)
        )

    def _row(self, ticket_id: int, message_id: int, destination: str, event: str, now: datetime) -> dict[str, Any]:
        """A pending row; the columns it leaves out (claim, error, remote id, delivery time) are stored NULL."""
        return {
            "key": self._key(),
            "ticket_id": ticket_id,
            "message_id": message_id,
            "destination": destination,
            "event": event,
            "status": "pending",
            "attempts": 0,
            "due_at": now,
            "created_at": now,
        }
