"""Unicode-aware, case-insensitive text helpers shared by conditions and facts.

Input arrives from many channels in many scripts and normal forms ("ő" may be
one code point or "o" plus a combining accent), so everything compared is
first put into NFC; equality uses `casefold` and patterns use `re.IGNORECASE`,
which both follow Unicode case rules ("Ő"/"ő", "VPN"/"vpn", "ВПН"/"впн").
"""

from __future__ import annotations

import re
import unicodedata


def nfc(value: str) -> str:
    """The NFC form, so composed and decomposed accents compare equal (ASCII is its own NFC form)."""
    return value if value.isascii() else unicodedata.normalize("NFC", value)


def fold(value: str) -> str:
    """The form used for case-insensitive equality: NFC, casefolded, trimmed."""
    return nfc(value).casefold().strip()


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a configured regular expression; raises `re.error` when it is invalid."""
    return re.compile(nfc(pattern), re.IGNORECASE)


def keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    """A pattern finding any keyword as a whole word (or phrase), in any case.

    `\\b` is not used because it fails next to non-word characters at the
    edges of a keyword ("c++"); lookarounds on `\\w` work for any script.
    Spaces inside a phrase match any run of whitespace.
    """
    alternatives = [r"\s+".join(re.escape(word) for word in nfc(k).split()) for k in keywords]
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def normalize_domain(domain: str) -> str:
    """A domain in one comparable form: casefolded, no trailing dot, IDNA (punycode) ASCII.

    Mail may carry the Unicode or the `xn--` form of the same domain.
    """
    folded = fold(domain).rstrip(".")
    if folded.isascii():  # already the ASCII form (the codec would only check label lengths)
        return folded
    try:
        return folded.encode("idna").decode("ascii")
    except UnicodeError:
        return folded


def normalize_address(address: str) -> str:
    """An email address (or `@domain`) with its domain normalized and its case folded."""
    stripped = address.strip().strip("<>")
    local, at, domain = stripped.rpartition("@")
    if not at:
        return fold(stripped)
    return f"{fold(local)}@{normalize_domain(domain)}"


def shorten(value: str, limit: int = 40) -> str:
    """A fragment short enough for an explanation, marked when cut."""
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
