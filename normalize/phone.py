"""Call records from telephony or CTI systems to the common schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import phonenumbers

from normalize.errors import NormalizeError
from normalize.raw import RawInbound
from normalize.refs import ticket_refs
from normalize.schema import Channel, Kind, MessageDraft, Requester, ThreadHint, Transport


def to_e164(number: str | None, default_region: str) -> str | None:
    """E.164 form of a dialled or presented number, or None when it is not a valid number.

    Withheld numbers ("anonymous", empty) and garbage give None rather than an
    error: the call still happened and is still logged.
    """
    if not number or not number.strip():
        return None
    try:
        parsed = phonenumbers.parse(number, default_region.upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def make_phone_normalizer(default_region: str) -> Callable[[RawInbound], MessageDraft]:
    def normalize_phone(raw: RawInbound) -> MessageDraft:
        try:
            call = json.loads(raw.payload)
        except ValueError as exc:
            raise NormalizeError(f"call record is not JSON: {exc}") from exc
        if not isinstance(call, dict) or "call_id" not in call:
            raise NormalizeError("call record has no call_id")
        direction = call.get("direction", "inbound")
        caller = to_e164(call.get("from"), default_region)
        callee = to_e164(call.get("to"), default_region)
        customer = caller if direction == "inbound" else callee
        customer_raw = call.get("from") if direction == "inbound" else call.get("to")
        notes = str(call.get("notes") or "").strip()
        started = _parse_time(call.get("started_at"))
        heading = "Call from" if direction == "inbound" else "Call to"
        subject = f"{heading} {customer or customer_raw or 'unknown number'}"
        lines = [
            f"{direction.capitalize()} call, {call.get('duration_s', '?')} s"
            + (f", {call['disposition']}" if call.get("disposition") else "")
            + (f", agent {call['agent']}" if call.get("agent") else ""),
        ]
        if notes:
            lines += ["", notes]
        return MessageDraft(
            channel=Channel.PHONE,
            transport=Transport.HTTP,
            external_id=raw.external_id,
            kind=Kind.CALL_LOG,
            requester=Requester(phone=customer),
            subject=subject,
            text="\n".join(lines),
            received_at=raw.received_at,
            sent_at=started,
            thread_hints=tuple(ThreadHint("ticket_ref", ref) for ref in ticket_refs(notes)),
            extras={
                "call_id": str(call["call_id"]),
                "direction": direction,
                "from": caller,
                "to": callee,
                "from_raw": call.get("from"),
                "to_raw": call.get("to"),
                "agent": call.get("agent"),
                "duration_s": call.get("duration_s"),
                "disposition": call.get("disposition"),
                "webhook_id": raw.meta.get("webhook_id"),
            },
        )

    return normalize_phone


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
