"""Message text and entities to plain text, and bot commands.

Telegram sends text with formatting as separate entities whose offsets count
UTF-16 code units. Plain text keeps everything a reader needs: the text as
written, plus the target of links whose label hides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_UTF16 = "utf-16-le"


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # lower case, without "/" and "@botname"
    rest: str  # the text after the command


def _slice(encoded: bytes, offset: int, length: int) -> str:
    return encoded[2 * offset: 2 * (offset + length)].decode(_UTF16, errors="replace")


def plain_text(text: str, entities: list[dict[str, Any]] | None) -> str:
    """The text with each hidden link's URL written after its label."""
    if not entities:
        return text
    encoded = text.encode(_UTF16, errors="surrogatepass")
    inserts: list[tuple[int, str]] = []
    for entity in entities:
        if not isinstance(entity, dict) or entity.get("type") != "text_link":
            continue
        try:
            offset, length, url = int(entity["offset"]), int(entity["length"]), str(entity["url"])
        except (KeyError, TypeError, ValueError):
            continue
        label = _slice(encoded, offset, length).strip()
        if url and url != label:
            inserts.append((offset + length, f" ({url})"))
    if not inserts:
        return text
    out = encoded
    for end, addition in sorted(inserts, reverse=True):
        end = min(end, len(out) // 2)
        out = out[: 2 * end] + addition.encode(_UTF16) + out[2 * end:]
    return out.decode(_UTF16, errors="replace")


def command_of(text: str | None, entities: list[dict[str, Any]] | None) -> Command | None:
    """The bot command a message starts with, if any (`/new@desk_bot my printer` -> new, "my printer")."""
    if not text or not entities:
        return None
    first = entities[0] if isinstance(entities[0], dict) else {}
    if first.get("type") != "bot_command" or first.get("offset") != 0:
        return None
    encoded = text.encode(_UTF16, errors="surrogatepass")
    length = int(first.get("length") or 0)
    word = _slice(encoded, 0, length)
    name = word.lstrip("/").split("@", 1)[0].lower()
    rest = encoded[2 * length:].decode(_UTF16, errors="replace").strip()
    return Command(name, rest) if name else None
