"""`POST /v1/phone/calls`: call records from telephony and CTI systems.

The signature is checked over the raw body before anything is parsed. The
stored record is that raw body, so what was signed is what is kept. The call
id is the record's external id and `webhook-id` its idempotency key: a resent
call answers with the first result and makes nothing new.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from channels.httpkit import (
    HttpError,
    accepted,
    intake_error,
    media_type,
    parse_json_object,
    read_body,
)
from channels.phone.signature import SignatureError, decode_secret, verify
from gateway.config import PhoneConfig
from normalize.raw import Intake, IntakeError, IntakeStatus, RawInbound

log = logging.getLogger("gateway.channels.phone")

DIRECTIONS = ("inbound", "outbound")
TEXT_FIELDS = {"call_id": 255, "from": 64, "to": 64, "agent": 255, "disposition": 100, "notes": 100_000}
KNOWN = set(TEXT_FIELDS) | {"direction", "started_at", "duration_s", "recording_url"}


class PhoneAdapter:
    def __init__(self, intake: Intake, config: PhoneConfig, secret: str) -> None:
        self._intake = intake
        self._config = config
        self._keys = [decode_secret(s) for s in secret.split()] if secret else []

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/phone/calls", self.call)]

    async def call(self, request: web.Request) -> web.Response:
        body = await read_body(request, self._config.max_body_bytes)
        msg_id = request.headers.get("webhook-id")
        try:
            verify(
                self._keys, msg_id, request.headers.get("webhook-timestamp"),
                request.headers.get("webhook-signature"), body, tolerance_s=self._config.tolerance_s,
            )
        except SignatureError as exc:
            raise HttpError(401, "bad_signature", str(exc)) from exc
        if media_type(request) != "application/json":
            raise HttpError(415, "unsupported_media_type", "send application/json")
        record = validate_call(parse_json_object(body))
        raw = RawInbound(
            channel="phone",
            transport="http",
            external_id=record["call_id"],
            received_at=datetime.now(UTC),
            payload=body,
            principal="phone",
            meta={"webhook_id": msg_id},
            idempotency_key=f"phone:webhook:{msg_id}",
        )
        try:
            result = await self._intake(raw)
        except IntakeError as exc:
            raise intake_error(exc) from exc
        extra = {"status": "failed", "inbound_id": result.inbound_id} if result.status == IntakeStatus.FAILED else None
        return accepted(result.ticket_id, result.message_id, replayed=result.duplicate, extra=extra)


def _invalid(field: str, message: str) -> HttpError:
    return HttpError(422, "invalid", message, field=field)


def validate_call(doc: dict[str, Any]) -> dict[str, Any]:
    for key in doc:
        if key not in KNOWN:
            raise _invalid(key, f"unknown field {key!r}")
    for key, limit in TEXT_FIELDS.items():
        value = doc.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise _invalid(key, f"{key} must be a string of at most {limit} characters")
    call_id = doc.get("call_id")
    if not isinstance(call_id, str) or not call_id.strip():
        raise _invalid("call_id", "call_id is required")
    if doc.get("direction") not in DIRECTIONS:
        raise _invalid("direction", "direction must be \"inbound\" or \"outbound\"")
    if not (doc.get("from") or doc.get("to")):
        raise _invalid("from", "from or to is required")
    started = doc.get("started_at")
    if not isinstance(started, str):
        raise _invalid("started_at", "started_at is required (RFC 3339)")
    try:
        moment = datetime.fromisoformat(started.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise _invalid("started_at", "started_at must be an RFC 3339 time") from exc
    if moment.tzinfo is None:
        raise _invalid("started_at", "started_at needs a time zone offset (RFC 3339)")
    duration = doc.get("duration_s")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int | float) or not 0 <= duration <= 7 * 86400
    ):
        raise _invalid("duration_s", "duration_s must be a number of seconds (0 to 604800)")
    return {**doc, "call_id": call_id.strip()}
