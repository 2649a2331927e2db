"""The files a message carries: what the adapter fetches and the normalizer lists.

A photo comes in several sizes; only the largest is kept. A GIF arrives as
both `animation` and `document`, so documents are read once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from normalize.filenames import safe_filename


@dataclass(frozen=True, slots=True)
class FileRef:
    kind: str  # photo, document, voice, audio, video, video_note
    file_id: str
    file_unique_id: str
    name: str
    content_type: str
    size: int | None  # as Telegram announced it, when it did


def _size(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _ref(kind: str, item: dict[str, Any], name: str | None, default_type: str, fallback: str) -> FileRef | None:
    file_id = item.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        return None
    content_type = str(item.get("mime_type") or default_type)
    return FileRef(
        kind=kind,
        file_id=file_id,
        file_unique_id=str(item.get("file_unique_id") or file_id),
        name=safe_filename(name or fallback, content_type),
        content_type=content_type,
        size=_size(item.get("file_size")),
    )


def _largest_photo(sizes: list[Any]) -> dict[str, Any] | None:
    photos = [p for p in sizes if isinstance(p, dict)]
    if not photos:
        return None
    return max(photos, key=lambda p: (int(p.get("width") or 0) * int(p.get("height") or 0),
                                      int(p.get("file_size") or 0)))


def file_refs(message: dict[str, Any]) -> list[FileRef]:
    """Every file of the message, in a stable order."""
    number = message.get("message_id", 0)
    refs: list[FileRef | None] = []
    photo = message.get("photo")
    if isinstance(photo, list):
        largest = _largest_photo(photo)
        if largest is not None:
            refs.append(_ref("photo", largest, None, "image/jpeg", f"photo_{number}.jpg"))
    document = message.get("document")
    if isinstance(document, dict):
        refs.append(_ref("document", document, document.get("file_name"), "application/octet-stream",
                         f"document_{number}"))
    voice = message.get("voice")
    if isinstance(voice, dict):
        refs.append(_ref("voice", voice, None, "audio/ogg", f"voice_{number}.ogg"))
    audio = message.get("audio")
    if isinstance(audio, dict):
        refs.append(_ref("audio", audio, audio.get("file_name"), "audio/mpeg", f"audio_{number}.mp3"))
    video = message.get("video")
    if isinstance(video, dict):
        refs.append(_ref("video", video, video.get("file_name"), "video/mp4", f"video_{number}.mp4"))
    note = message.get("video_note")
    if isinstance(note, dict):
        refs.append(_ref("video_note", note, None, "video/mp4", f"video_note_{number}.mp4"))
    return [r for r in refs if r is not None]
