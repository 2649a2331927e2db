"""`POST /v1/route/explain`: how a sample message would be routed, and why, storing nothing.

The sample is a small, channel-neutral description of a message rather than
a channel's own payload, so one request shape can try every `when` key
(recipients, attachment types, form fields, a time for `hours`). It is turned
into the same `MessageDraft` the normalizers produce and decided by the same
`Router` the processor uses, so the answer is what intake would decide.
Nothing is written: the endpoint is for people writing and debugging rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from channels.httpkit import HttpError, parse_json_object, read_body, require_bearer
from gateway.routing import Router
from normalize.schema import Attachment, Channel, Kind, MessageDraft, Requester, Transport

MAX_BODY_BYTES = 1024 * 1024
SAMPLE_KEYS = ("channel", "transport", "subject", "text", "requester", "category", "fields", "recipients",
               "attachments", "received_at")
REQUESTER_TEXT_KEYS = ("name", "email", "phone", "telegram_username", "language")
REQUESTER_KEYS = (*REQUESTER_TEXT_KEYS, "telegram_id", "portal_user_id")
TRANSPORTS: dict[Channel, tuple[Transport, ...]] = {
    Channel.EMAIL: (Transport.SMTP, Transport.IMAP),
    Channel.TELEGRAM: (Transport.POLLING, Transport.WEBHOOK),
    Channel.PHONE: (Transport.HTTP,),
    Channel.PORTAL: (Transport.HTTP,),
}
"""The transports each channel arrives by; the first is the default of a sample that names none."""


class ExplainApi:
    def __init__(self, router: Router, token: str) -> None:
        self._router = router
        self._token = token

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/route/explain", self.explain)]

    async def explain(self, request: web.Request) -> web.Response:
        require_bearer(request, self._token)
        sample = parse_json_object(await read_body(request, MAX_BODY_BYTES))
        decision = self._router.decide(sample_draft(sample, datetime.now(UTC)))
        return web.json_response(decision.to_json())


def sample_draft(sample: Mapping[str, Any], now: datetime) -> MessageDraft:
    """The draft a sample stands for; `HttpError` 422 naming the field at fault."""
    for key in sample:
        if key not in SAMPLE_KEYS:
            raise _invalid(key, f"unknown key; expected one of {', '.join(SAMPLE_KEYS)}")
    for key in ("channel", "subject", "text", "requester"):
        if key not in sample:
            raise _invalid(key, "required")
    channel = _member(Channel, _text(sample, "channel"), "channel")
    allowed = TRANSPORTS[channel]
    transport = allowed[0]
    if sample.get("transport") is not None:
        transport = _member(Transport, _text(sample, "transport"), "transport")
        if transport not in allowed:
            names = ", ".join(t.value for t in allowed)
            raise _invalid("transport", f"{channel.value} arrives by {names}, not {transport.value}")
    category = _optional_text(sample, "category")
    return MessageDraft(
        channel=channel,
        transport=transport,
        external_id="explain",
        kind=Kind.NEW,
        requester=_requester(sample["requester"]),
        subject=_text(sample, "subject"),
        text=_text(sample, "text"),
        received_at=_moment(sample.get("received_at"), now),
        attachments=_attachments(sample.get("attachments")),
        category_hint=category,
        fields=dict(_table(sample.get("fields") or {}, "fields")),
        extras={"rcpt_tos": _recipients(sample.get("recipients"))},
    )


def _requester(value: Any) -> Requester:
    who = _table(value, "requester")
    for key in who:
        if key not in REQUESTER_KEYS:
            raise _invalid(f"requester.{key}", f"unknown key; expected one of {', '.join(REQUESTER_KEYS)}")
    texts = {key: _optional_text(who, key, f"requester.{key}") for key in REQUESTER_TEXT_KEYS}
    telegram_id = who.get("telegram_id")
    if telegram_id is not None and (isinstance(telegram_id, bool) or not isinstance(telegram_id, int)):
        raise _invalid("requester.telegram_id", "must be an integer")
    portal_user_id = who.get("portal_user_id")
    if portal_user_id is not None and (isinstance(portal_user_id, bool) or not isinstance(portal_user_id, str | int)):
        raise _invalid("requester.portal_user_id", "must be a string or an integer")
    return Requester(
        **texts,
        telegram_id=telegram_id,
        portal_user_id=str(portal_user_id) if portal_user_id is not None else None,
    )


def _attachments(value: Any) -> tuple[Attachment, ...]:
    """Only what rules read: a name and a media type (no content, so size and digest are empty)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid("attachments", "must be an array of objects")
    found = []
    for i, item in enumerate(value):
        where = f"attachments[{i}]"
        table = _table(item, where)
        for key in table:
            if key not in ("name", "content_type"):
                raise _invalid(f"{where}.{key}", "unknown key; expected name, content_type")
        if "content_type" not in table:
            raise _invalid(f"{where}.content_type", "required")
        content_type = _text(table, "content_type", f"{where}.content_type")
        if "/" not in content_type:
            raise _invalid(f"{where}.content_type", f"expected a media type such as 'application/pdf', got "
                                                    f"{content_type!r}")
        name = _optional_text(table, "name", f"{where}.name") or ""
        found.append(Attachment(name=name, content_type=content_type, size=0, sha256=""))
    return tuple(found)


def _recipients(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid("recipients", "must be an array of addresses")
    for i, item in enumerate(value):
        if not isinstance(item, str) or "@" not in item:
            raise _invalid(f"recipients[{i}]", "must be an address such as support@example.org")
    return list(value)


def _moment(value: Any, now: datetime) -> datetime:
    """The time `hours` conditions test: the sample's `received_at`, else now."""
    if value is None:
        return now
    if not isinstance(value, str):
        raise _invalid("received_at", "must be an RFC 3339 time such as 2026-03-02T10:00:00+01:00")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _invalid("received_at", f"{value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise _invalid("received_at", "needs a time zone offset, such as Z or +01:00")
    return moment


def _member(kind: type[Channel] | type[Transport], value: str, field: str) -> Any:
    try:
        return kind(value.strip().casefold())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise _invalid(field, f"unknown value {value!r}; expected one of {allowed}") from None


def _table(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(field, "must be an object")
    return value


def _text(table: Mapping[str, Any], key: str, field: str | None = None) -> str:
    value = table[key]
    if not isinstance(value, str):
        raise _invalid(field or key, "must be a string")
    return value


def _optional_text(table: Mapping[str, Any], key: str, field: str | None = None) -> str | None:
    if table.get(key) is None:
        return None
    return _text(table, key, field)


def _invalid(field: str, message: str) -> HttpError:
    return HttpError(422, "invalid", f"{field}: {message}", field=field)
