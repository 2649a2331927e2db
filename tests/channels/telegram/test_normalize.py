"""The Telegram normalizer on stored records alone: no gateway, no network."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from normalize.errors import NormalizeError
from normalize.raw import RawInbound
from normalize.schema import Kind, ThreadHint
from normalize.telegram import command_of, file_refs, normalize_telegram, plain_text

BOT = 7123456789
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
USER = {"id": 4242, "is_bot": False, "first_name": "Jürgen", "last_name": "Kovács", "username": "jurgen",
        "language_code": "hu"}
CHAT = {"id": 4242, "type": "private", "first_name": "Jürgen"}


def record(update: dict[str, Any], **meta: Any) -> RawInbound:
    return RawInbound(channel="telegram", transport="polling", external_id=f"update:{BOT}:{update['update_id']}",
                      received_at=NOW, payload=json.dumps(update).encode(), meta={"bot_id": BOT, **meta})


def message(**fields: Any) -> dict[str, Any]:
    return {"update_id": 10, "message": {"message_id": 7, "date": 1_790_000_000, "chat": CHAT, "from": USER,
                                         **fields}}


def test_text_message_becomes_a_new_message_of_the_chat_conversation():
    draft = normalize_telegram(record(message(text="The printer on floor 3 is on fire\nplease help")))
    assert draft.kind == Kind.NEW
    assert draft.text == "The printer on floor 3 is on fire\nplease help"
    assert draft.subject == "The printer on floor 3 is on fire"
    assert draft.external_id == f"telegram:{BOT}:4242:7"
    assert draft.thread_hints == (ThreadHint("conversation", f"telegram:{BOT}:4242"),)
    assert draft.requester.telegram_id == 4242
    assert draft.requester.telegram_username == "jurgen"
    assert draft.requester.name == "Jürgen Kovács"
    assert draft.requester.language == "hu"
    assert draft.sent_at == datetime.fromtimestamp(1_790_000_000, UTC)
    assert draft.transport.value == "polling"


def test_hidden_link_targets_are_kept_in_plain_text_with_utf16_offsets():
    text = "🔥 see this page now"  # the emoji is two UTF-16 code units
    entities = [{"type": "bold", "offset": 0, "length": 2},
                {"type": "text_link", "offset": 7, "length": 9, "url": "https://example.org/x"}]
    assert plain_text(text, entities) == "🔥 see this page (https://example.org/x) now"
    draft = normalize_telegram(record(message(text=text, entities=entities)))
    assert "(https://example.org/x)" in draft.text


def test_commands_are_recognised_with_and_without_the_bot_name():
    assert command_of("/new@desk_test_bot  My laptop", [{"type": "bot_command", "offset": 0, "length": 18}]) \
        .name == "new"
    found = command_of("/new My laptop", [{"type": "bot_command", "offset": 0, "length": 4}])
    assert found is not None and (found.name, found.rest) == ("new", "My laptop")
    assert command_of("see /new", [{"type": "bot_command", "offset": 4, "length": 4}]) is None


def test_new_command_with_text_forces_a_new_ticket_and_drops_the_command():
    draft = normalize_telegram(record(message(text="/new VPN is down",
                                              entities=[{"type": "bot_command", "offset": 0, "length": 4}])))
    assert draft.text == "VPN is down"
    assert draft.extras["force_new"] is True


def test_pending_new_request_in_meta_forces_a_new_ticket():
    draft = normalize_telegram(record(message(text="Another thing"), force_new=True))
    assert draft.extras["force_new"] is True


def test_edit_points_at_the_original_message_and_is_never_new():
    update = {"update_id": 11, "edited_message": {"message_id": 7, "date": 1_790_000_000,
                                                  "edit_date": 1_790_000_100, "chat": CHAT, "from": USER,
                                                  "text": "The printer is fine now"}}
    draft = normalize_telegram(record(update))
    assert draft.kind == Kind.EDIT
    assert draft.thread_hints[0] == ThreadHint("message_id", f"telegram:{BOT}:4242:7")
    assert draft.external_id == f"telegram:{BOT}:4242:7:edit:1790000100"
    assert draft.sent_at == datetime.fromtimestamp(1_790_000_100, UTC)


def test_a_reply_threads_to_the_message_it_answers():
    draft = normalize_telegram(record(message(text="about this", reply_to_message={
        "message_id": 900001, "date": 1, "chat": CHAT, "text": "Your ticket is T-4"})))
    assert draft.thread_hints[0] == ThreadHint("message_id", f"telegram:{BOT}:4242:900001")


def test_largest_photo_size_is_the_one_kept():
    photo = [{"file_id": "small", "file_unique_id": "s", "width": 90, "height": 60, "file_size": 900},
             {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 853, "file_size": 90_000},
             {"file_id": "mid", "file_unique_id": "m", "width": 320, "height": 213, "file_size": 9_000}]
    [ref] = file_refs({"message_id": 3, "photo": photo})
    assert (ref.file_id, ref.kind, ref.content_type, ref.name) == ("big", "photo", "image/jpeg", "photo_3.jpg")


def test_media_attachments_come_from_the_fetch_results_in_meta():
    doc = {"file_id": "d1", "file_unique_id": "du1", "file_name": "../../etc/report.pdf",
           "mime_type": "application/pdf", "file_size": 1234}
    files = [{"file_unique_id": "du1", "name": "report.pdf", "content_type": "application/pdf", "size": 1234,
              "sha256": "ab" * 32, "note": None}]
    draft = normalize_telegram(record(message(document=doc), files=files))
    [attachment] = draft.attachments
    assert (attachment.name, attachment.size, attachment.sha256) == ("report.pdf", 1234, "ab" * 32)
    assert draft.subject == "report.pdf"
    assert draft.text == ""


def test_over_limit_file_is_listed_with_its_note_and_a_defect():
    video = {"file_id": "v", "file_unique_id": "vu", "file_size": 50_000_000, "mime_type": "video/mp4"}
    files = [{"file_unique_id": "vu", "name": "video_7.mp4", "content_type": "video/mp4", "size": 50_000_000,
              "sha256": "", "note": "over the size limit of 20971520 bytes: not fetched"}]
    draft = normalize_telegram(record(message(video=video, caption="my screen"), files=files))
    [attachment] = draft.attachments
    assert attachment.size == 50_000_000 and attachment.sha256 == ""
    assert "over the size limit" in (attachment.note or "")
    assert draft.defects and "video_7.mp4" in draft.defects[0]
    assert draft.text == "my screen"


def test_own_shared_contact_gives_the_requester_a_phone_number():
    contact = {"phone_number": "36301234567", "first_name": "Jürgen", "user_id": 4242}
    draft = normalize_telegram(record(message(contact=contact)))
    assert draft.requester.phone == "+36301234567"
    assert "Shared contact" in draft.text


def test_someone_elses_contact_does_not_identify_the_sender():
    contact = {"phone_number": "+36301234567", "first_name": "Anna", "user_id": 999}
    assert normalize_telegram(record(message(contact=contact))).requester.phone is None
    no_user = {"phone_number": "+36301234567", "first_name": "Anna"}
    assert normalize_telegram(record(message(contact=no_user))).requester.phone is None


@pytest.mark.parametrize("update", [
    {"update_id": 12, "callback_query": {"id": "c1", "from": USER, "chat_instance": "x", "data": "close"}},
    {"update_id": 13, "my_chat_member": {"chat": CHAT, "from": USER, "date": 1}},
    {"update_id": 14, "message": {"message_id": 8, "date": 1, "chat": CHAT, "from": USER,
                                  "new_chat_title": "x"}},
])
def test_updates_without_usable_content_are_failed_with_a_reason(update):
    with pytest.raises(NormalizeError):
        normalize_telegram(record(update))


def test_a_record_that_is_not_json_is_failed():
    raw = RawInbound(channel="telegram", transport="webhook", external_id="update:1:1", received_at=NOW,
                     payload=b"{not json", meta={"bot_id": BOT})
    with pytest.raises(NormalizeError):
        normalize_telegram(raw)


def test_every_key_is_scoped_by_the_bot_so_two_bots_never_collide():
    from normalize.telegram import conversation_key, message_idempotency_key, update_external_id

    update = message(text="hello")
    first = normalize_telegram(record(update))
    other_bot = normalize_telegram(RawInbound(channel="telegram", transport="polling", external_id="update:1:10",
                                              received_at=NOW, payload=json.dumps(update).encode(),
                                              meta={"bot_id": 1}))
    assert first.external_id != other_bot.external_id
    assert first.thread_hints != other_bot.thread_hints
    assert message_idempotency_key(BOT, 4242, 7, None) != message_idempotency_key(1, 4242, 7, None)
    assert update_external_id(BOT, 10) != update_external_id(1, 10)
    assert conversation_key(BOT, 4242) != conversation_key(1, 4242)
