"""`gateway deliveries list|retry`: look at the outbox and re-drive what died.

`list` prints one JSON object per line (newest last), so it pipes into `jq`;
`retry` makes dead deliveries due again with a fresh attempt budget. A
running gateway on the same database picks them up at its next poll.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from gateway.commands import CommandRunner
from gateway.config import Config, Secrets
from normalize.refs import format_ticket_id
from normalize.schema import iso
from storage.outbox import DeliveryRow, Outbox

STATUSES = ("pending", "sending", "delivered", "dead", "skipped")


def register(sub: argparse._SubParsersAction) -> dict[str, CommandRunner]:  # type: ignore[type-arg]
    """Add the sub-commands to the parser; return their runners by command name."""
    parser = sub.add_parser("deliveries", help="show and re-drive outbox deliveries")
    actions = parser.add_subparsers(dest="deliveries_action", required=True)
    listing = actions.add_parser("list", help="deliveries, oldest first, one JSON object per line")
    listing.add_argument("--status", choices=STATUSES, help="only deliveries in this state (e.g. dead)")
    listing.add_argument("--destination", help="only deliveries to this destination")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.add_argument("--after", type=int, default=0, help="only ids above this (to page)")
    retry = actions.add_parser("retry", help="make dead deliveries due again")
    retry.add_argument("ids", nargs="*", type=int, help="delivery ids")
    retry.add_argument("--all-dead", action="store_true", help="every dead delivery")
    for action in (listing, retry):
        action.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return {"deliveries": run}


async def run(args: argparse.Namespace, config: Config, _secrets: Secrets) -> int:
    from gateway.app import build_store, prepare_storage

    store = build_store(config)
    try:
        await prepare_storage(config, store)
        outbox = Outbox(store)
        if args.deliveries_action == "list":
            return await _list(outbox, args)
        return await _retry(outbox, args)
    finally:
        await store.close()


async def _list(outbox: Outbox, args: argparse.Namespace) -> int:
    rows = await outbox.list(status=args.status, destination=args.destination, limit=max(1, args.limit),
                             after_id=args.after)
    for row in rows:
        print(json.dumps(delivery_json(row), ensure_ascii=False))
    return 0


async def _retry(outbox: Outbox, args: argparse.Namespace) -> int:
    if not args.ids and not args.all_dead:
        print("gateway deliveries retry: give delivery ids or --all-dead")
        return 2
    now = datetime.now(UTC)
    count = await outbox.retry(now, all_dead=True) if args.all_dead else 0
    if args.ids:
        count += await outbox.retry(now, ids=args.ids)
    print(json.dumps({"retried": count}))
    return 0


def delivery_json(row: DeliveryRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "ticket_id": format_ticket_id(row.ticket_id),
        "message_id": f"M-{row.message_id}",
        "destination": row.destination,
        "event": row.event,
        "status": row.status,
        "attempts": row.attempts,
        "due_at": iso(row.due_at),
        "last_error": row.last_error,
        "remote_id": row.remote_id,
        "created_at": iso(row.created_at),
        "delivered_at": iso(row.delivered_at) if row.delivered_at else None,
    }
