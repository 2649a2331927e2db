"""`POST /v1/portal/submissions`: the self-service portal's front door.

The adapter checks the transport (token, rate, type, size, schema), turns
JSON or multipart into one canonical JSON record, and answers 202 only after
intake has committed it. An `Idempotency-Key` is scoped to the token: a retry
gets the first answer, another body under the same key 422, and a retry that
races the first 409.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from channels.httpkit import (
    HttpError,
    accepted,
    intake_error,
    media_type,
    parse_json_object,
    read_body,
    require_bearer,
    unreadable_reason,
)
from channels.portal.validate import validate_submission
from gateway.config import PortalConfig
from normalize.raw import Intake, IntakeError, IntakeStatus, RawInbound

MAX_KEY_CHARS = 255
MULTIPART = "multipart/form-data"


class RateLimiter:
    """A token bucket per principal: `per_minute` requests, bursts up to the same."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(per_minute)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def retry_after(self, principal: str) -> float:
        """0 when the request may go ahead (and is counted), else seconds to wait."""
        now = self._clock()
        tokens, last = self._buckets.get(principal, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._rate)
        if tokens >= 1.0:
            self._buckets[principal] = (tokens - 1.0, now)
            return 0.0
        self._buckets[principal] = (tokens, now)
        return (1.0 - tokens) / self._rate


class PortalAdapter:
    def __init__(self, intake: Intake, config: PortalConfig, token: str) -> None:
        self._intake = intake
        self._config = config
        self._token = token
        self._scope = "portal:" + hashlib.sha256(token.encode()).hexdigest()[:16]
        self._limiter = RateLimiter(config.rate_limit_per_minute) if config.rate_limit_per_minute else None
        self._running_keys: set[str] = set()
        self._id_prefix = uuid.uuid4().hex
        self._counter = itertools.count(1)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/portal/submissions", self.submit)]

    def _new_id(self) -> str:
        """A unique id for a submission without a key: random per process, counted within it."""
        return f"portal:{self._id_prefix}-{next(self._counter)}"

    async def submit(self, request: web.Request) -> web.Response:
        require_bearer(request, self._token)
        if self._limiter is not None:
            wait = self._limiter.retry_after(self._scope)
            if wait > 0:
                raise HttpError(429, "rate_limited", "too many submissions; slow down",
                                headers={"Retry-After": str(max(1, int(wait + 0.999)))})
        key = _idempotency_key(request)
        kind = media_type(request)
        if kind in ("application/json",):
            doc = parse_json_object(await read_body(request, self._config.max_body_bytes))
        elif kind == MULTIPART:
            doc = await self._read_multipart(request)
        else:
            raise HttpError(415, "unsupported_media_type",
                            "send application/json or multipart/form-data")
        submission = validate_submission(doc, self._config)
        canonical = orjson.dumps(submission, option=orjson.OPT_SORT_KEYS)
        fingerprint = hashlib.sha256(canonical).hexdigest()
        external_id = f"{self._scope}:{key}" if key else self._new_id()
        if key and external_id in self._running_keys:
            raise HttpError(409, "idempotency_key_in_use",
                            "a request with this Idempotency-Key is still being processed")
        raw = RawInbound(
            channel="portal",
            transport="http",
            external_id=external_id,
            received_at=datetime.now(UTC),
            payload=canonical,
            principal=self._scope,
            meta={"idempotency_key": key} if key else {},
            body_sha256=fingerprint,
        )
        if key:
            self._running_keys.add(external_id)
        try:
            result = await self._intake(raw)
        except IntakeError as exc:
            raise intake_error(exc) from exc
        finally:
            self._running_keys.discard(external_id)
        if result.duplicate:
            if result.body_sha256 != fingerprint:
                raise HttpError(422, "idempotency_key_reused",
                                "this Idempotency-Key was used with a different body", field="Idempotency-Key")
            if result.status == IntakeStatus.PENDING:
                raise HttpError(409, "idempotency_key_in_use",
                                "a request with this Idempotency-Key is still being processed")
        extra = {"status": "failed", "inbound_id": result.inbound_id} if result.status == IntakeStatus.FAILED else None
        return accepted(result.ticket_id, result.message_id, replayed=result.duplicate, extra=extra)

    async def _read_multipart(self, request: web.Request) -> dict[str, Any]:
        """Form fields and files to the JSON shape, with every size counted while reading."""
        declared = request.content_length
        limit = self._config.max_body_bytes
        if declared is not None and declared > limit:
            raise HttpError(413, "payload_too_large", f"the body is larger than the limit of {limit} bytes")
        try:
            reader = await request.multipart()
        except (ValueError, AssertionError) as exc:
            raise HttpError(400, "malformed_multipart", f"the multipart body cannot be read: {exc}") from exc
        doc: dict[str, Any] = {}
        flat: dict[str, str] = {}
        files: list[dict[str, Any]] = []
        budget = limit
        parts = 0
        while True:
            try:
                part = await reader.next()
            except (ValueError, HttpProcessingError) as exc:  # a part's headers that HTTP does not allow
                raise HttpError(400, "malformed_multipart",
                                f"the multipart body cannot be read: {unreadable_reason(exc)}") from exc
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise HttpError(400, "malformed_multipart", "nested multipart bodies are not accepted")
            parts += 1
            if parts > self._config.max_attachments + 50:
                raise HttpError(413, "too_many_parts", "the multipart body has too many parts")
            data = await _read_part(part, budget, limit)
            budget -= len(data)
            if part.filename is not None:
                files.append({
                    "filename": part.filename,
                    "content_type": part.headers.get("Content-Type", "application/octet-stream"),
                    "content_base64": base64.b64encode(data).decode(),
                })
            elif part.name == "submission":
                doc = parse_json_object(data)
            elif part.name:
                flat[part.name] = data.decode("utf-8", errors="replace")
        if not doc:
            doc = _unflatten(flat)
        doc["attachments"] = list(doc.get("attachments") or []) + files
        return doc


async def _read_part(part: BodyPartReader, budget: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > budget:
            raise HttpError(413, "payload_too_large", f"the body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    encoding = part.headers.get("Content-Transfer-Encoding", "").lower()
    if encoding == "base64":
        try:
            data = base64.b64decode(data, validate=False)
        except binascii.Error as exc:
            raise HttpError(400, "malformed_multipart", "a base64 part cannot be decoded") from exc
    return data


def _unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """`requester.email` and `fields.x` form names to the nested JSON shape."""
    doc: dict[str, Any] = {}
    for name, value in flat.items():
        head, dot, rest = name.partition(".")
        if dot and head in ("requester", "fields"):
            doc.setdefault(head, {})[rest] = value
        else:
            doc[name] = value
    return doc


def _idempotency_key(request: web.Request) -> str | None:
    values = request.headers.getall("Idempotency-Key", [])
    if not values:
        return None
    if len(values) > 1:
        raise HttpError(400, "invalid_idempotency_key", "send one Idempotency-Key header", field="Idempotency-Key")
    key = values[0].strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]  # the draft's sf-string form
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise HttpError(400, "invalid_idempotency_key",
                        f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable characters",
                        field="Idempotency-Key")
    return key
