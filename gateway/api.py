"""The read API: tickets and inbound records, behind the API token."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from aiohttp import web

from channels.httpkit import HttpError, require_bearer
from gateway.views import inbound_json, ticket_json, ticket_summary
from normalize.refs import parse_ticket_id
from storage.repository import Store

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
INBOUND_STATUSES = ("pending", "processed", "failed")


class ReadApi:
    def __init__(self, store: Store, token: str) -> None:
        self._store = store
        self._token = token

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/tickets", self.list_tickets),
            web.get("/v1/tickets/{ticket_id}", self.get_ticket),
            web.get("/v1/inbound", self.list_inbound),
        ]

    async def get_ticket(self, request: web.Request) -> web.Response:
        require_bearer(request, self._token)
        number = parse_ticket_id(request.match_info["ticket_id"])
        found = await self._store.get_ticket(number) if number is not None else None
        if found is None:
            raise HttpError(404, "not_found", "no such ticket", field="ticket_id")
        return web.json_response(ticket_json(*found))

    async def list_tickets(self, request: web.Request) -> web.Response:
        require_bearer(request, self._token)
        query = request.query
        limit = _limit(query.get("limit"))
        since = _since(query.get("since"))
        cursor = _decode_cursor(query.get("cursor"))
        page = await self._store.list_tickets(
            channel=query.get("channel") or None, since=since, limit=limit, cursor=cursor,
            status=query.get("status") or None,
        )
        return web.json_response({
            "tickets": [ticket_summary(t) for t in page.tickets],
            "next_cursor": _encode_cursor(page.next_cursor[0]) if page.next_cursor else None,
        })

    async def list_inbound(self, request: web.Request) -> web.Response:
        require_bearer(request, self._token)
        status = request.query.get("status", "failed")
        if status not in INBOUND_STATUSES:
            raise HttpError(400, "invalid_query", f"status must be one of {', '.join(INBOUND_STATUSES)}",
                            field="status")
        limit = _limit(request.query.get("limit"))
        after = _decode_cursor(request.query.get("cursor")) or 0
        rows = await self._store.list_inbound(status, limit + 1, after)
        more = len(rows) > limit
        rows = rows[:limit]
        return web.json_response({
            "inbound": [inbound_json(r) for r in rows],
            "next_cursor": _encode_cursor(rows[-1].id) if more else None,
        })


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError as exc:
        raise HttpError(400, "invalid_query", "limit must be an integer", field="limit") from exc
    if limit < 1:
        raise HttpError(400, "invalid_query", "limit must be at least 1", field="limit")
    return min(limit, MAX_LIMIT)


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise HttpError(400, "invalid_query", "since must be an RFC 3339 time", field="since") from exc
    if moment.tzinfo is None:
        raise HttpError(400, "invalid_query", "since needs a time zone offset", field="since")
    return moment


def _encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{value}".encode()).decode().rstrip("=")


def _decode_cursor(value: str | None) -> int | None:
    if not value:
        return None
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        version, _, number = text.partition(":")
        if version != "v1":
            raise ValueError(version)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise HttpError(400, "invalid_query", "cursor is not one this API gave out", field="cursor") from exc
