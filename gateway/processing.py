"""From stored raw records to tickets: normalize, thread, classify, write.

Normalization is pure and runs before the transaction; threading and the
ticket write run inside the caller's transaction, set-based over a batch, so
that a batch of records costs a few statements rather than a few per record.
Every threading decision is recorded on the message as data (`thread`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from normalize.errors import NormalizeError
from normalize.raw import RawInbound
from normalize.refs import format_ticket_id, parse_ticket_id
from normalize.schema import Kind, MessageDraft
from storage.repository import InboundRow, Transaction, pick_thread

log = logging.getLogger("gateway.processing")

Normalizer = Callable[[RawInbound], MessageDraft]
Classifier = Callable[[Sequence[MessageDraft], datetime], list[dict[str, Any]]]
"""Classifies the drafts that open tickets, a batch at a time (a model scores a batch for much less
than its drafts one by one): queue, category, priority, tags, decided_by, and why, for each."""
DeliveryPlanner = Callable[[int, int, MessageDraft, str, dict[str, Any], datetime], list[dict[str, Any]]]
"""(ticket id, message id, draft, event, classification, now) -> outbox rows to write."""

SUPPRESSED_KINDS = frozenset({Kind.AUTO_REPLY, Kind.BOUNCE})
MESSAGE_COLUMNS = frozenset({"channel", "transport", "external_id", "kind", "received_at", "sent_at", "subject",
                             "text"})
"""Schema keys a message row holds in columns of their own: its `body` JSON keeps only the rest (a body's
text, the biggest value, is not written twice)."""


@dataclass(frozen=True, slots=True)
class Written:
    ticket_id: int
    message_id: int
    new_ticket: bool


def default_classifier(queue: str = "general") -> Classifier:
    def classify(drafts: Sequence[MessageDraft], _now: datetime) -> list[dict[str, Any]]:
        return [
            {"queue": queue, "category": None, "priority": "normal", "tags": [], "decided_by": "default"}
            for _ in drafts
        ]

    return classify


def raw_from_row(row: InboundRow) -> RawInbound:
    return RawInbound(
        channel=row.channel,
        transport=row.transport,
        external_id=row.external_id,
        received_at=row.received_at,
        payload=row.payload,
        principal=row.principal,
        meta=row.meta,
        idempotency_key=row.idempotency_key,
        body_sha256=row.body_sha256,
    )


class Processor:
    def __init__(
        self,
        normalizers: Mapping[str, Normalizer],
        classify: Classifier,
        *,
        conversation_idle: timedelta = timedelta(hours=24),
        plan_deliveries: DeliveryPlanner | None = None,
    ) -> None:
        self._normalizers = dict(normalizers)
        self._classify = classify
        self._conversation_idle = conversation_idle
        self._plan_deliveries = plan_deliveries

    @property
    def plan_deliveries(self) -> DeliveryPlanner | None:
        """The planner, so the wiring can attach this process's dispatcher to it."""
        return self._plan_deliveries

    def normalize(self, raw: RawInbound) -> MessageDraft:
        """The draft for a record; NormalizeError when it yields nothing usable."""
        normalizer = self._normalizers.get(raw.channel)
        if normalizer is None:
            raise NormalizeError(f"no normalizer for channel {raw.channel!r}")
        try:
            return normalizer(raw)
        except NormalizeError:
            raise
        except Exception as exc:  # a normalizer bug must not lose the record
            log.exception("normalizer for %s failed on %s", raw.channel, raw.external_id)
            raise NormalizeError(f"{type(exc).__name__}: {exc}") from exc

    async def write(
        self, tx: Transaction, items: Sequence[tuple[int, MessageDraft]], now: datetime
    ) -> list[Written]:
        """Write tickets and messages for (inbound id, draft) pairs; same order out."""
        plans: list[tuple[MessageDraft, int | None, int | None, dict[str, Any] | None]] = []
        # (draft, existing ticket id, index of a ticket opened earlier in this batch, thread reason)
        by_external: dict[str, int] = {}
        by_conversation: dict[str, int] = {}
        by_requester: dict[str, list[int]] = {}  # tickets this batch opens, per requester (flood rule)
        drafts = [d for _, d in items]
        known = await _Known.read(tx, drafts, now)
        for draft in drafts:
            ticket_id, batch_index, reason = await self._thread(
                tx, draft, now, by_external, by_conversation, by_requester, known
            )
            if "flood_limit" in draft.extras:  # policy, not message data: not stored
                extras = {k: v for k, v in draft.extras.items() if k != "flood_limit"}
                if reason is not None and reason.get("by") == "flood":
                    extras["flood"] = True
                draft = replace(draft, extras=extras)
            plans.append((draft, ticket_id, batch_index, reason))
            if ticket_id is None and batch_index is None:
                index = len(plans) - 1
                by_external[draft.external_id] = index
                key = _conversation_key(draft)
                if key:
                    by_conversation[key] = index
                requester = _requester_key(draft)
                if requester:
                    by_requester.setdefault(requester, []).append(index)

        new_positions = [p for p, plan in enumerate(plans) if plan[1] is None and plan[2] is None]
        classifications = dict(
            zip(new_positions, self._classify([plans[p][0] for p in new_positions], now), strict=True)
        )
        new_rows = [_ticket_row(plans[p][0], items[p][0], classifications[p], now) for p in new_positions]
        new_ids = await tx.insert_tickets(new_rows)
        ticket_of = {p: new_ids[items[p][0]] for p in new_positions}

        message_rows: list[dict[str, Any]] = []
        touched: list[int] = []
        for position, ((inbound_id, _), (draft, ticket_id, batch_index, reason)) in enumerate(
            zip(items, plans, strict=True)
        ):
            if ticket_id is None:
                ticket_id = ticket_of[position if batch_index is None else batch_index]
                if batch_index is not None:
                    ticket_of[position] = ticket_id
            else:
                ticket_of[position] = ticket_id
                touched.append(ticket_id)
            kind = draft.kind
            if position not in classifications and kind == Kind.NEW:
                kind = Kind.REPLY
            body = {key: value for key, value in draft.to_json().items() if key not in MESSAGE_COLUMNS}
            message_rows.append(
                {
                    "ticket_id": ticket_id,
                    "inbound_id": inbound_id,
                    "channel": draft.channel.value,
                    "transport": draft.transport.value,
                    "external_id": draft.external_id,
                    "kind": kind.value,
                    "received_at": draft.received_at,
                    "sent_at": draft.sent_at,
                    "subject": draft.subject,
                    "text": draft.text,
                    "body": body,
                    "thread": reason,
                }
            )
        message_ids = await tx.insert_messages(message_rows)
        await tx.touch_tickets(touched, now)

        written = [
            Written(ticket_of[p], message_ids[items[p][0]], p in classifications) for p in range(len(items))
        ]
        if self._plan_deliveries is not None:
            # A follow-up is routed by its ticket's classification: from this
            # batch when the ticket opened in it, else read in one statement.
            earlier = {plan[1] for p, plan in enumerate(plans)
                       if p not in classifications and plan[1] is not None and plan[0].kind not in SUPPRESSED_KINDS}
            stored = await tx.ticket_classifications(sorted(earlier)) if earlier else {}
            outbox: list[dict[str, Any]] = []
            for p, w in enumerate(written):
                draft, _ticket_id, batch_index, _reason = plans[p]
                if draft.kind in SUPPRESSED_KINDS:
                    continue
                if p in classifications:
                    classification = classifications[p]
                elif batch_index is not None:
                    classification = classifications.get(batch_index, {})
                else:
                    classification = stored.get(w.ticket_id, {})
                event = "ticket.created" if w.new_ticket else "message.added"
                outbox += self._plan_deliveries(w.ticket_id, w.message_id, draft, event, classification, now)
            await tx.insert_deliveries(outbox)
        return written

    async def _thread(
        self,
        tx: Transaction,
        draft: MessageDraft,
        now: datetime,
        by_external: dict[str, int],
        by_conversation: dict[str, int],
        by_requester: dict[str, list[int]],
        known: _Known,
    ) -> tuple[int | None, int | None, dict[str, Any] | None]:
        """(ticket id, or index of a ticket opened earlier in the batch, and why) for a draft.

        What the database knows (message ids, ticket references, senders' recent tickets) was read
        for the whole batch before; only conversations are looked up here, one by one.
        """
        message_ids = [h.value for h in draft.thread_hints if h.kind == "message_id"]
        for value in message_ids:
            if value in by_external:
                return None, by_external[value], {"by": "message_id", "value": value}
        found = pick_thread(known.by_message_id, message_ids)
        if found:
            return found[0], None, {"by": "message_id", "value": found[1]}
        for hint in draft.thread_hints:
            if hint.kind == "ticket_ref":
                number = parse_ticket_id(hint.value)
                if number is not None and number in known.statuses:
                    return number, None, {"by": "ticket_ref", "value": format_ticket_id(number)}
        key = _conversation_key(draft)
        if key and not draft.extras.get("force_new"):
            if key in by_conversation:
                return None, by_conversation[key], {"by": "conversation", "value": key}
            found_id = await tx.open_conversation(key, now - self._conversation_idle)
            if found_id is not None:
                return found_id, None, {"by": "conversation", "value": key}
        return _flood_target(draft, known.recent, by_requester)


@dataclass(frozen=True, slots=True)
class _Known:
    """What the database holds about a batch's threading keys, read once for the whole batch."""

    recent: dict[tuple[str, float], tuple[int, int]]
    """(requester, flood window) -> (tickets opened in it, the newest)."""
    by_message_id: tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]
    """See `Transaction.tickets_by_message_id`."""
    statuses: dict[int, str]
    """The tickets that references in the batch name, by id."""

    @classmethod
    async def read(cls, tx: Transaction, drafts: Sequence[MessageDraft], now: datetime) -> _Known:
        hints = [h for d in drafts for h in d.thread_hints]
        numbers = [n for h in hints if h.kind == "ticket_ref" and (n := parse_ticket_id(h.value)) is not None]
        return cls(
            recent=await _recent_tickets(tx, drafts, now),
            by_message_id=await tx.tickets_by_message_id([h.value for h in hints if h.kind == "message_id"]),
            statuses=await tx.ticket_statuses(numbers),
        )


def _ticket_row(draft: MessageDraft, inbound_id: int, classification: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "status": "suppressed" if draft.kind in SUPPRESSED_KINDS else "open",
        "opened_via": draft.channel.value,
        "subject": draft.subject,
        "requester": draft.requester.to_json(),
        "requester_key": _requester_key(draft),
        "conversation_key": _conversation_key(draft),
        "classification": classification,
        "external_ref": None,
        "opened_by": inbound_id,
        "created_at": now,
        "updated_at": now,
    }


async def _recent_tickets(
    tx: Transaction, drafts: Sequence[MessageDraft], now: datetime
) -> dict[tuple[str, float], tuple[int, int]]:
    """(requester, window minutes) -> (tickets opened in the window, the newest), for flood-limited drafts.

    One statement per distinct window for the whole batch, rather than one per draft.
    """
    windows: dict[float, set[str]] = {}
    for draft in drafts:
        limit = _flood_limit(draft)
        key = _requester_key(draft) if limit is not None else None
        if limit is not None and key is not None:
            windows.setdefault(limit[1], set()).add(key)
    found: dict[tuple[str, float], tuple[int, int]] = {}
    for minutes, keys in windows.items():
        counted = await tx.recent_tickets_by(sorted(keys), now - timedelta(minutes=minutes))
        found.update({(key, minutes): value for key, value in counted.items()})
    return found


def _flood_target(
    draft: MessageDraft, recent: Mapping[tuple[str, float], tuple[int, int]], by_requester: dict[str, list[int]]
) -> tuple[int | None, int | None, dict[str, Any] | None]:
    """Loop protection: a sender who opened `messages` tickets in `minutes` joins the newest instead.

    The limit rides on the draft (`extras["flood_limit"]`, put there by the
    channel's wiring), so only drafts that carry it are counted.
    """
    limit = _flood_limit(draft)
    key = _requester_key(draft) if limit is not None else None
    if limit is None or key is None:
        return None, None, None
    most, minutes = limit
    count, newest = recent.get((key, minutes), (0, None))
    in_batch = by_requester.get(key, [])
    if count + len(in_batch) < most:
        return None, None, None
    reason = {"by": "flood", "value": key, "opened": count + len(in_batch), "limit": most, "minutes": minutes}
    if in_batch:
        return None, in_batch[-1], reason
    return newest, None, reason


def _flood_limit(draft: MessageDraft) -> tuple[int, float] | None:
    """(messages, minutes) of the draft's flood limit, or None when it has none (or a useless one)."""
    limit = draft.extras.get("flood_limit")
    if not limit:
        return None
    try:
        most, minutes = int(limit["messages"]), float(limit["minutes"])
    except (KeyError, TypeError, ValueError):
        return None
    return (most, minutes) if most > 0 else None


def _requester_key(draft: MessageDraft) -> str | None:
    return next(iter(draft.requester.identity_keys()), None)


def _conversation_key(draft: MessageDraft) -> str | None:
    return next((h.value for h in draft.thread_hints if h.kind == "conversation"), None)
