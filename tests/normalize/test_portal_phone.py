"""The portal and phone normalizers and the schema's JSON form, with data alone."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from normalize.errors import NormalizeError
from normalize.phone import make_phone_normalizer, to_e164
from normalize.portal import normalize_portal
from normalize.raw import RawInbound
from normalize.refs import parse_ticket_id, ticket_refs
from normalize.schema import Channel, Kind, Transport

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def raw(channel: str, payload: object, external_id: str = "x-1") -> RawInbound:
    return RawInbound(channel=channel, transport="http", external_id=external_id, received_at=NOW,
                      payload=json.dumps(payload).encode())


def test_portal_maps_every_field_and_keeps_the_category_as_a_hint():
    draft = normalize_portal(raw("portal", {
        "requester": {"portal_user_id": "u-1", "email": "a@example.org", "name": "Ann"},
        "subject": "Printer", "body": "Broken", "category": "hardware", "fields": {"floor": 3},
        "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "size": 3, "sha256": "ab",
                         "content_base64": "YWJj"}],
    }))
    assert (draft.channel, draft.transport, draft.kind) == (Channel.PORTAL, Transport.HTTP, Kind.NEW)
    assert draft.requester.portal_user_id == "u-1"
    assert draft.category_hint == "hardware"
    assert draft.fields == {"floor": 3}
    assert [(a.name, a.size, a.sha256) for a in draft.attachments] == [("a.pdf", 3, "ab")]


def test_portal_without_subject_takes_the_first_line_of_the_body():
    draft = normalize_portal(raw("portal", {"requester": {"email": "a@b.org"}, "body": "\n  Help me please\nmore"}))
    assert draft.subject == "Help me please"


def test_portal_record_without_requester_yields_a_normalize_error():
    with pytest.raises(NormalizeError):
        normalize_portal(raw("portal", {"body": "x"}))
    with pytest.raises(NormalizeError):
        normalize_portal(RawInbound("portal", "http", "x", NOW, b"not json"))


@pytest.mark.parametrize(("number", "region", "expected"), [
    ("06 30 123 4567", "HU", "+36301234567"),
    ("+1 (202) 555-0143", "HU", "+12025550143"),
    ("(202) 555-0143", "US", "+12025550143"),
    ("anonymous", "HU", None),
    ("", "HU", None),
    ("12", "HU", None),
])
def test_numbers_become_e164_with_the_default_region(number, region, expected):
    assert to_e164(number, region) == expected


def test_a_call_names_its_customer_by_direction_and_refs_in_notes_are_hints():
    normalize = make_phone_normalizer("HU")
    inbound = normalize(raw("phone", {"call_id": "c1", "direction": "inbound", "from": "06301234567",
                                      "to": "+3612345678", "started_at": "2026-11-20T09:15:00+01:00",
                                      "notes": "About T-12 and t-0012, also T-7"}))
    assert inbound.kind == Kind.CALL_LOG
    assert inbound.requester.phone == "+36301234567"
    assert inbound.sent_at == datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
    assert [h.value for h in inbound.thread_hints] == ["T-12", "T-7"]
    outbound = normalize(raw("phone", {"call_id": "c2", "direction": "outbound", "from": "+3612345678",
                                       "to": "06301234567", "started_at": "2026-11-20T09:15:00Z"}))
    assert outbound.requester.phone == "+36301234567"
    assert outbound.subject == "Call to +36301234567"


def test_ticket_references():
    assert ticket_refs("see [#T-5], T-5 again and xT-9 not, T-10.") == ["T-5", "T-10"]
    assert parse_ticket_id("T-42") == parse_ticket_id("t-42") == parse_ticket_id("42") == 42
    assert parse_ticket_id("T-") is None and parse_ticket_id("DROP TABLE") is None


def test_json_form_is_versioned_and_the_draft_frozen():
    draft = normalize_portal(raw("portal", {"requester": {"email": "a@b.org"}, "body": "x"}))
    data = draft.to_json()
    assert data["schema"] == 1
    assert data["received_at"] == "2026-11-22T09:00:00.000000Z"
    assert set(data) >= {"channel", "transport", "external_id", "kind", "requester", "subject", "text",
                         "attachments", "received_at", "sent_at", "extras"}
    json.dumps(data)  # serializable as is
    with pytest.raises(dataclasses.FrozenInstanceError):
        draft.subject = "changed"  # type: ignore[misc]
