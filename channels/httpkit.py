"""What every HTTP-facing adapter needs: JSON errors, auth and bounded body reads."""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from normalize.raw import IntakeError, OverloadedError, ShuttingDownError, StorageUnavailableError

JSON_TYPES = ("application/json",)


class HttpError(Exception):
    """Answer the request with this status and JSON error body."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.field, self.headers)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer serialized with orjson (the stdlib encoder is a hot spot under load)."""
    return web.Response(body=orjson.dumps(data), status=status, headers=headers, content_type="application/json")


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return json_response({"error": error}, status=status, headers=headers)


def require_bearer(request: web.Request, expected: str) -> None:
    """401 unless the request carries `Authorization: Bearer <expected>` (constant time)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not expected:
        raise HttpError(401, "unauthorized", "this endpoint has no token configured on the gateway",
                        headers={"WWW-Authenticate": "Bearer"})
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise HttpError(401, "unauthorized", "missing or wrong bearer token",
                        headers={"WWW-Authenticate": "Bearer"})


def media_type(request: web.Request) -> str:
    return request.content_type.lower()


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (never buffered past it)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> HttpError:
    return HttpError(413, "payload_too_large", f"the body is larger than the limit of {limit} bytes")


def unreadable_reason(exc: Exception, limit: int = 200) -> str:
    """Why a body or request could not be read, on one bounded line: aiohttp's parser errors span
    several lines and quote the offending bytes."""
    reason = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
    return " ".join(str(reason).split())[:limit]


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except (orjson.JSONDecodeError, RecursionError) as exc:
        raise HttpError(400, "malformed_json", f"the body is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(data, dict):
        raise HttpError(422, "invalid", "the body must be a JSON object", field="")
    return data


def intake_error(exc: IntakeError) -> HttpError:
    """Map intake's refusals to HTTP: all of them mean "try again later"."""
    if isinstance(exc, OverloadedError):
        return HttpError(503, "overloaded", "too many requests in flight; retry later",
                         headers={"Retry-After": str(max(1, round(exc.retry_after)))})
    if isinstance(exc, ShuttingDownError):
        return HttpError(503, "shutting_down", "the gateway is restarting; retry later",
                         headers={"Retry-After": "5"})
    if isinstance(exc, StorageUnavailableError):
        return HttpError(503, "storage_unavailable", "the record could not be stored; retry later",
                         headers={"Retry-After": "5"})
    return HttpError(503, "unavailable", "intake failed; retry later", headers={"Retry-After": "5"})


def accepted(result_ticket: str | None, result_message: str | None, *, replayed: bool,
             extra: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ticket_id": result_ticket, "message_id": result_message}
    if extra:
        body.update(extra)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return json_response(body, status=202, headers=headers)


@web.middleware
async def http_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn HttpError into its JSON answer, and aiohttp's own errors into JSON too."""
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except HttpError as exc:
        return exc.response()
    except HttpProcessingError as exc:  # a body aiohttp's parsers refused while a handler read it
        return error_response(400, "malformed_request", f"the request cannot be read: {unreadable_reason(exc)}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status, "error")
        return error_response(exc.status, code, exc.reason, headers={
            k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")
        })
