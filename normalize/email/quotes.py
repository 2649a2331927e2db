"""The new part of a reply: quoted history and signatures removed.

A ticket message should carry what the person wrote now, not the whole
thread again; `full_text` keeps everything. The rules, line by line:

* `> ` lines are quoted history and dropped wherever they are, so the
  answers of an interleaved reply survive.
* An attribution line ("On ... wrote:", "Am ... schrieb ...:", "... írta:",
  "Pada ... menulis:", "... пишет:", ...; clients wrap them over up to three
  lines) is dropped when `> ` lines follow it; when unquoted text follows
  (top-posting clients that do not prefix) and the line looks like an
  attribution (it holds a date digit or an address), everything from it on
  is history.
* An Outlook-style block ("-----Original Message-----", or a "From:" line
  with a "Sent:"/"Date:" line just below, in the languages below) starts the
  history: everything from it on goes, as does a rule or "Forwarded
  message" line right above it.
* A signature ("-- " delimiter, "Sent from my iPhone" and the like) ends the
  new part.

Each test is a bounded string check on one candidate, so the work is linear
in the text. If nothing is left, the caller keeps the full text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_QUOTED = re.compile(r"^[ \t]*>")
_ORIGINAL_MESSAGE = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:original message|ursprüngliche nachricht|eredeti üzenet|pesan asli"
    r"|исходное сообщение|message d'origine|mensaje original|messaggio originale"
    r"|oorspronkelijk bericht|mensagem original)[ \t]*-{2,}[ \t]*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^[ \t]*\**(?:from|von|feladó|dari|от|de|da|van|od)\**[ \t]*:", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"^[ \t]*\**(?:sent|date|gesendet|datum|elküldve|küldve|dátum|időpont|dikirim|terkirim|tanggal"
    r"|отправлено|дата|envoyé|enviado|inviato|verzonden|data|wysłano)\**[ \t]*:",
    re.IGNORECASE,
)
_RULE_OR_FORWARD = re.compile(
    r"^[ \t]*(?:_{5,}|-{5,}|-+[ \t]*(?:forwarded message|weitergeleitete nachricht|továbbított üzenet"
    r"|pesan terusan|пересылаемое сообщение|message transféré)[ \t]*-+|begin forwarded message:)[ \t]*$",
    re.IGNORECASE,
)
_SIGNATURE_DELIMITER = re.compile(r"^--[ \t]?$")
_MOBILE_SIGNATURE = re.compile(
    r"(?:sent from (?:my )?\S.{0,60}|get outlook for \S.{0,30}|sent with \S.{0,40}"
    r"|von meinem \S.{0,60} gesendet|gesendet von meinem \S.{0,60}|gesendet mit \S.{0,40}"
    r"|envoyé de mon \S.{0,60}|enviado desde mi \S.{0,60}|inviato da \S.{0,60}"
    r"|dikirim dari \S.{0,60}|terkirim dari \S.{0,60}"
    r"|(?:el)?küldve (?:az? )?\S.{0,60}|\S.{0,60}(?:ról|ről) küldve"
    r"|отправлено с \S.{0,60}|отправлено из \S.{0,60})",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Attribution:
    """An attribution: optional opening words, a keyword near the end, a final colon."""

    start: re.Pattern[str] | None
    keyword: re.Pattern[str]


_ATTRIBUTIONS = (
    _Attribution(re.compile(r"on\s", re.I), re.compile(r"\bwrote\s*:$", re.I)),  # English
    _Attribution(re.compile(r"am\s", re.I), re.compile(r"\bschrieb\b", re.I)),  # German
    _Attribution(None, re.compile(r"\bírta\b", re.I)),  # Hungarian
    _Attribution(re.compile(r"pada\s", re.I), re.compile(r"\bmenulis\s*:$", re.I)),  # Indonesian
    _Attribution(None, re.compile(r"(?:пишет|написал(?:\(а\)|а)?)\s*:$", re.I)),  # Russian
    _Attribution(re.compile(r"le\s", re.I), re.compile(r"\ba écrit\s*:$", re.I)),  # French
    _Attribution(re.compile(r"el\s", re.I), re.compile(r"\bescribió\s*:$", re.I)),  # Spanish
    _Attribution(re.compile(r"op\s", re.I), re.compile(r"\bschreef\b", re.I)),  # Dutch
    _Attribution(re.compile(r"il\s", re.I), re.compile(r"\bha scritto\s*:$", re.I)),  # Italian
    _Attribution(re.compile(r"em\s", re.I), re.compile(r"\bescreveu\s*:$", re.I)),  # Portuguese
)
_MAX_ATTRIBUTION_LINES = 3
_MAX_ATTRIBUTION_CHARS = 400
_KEYWORD_TAIL_CHARS = 200
_MAX_SIGNATURE_LINE = 80
_HEADER_BLOCK_LINES = 6


def split_reply(text: str) -> str:
    """The new part of `text` (lines joined by `\\n`), or `text` if nothing is left."""
    lines = text.split("\n")
    dropped: set[int] = set()
    end = len(lines)
    for index, line in enumerate(lines):
        if _QUOTED.match(line):
            continue
        if _plain_prose(line):
            continue
        if _SIGNATURE_DELIMITER.match(line) or _is_mobile_signature(line):
            end = index
            break
        if _ORIGINAL_MESSAGE.match(line) or _starts_header_block(lines, index):
            end = _include_rule_above(lines, index)
            break
        start = _attribution_start(lines, index)
        if start is None:
            continue
        if _quote_follows(lines, index + 1):
            dropped.update(range(start, index + 1))
        elif _looks_dated(lines, start, index):
            end = start
            break
    kept = [line for i, line in enumerate(lines[:end]) if i not in dropped and not _QUOTED.match(line)]
    new_part = "\n".join(kept).strip("\n")
    return new_part if new_part.strip() else text


# A line none of the tests below can fire on: too long to be a signature line
# (the delimiter or a mobile one), not ending in a colon (an attribution), not
# starting like an Outlook block (`_ORIGINAL_MESSAGE`, `_HEADER_FROM`).
_BLOCK_START = re.compile(_HEADER_FROM.pattern.replace(r"^[ \t]*", r"^[ \t]*(?:-{2}|", 1) + ")", re.IGNORECASE)


def _plain_prose(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) > _MAX_SIGNATURE_LINE and stripped[-1] != ":" and not _BLOCK_START.match(line)


def _is_mobile_signature(line: str) -> bool:
    stripped = line.strip()
    return 0 < len(stripped) <= _MAX_SIGNATURE_LINE and bool(_MOBILE_SIGNATURE.fullmatch(stripped))


def _starts_header_block(lines: list[str], index: int) -> bool:
    """A "From:" line with a "Sent:"/"Date:" line within the next few lines."""
    if not _HEADER_FROM.match(lines[index]):
        return False
    below = lines[index + 1 : index + 1 + _HEADER_BLOCK_LINES]
    return any(_HEADER_SENT.match(line) for line in below)


def _include_rule_above(lines: list[str], index: int) -> int:
    """Move the cut up over blank lines to a rule or forward marker right above."""
    above = index - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    if above >= 0 and _RULE_OR_FORWARD.match(lines[above]):
        return above
    return index


def _attribution_start(lines: list[str], index: int) -> int | None:
    """First line of an attribution ending at `index`, if one does.

    Clients wrap long attributions, so up to two lines above are taken in
    when they read as its beginning: adjacent, not ending a sentence, and
    (for languages whose attribution has no fixed opening word) holding a
    date digit or an address, so a greeting right above is not swallowed.
    """
    if not lines[index].rstrip().endswith(":") or len(lines[index]) > _MAX_ATTRIBUTION_CHARS:
        return None
    found: int | None = None
    joined = lines[index].strip()
    for start in range(index, max(index - _MAX_ATTRIBUTION_LINES, -1), -1):
        if start < index:
            upper = lines[start].strip()
            if not upper or _QUOTED.match(lines[start]) or upper[-1] in ".!?;:":
                break
            joined = f"{upper} {joined}"
            if len(joined) > _MAX_ATTRIBUTION_CHARS:
                break
        opening = _attribution_kind(joined)
        if opening is None:
            continue
        if start < index and not opening and not _has_date_or_address(lines[start]):
            break
        found = start
    return found


def _attribution_kind(candidate: str) -> bool | None:
    """None: no attribution; True: one with a fixed opening word; False: one without."""
    tail = candidate[-_KEYWORD_TAIL_CHARS:]
    for pattern in _ATTRIBUTIONS:
        if pattern.start is not None and not pattern.start.match(candidate):
            continue
        if pattern.keyword.search(tail):
            return pattern.start is not None
    return None


def _has_date_or_address(text: str) -> bool:
    return "@" in text or "<" in text or any(ch.isdigit() for ch in text)


def _quote_follows(lines: list[str], start: int) -> bool:
    for line in lines[start:]:
        if line.strip():
            return bool(_QUOTED.match(line))
    return False


def _looks_dated(lines: list[str], first: int, last: int) -> bool:
    """Unquoted history below: only trust an attribution that names a date or an address."""
    return _has_date_or_address(" ".join(lines[first : last + 1]))
