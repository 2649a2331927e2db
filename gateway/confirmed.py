"""Labelled examples from the gateway's own history: tickets whose category a helpdesk confirmed.

A router decision is not a label: training on the router's own guesses
would only teach the model to repeat them. A ticket counts as confirmed when
its stored `classification` says a person (or a helpdesk sync acting for
one) checked it:

- `"confirmed_category": "<queue>/<category>"`, or a bare `"<category>"`
  read with the ticket's `queue`: the category the helpdesk settled on, which
  may differ from what the router chose; or
- `"confirmed": true`: the stored `queue` and `category` are right as they are.

`confirmed_category` wins when both are present. Suppressed tickets
(auto-replies, bounces) are never examples. The example's text is the
message that opened the ticket, as the router saw it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from router.examples import LabelledExample
from storage.repository import MessageRow, Store, TicketRow

PAGE = 200


def confirmed_label(classification: Mapping[str, Any]) -> str | None:
    """The training label of a ticket's classification, or None when nobody confirmed it."""
    queue = _text(classification.get("queue"))
    category = _text(classification.get("confirmed_category"))
    if category is not None:
        if "/" in category:
            return category
        return f"{queue}/{category}" if queue else None
    if classification.get("confirmed") is True and queue:
        stored = _text(classification.get("category"))
        return f"{queue}/{stored}" if stored else queue
    return None


def ticket_example(ticket: TicketRow, first: MessageRow) -> LabelledExample | None:
    label = confirmed_label(ticket.classification)
    if label is None:
        return None
    hint = first.body.get("category_hint") if isinstance(first.body, dict) else None
    return LabelledExample(
        text=first.text,
        label=label,
        subject=first.subject,
        channel=first.channel,
        portal_category=hint if isinstance(hint, str) and hint.strip() else None,
    )


async def confirmed_examples(store: Store) -> list[LabelledExample]:
    """Every confirmed ticket as an example, oldest first (a CLI read: one query per confirmed ticket)."""
    examples = []
    async for ticket in _all_tickets(store):
        if ticket.status == "suppressed" or confirmed_label(ticket.classification) is None:
            continue
        found = await store.get_ticket(ticket.id)
        if found is None or not found[1]:
            continue
        example = ticket_example(ticket, found[1][0])
        if example is not None and (example.text.strip() or example.subject.strip()):
            examples.append(example)
    examples.reverse()
    return examples


async def _all_tickets(store: Store) -> AsyncIterator[TicketRow]:
    cursor: int | None = None
    while True:
        page = await store.list_tickets(channel=None, since=None, limit=PAGE, cursor=cursor)
        for ticket in page.tickets:
            yield ticket
        if page.next_cursor is None:
            return
        cursor = page.next_cursor[0]


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
