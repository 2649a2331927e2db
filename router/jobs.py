"""From claimed outbox rows to the jobs destinations work on, read set-based.

A batch of claims costs two reads (tickets, their messages) plus one for the
raw originals when a destination asks for them, however many rows it has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from router.destinations.base import DeliveryJob, Destination
from storage.outbox import Claim, Outbox
from storage.repository import MessageRow, TicketRow

Render = Callable[[TicketRow, list[MessageRow]], dict[str, Any]]
"""The ticket as the read API shows it (gateway.views.ticket_json)."""


@dataclass(frozen=True, slots=True)
class Unloadable:
    """A claimed row that cannot become a job (its ticket or message is gone)."""

    row: Claim
    reason: str


async def load_jobs(
    outbox: Outbox, rows: Sequence[Claim], destinations: Mapping[str, Destination], render: Render
) -> list[DeliveryJob | Unloadable]:
    found = await outbox.tickets_with_messages(r.ticket_id for r in rows)
    wanted = [r.message_id for r in rows if getattr(destinations.get(r.destination), "needs_original", False)]
    originals = await outbox.originals(wanted) if wanted else {}
    jobs: list[DeliveryJob | Unloadable] = []
    for row in rows:
        if row.ticket_id not in found:
            jobs.append(Unloadable(row, f"ticket {row.ticket_id} does not exist"))
            continue
        ticket, messages = found[row.ticket_id]
        upto = [m for m in messages if m.id <= row.message_id]
        if not upto or upto[-1].id != row.message_id:
            jobs.append(Unloadable(row, f"message {row.message_id} is not on ticket {row.ticket_id}"))
            continue
        data = render(ticket, upto)
        message = upto[-1]
        jobs.append(
            DeliveryJob(
                id=row.id,
                key=row.key,
                destination=row.destination,
                event=row.event,
                attempt=row.attempts,
                ticket_id=row.ticket_id,
                message_id=row.message_id,
                ticket=data,
                message=data["messages"][-1],
                channel=message.channel,
                transport=message.transport,
                downstream_id=_downstream(ticket, row.destination),
                original=originals.get(row.message_id),
            )
        )
    return jobs


def _downstream(ticket: TicketRow, destination: str) -> str | None:
    value = (ticket.external_ref or {}).get(destination)
    return str(value) if value is not None else None
