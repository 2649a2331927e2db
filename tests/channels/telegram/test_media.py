"""Photos, documents, voice, audio and video: fetched with getFile into attachment storage."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.channels.telegram.conftest import confirmed, tickets
from tests.support.fake_telegram import FakeBotApi

PHOTO = b"\xff\xd8\xff\xe0fake-jpeg" * 50
PDF = b"%PDF-1.7 fake document" * 40
OGG = b"OggS fake voice" * 30
MP3 = b"ID3 fake audio" * 30
MP4 = b"\x00\x00\x00\x18ftypmp42 fake video" * 30


def stored(tmp_path: Path, data: bytes) -> Path:
    return tmp_path / "attachments" / hashlib.sha256(data).hexdigest()


async def test_every_media_kind_is_fetched_and_listed_with_its_digest(start_telegram, fake: FakeBotApi, http,
                                                                       tmp_path):
    gw = await start_telegram()
    small = fake.add_file(b"tiny", path="photos/small.jpg")
    big = fake.add_file(PHOTO, path="photos/big.jpg")
    doc = fake.add_file(PDF, path="documents/report.pdf")
    voice = fake.add_file(OGG, path="voice/v.oga")
    audio = fake.add_file(MP3, path="music/a.mp3")
    video = fake.add_file(MP4, path="videos/v.mp4")
    updates = [
        fake.message(caption="Screenshot of the error",
                     photo=[fake.file_field(small, width=90, height=60), fake.file_field(big, width=1280, height=853)]),
        fake.message(document=fake.file_field(doc, file_name="report.pdf", mime_type="application/pdf")),
        fake.message(voice=fake.file_field(voice, duration=3, mime_type="audio/ogg")),
        fake.message(caption="the noise it makes",
                     audio=fake.file_field(audio, duration=5, file_name="noise.mp3", mime_type="audio/mpeg")),
        fake.message(video=fake.file_field(video, duration=4, width=640, height=480, mime_type="video/mp4")),
    ]
    fake.push(*updates)
    await confirmed(fake, updates[-1])

    [ticket] = await tickets(http, gw)
    messages = ticket["messages"]
    assert [m["text"] for m in messages] == ["Screenshot of the error", "", "", "the noise it makes", ""]
    listed = [m["attachments"][0] for m in messages]
    assert [a["name"] for a in listed] == ["photo_1.jpg", "report.pdf", "voice_3.ogg", "noise.mp3", "video_5.mp4"]
    assert [a["content_type"] for a in listed] == ["image/jpeg", "application/pdf", "audio/ogg", "audio/mpeg",
                                                   "video/mp4"]
    for attachment, data in zip(listed, [PHOTO, PDF, OGG, MP3, MP4], strict=True):
        assert attachment["size"] == len(data)
        assert attachment["sha256"] == hashlib.sha256(data).hexdigest()
        assert stored(tmp_path, data).read_bytes() == data
    assert not stored(tmp_path, b"tiny").exists()  # only the largest photo size is fetched
    assert [c.params["path"] for c in fake.calls_of("FILE")] == ["photos/big.jpg", "documents/report.pdf",
                                                                 "voice/v.oga", "music/a.mp3", "videos/v.mp4"]


async def test_an_oversize_file_is_recorded_by_name_and_size_and_the_user_is_told(start_telegram, fake: FakeBotApi,
                                                                                  http, tmp_path):
    gw = await start_telegram(max_file_bytes=1000)
    declared = fake.add_file(PDF, path="documents/big.pdf")  # 880 bytes: under the limit
    huge = fake.add_file(b"x" * 2000, path="documents/huge.zip")
    update = fake.message(caption="logs attached",
                          document=fake.file_field(huge, file_name="huge.zip", mime_type="application/zip"))
    fine = fake.message(document=fake.file_field(declared, file_name="big.pdf", mime_type="application/pdf"))
    fake.push(update, fine)
    await confirmed(fake, fine)

    [ticket] = await tickets(http, gw)
    over = ticket["messages"][0]
    assert over["text"] == "logs attached"
    [attachment] = over["attachments"]
    assert (attachment["name"], attachment["size"], attachment["sha256"]) == ("huge.zip", 2000, "")
    assert "limit of 1000 bytes" in attachment["note"]
    assert over["defects"]
    assert ticket["messages"][1]["attachments"][0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert [c.params["file_id"] for c in fake.calls_of("getFile")] == [declared]  # never fetched
    [answer] = fake.texts_to(4242)
    assert ticket["id"] in answer and "huge.zip" in answer and "2.0 KB" in answer


async def test_a_file_telegram_refuses_as_too_big_is_recorded_not_retried(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram(max_file_bytes=100 * 1024 * 1024)
    huge = fake.add_file(b"partial", path="videos/huge.mp4", size=30 * 1024 * 1024)
    field = {k: v for k, v in fake.file_field(huge, width=1920, height=1080, duration=60).items() if k != "file_size"}
    update = fake.message(video=field)
    fake.push(update)
    await confirmed(fake, update)

    [ticket] = await tickets(http, gw)
    [attachment] = ticket["messages"][0]["attachments"]
    assert "not fetched" in attachment["note"]
    assert len(fake.calls_of("getFile")) == 1
    assert "video_1.mp4" in fake.texts_to(4242)[0]
