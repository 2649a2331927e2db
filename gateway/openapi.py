"""The OpenAPI 3.1 description served at `/v1/openapi.json`.

Written by hand next to the routes; a test compares it with the routes the
application actually serves, so it cannot drift.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed request", 401: "Not authenticated", 404: "Not found", 409: "Conflict",
        413: "Body too large", 415: "Unsupported content type", 422: "Invalid body", 429: "Rate limited",
        503: "Overloaded or unavailable; retry after Retry-After",
    }
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": _ref("Error")}}}
            for c in codes}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def build_openapi() -> dict[str, Any]:
    string = {"type": "string"}
    nullable_string = {"type": ["string", "null"]}
    accepted = _json(_ref("Accepted"), "Stored and written to a ticket")
    schemas: dict[str, Any] = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": string, "message": string, "field": string}}}},
        "Accepted": {"type": "object", "required": ["ticket_id", "message_id"],
                     "properties": {"ticket_id": nullable_string, "message_id": nullable_string,
                                    "status": string, "inbound_id": {"type": "integer"}}},
        "Submission": {"type": "object", "required": ["requester", "body"], "additionalProperties": False,
                       "properties": {
                           "requester": {"type": "object", "additionalProperties": False, "properties": {
                               "portal_user_id": {"type": ["string", "integer"]},
                               "email": {"type": "string", "format": "email", "maxLength": 254},
                               "name": string, "language": string}},
                           "subject": string, "body": {"type": "string", "minLength": 1}, "category": string,
                           "fields": {"type": ["object", "null"]},
                           "attachments": {"type": ["array", "null"], "items": {
                               "type": "object", "required": ["filename", "content_base64"],
                               "properties": {"filename": string, "content_type": string,
                                              "content_base64": string}}}}},
        "CallRecord": {"type": "object", "required": ["call_id", "direction", "started_at"],
                       "properties": {
                           "call_id": string, "direction": {"enum": ["inbound", "outbound"]},
                           "from": string, "to": string, "agent": string,
                           "started_at": {"type": "string", "format": "date-time"},
                           "duration_s": {"type": "number"}, "disposition": string, "notes": string,
                           "recording_url": string}},
        "Classification": {"type": "object", "properties": {
            "queue": nullable_string, "category": nullable_string, "priority": nullable_string,
            "tags": {"type": "array", "items": string}, "decided_by": string}},
        "Message": {"type": "object", "properties": {
            "id": string, "channel": {"enum": ["email", "telegram", "phone", "portal"]},
            "transport": {"enum": ["smtp", "imap", "polling", "webhook", "http"]},
            "external_id": string, "received_at": {"type": "string", "format": "date-time"},
            "kind": {"enum": ["new", "reply", "edit", "call_log", "auto_reply", "bounce"]},
            "subject": string, "text": string, "attachments": {"type": "array"}, "thread": {}}},
        "TicketSummary": {"type": "object", "properties": {
            "id": string, "opened_via": string, "status": {"enum": ["open", "closed", "suppressed"]},
            "subject": string, "requester": {"type": "object"}, "classification": _ref("Classification"),
            "created_at": {"type": "string", "format": "date-time"}}},
        "Ticket": {"allOf": [_ref("TicketSummary"), {"type": "object", "properties": {
            "messages": {"type": "array", "items": _ref("Message")}}}]},
    }
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    limit = {"type": "integer", "default": 50, "minimum": 1, "description": "values above 200 are taken as 200"}
    paths: dict[str, Any] = {
        "/v1/portal/submissions": {"post": {
            "summary": "Submit a portal request", "security": bearer,
            "parameters": [{"name": "Idempotency-Key", "in": "header",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255}}],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("Submission")},
                "multipart/form-data": {"schema": {"type": "object"}}}},
            "responses": {"202": accepted, **_errors(400, 401, 409, 413, 415, 422, 429, 503)}}},
        "/v1/phone/calls": {"post": {
            "summary": "Log a call (Standard Webhooks signature)",
            "parameters": [{"name": h, "in": "header", "required": True, "schema": string}
                           for h in ("webhook-id", "webhook-timestamp", "webhook-signature")],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CallRecord")}}},
            "responses": {"202": accepted, **_errors(400, 401, 413, 415, 422, 503)}}},
        "/v1/telegram/webhook": {"post": {
            "summary": "Telegram Bot API webhook (X-Telegram-Bot-Api-Secret-Token)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "Stored"}, **_errors(401, 413, 503),
                          "404": {"description": "Telegram is not configured in webhook mode"}}}},
        "/v1/tickets": {"get": {
            "summary": "List tickets, newest first", "security": bearer,
            "parameters": [
                {"name": "channel", "in": "query", "schema": string},
                {"name": "status", "in": "query", "schema": string},
                {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                {"name": "limit", "in": "query", "schema": limit},
                {"name": "cursor", "in": "query", "schema": string}],
            "responses": {"200": _json({"type": "object", "properties": {
                "tickets": {"type": "array", "items": _ref("TicketSummary")}, "next_cursor": nullable_string}}),
                **_errors(400, 401)}}},
        "/v1/tickets/{ticket_id}": {"get": {
            "summary": "One ticket with its messages", "security": bearer,
            "parameters": [{"name": "ticket_id", "in": "path", "required": True, "schema": string}],
            "responses": {"200": _json(_ref("Ticket")), **_errors(401, 404)}}},
        "/v1/inbound": {"get": {
            "summary": "Stored raw records by status (failed ones are replayable)", "security": bearer,
            "parameters": [{"name": "status", "in": "query",
                            "schema": {"enum": ["pending", "processed", "failed"], "default": "failed"}},
                           {"name": "limit", "in": "query", "schema": limit},
                           {"name": "cursor", "in": "query", "schema": string}],
            "responses": {"200": _json({"type": "object"}), **_errors(400, 401)}}},
        "/v1/route/explain": {"post": {
            "summary": "How a sample message would be routed, and why (stores nothing)", "security": bearer,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["channel", "subject", "text", "requester"]}}}},
            "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 422)}}},
        "/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": _json({"type": "object"})}}},
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json({"type": "object"})}}},
        "/readyz": {"get": {"summary": "Readiness: database, backlog, channels",
                            "responses": {"200": _json({"type": "object"}), "503": _json({"type": "object"})}}},
        "/metrics": {"get": {"summary": "Prometheus metrics",
                             "responses": {"200": {"description": "text/plain; version=0.0.4"}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Ticket intake gateway", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def routes() -> list[web.RouteDef]:
    document = build_openapi()

    async def serve(_request: web.Request) -> web.Response:
        return web.json_response(document)

    return [web.get("/v1/openapi.json", serve)]
