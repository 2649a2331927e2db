"""Words a regular expression cannot match without, so most messages skip the scan.

A case-insensitive pattern scan over a 1 KB message costs tens of
microseconds in `re` (no literal prefix to jump to), while a substring test
costs about one. Nearly every rule pattern names words ("\\bvpn\\b|remote
access"), and a match must contain one of them. `required_words` reads the
pattern's parse tree for such a set; a message whose lowercased ASCII text
contains none of them cannot match, and the pattern is not run.

Only ASCII literals count, and only against ASCII text: there, matching
without case is exactly lowercasing (Unicode has letters such as "ſ" and the
Kelvin sign that match "s" and "k" under IGNORECASE without being their
lowercase, so for any other text the pattern always runs).
"""

from __future__ import annotations

from typing import Any

try:  # the parser `re` itself uses; its layout is private, so any surprise disables the filter
    from re import _constants as _sre  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - another interpreter
    _sre = _sre_parse = None

Words = frozenset[str]


def required_words(pattern: str, flags: int = 0) -> Words | None:
    """Lowercased ASCII strings of which every match contains at least one, or None when unknown."""
    if _sre_parse is None:
        return None
    try:
        return _sequence(list(_sre_parse.parse(pattern, flags)))
    except Exception:
        return None


def may_match(words: Words | None, lowered_ascii: str | None) -> bool:
    """False only when the pattern certainly cannot match the text `lowered_ascii` is the lowercase of."""
    if words is None or lowered_ascii is None:
        return True
    for word in words:  # noqa: SIM110 - any() over a generator or map(text.__contains__) costs several times more
        if word in lowered_ascii:
            return True
    return False


def _sequence(items: list[tuple[Any, Any]]) -> Words | None:
    """Every item of a sequence is matched, so any one item's set (or literal run) is required."""
    candidates: list[Words] = []
    run: list[str] = []
    for op, argument in items:
        if op is _sre.LITERAL and argument < 128:
            run.append(chr(argument).lower())
            continue
        if run:
            candidates.append(frozenset(["".join(run)]))
            run = []
        inner = _item(op, argument)
        if inner is not None:
            candidates.append(inner)
    if run:
        candidates.append(frozenset(["".join(run)]))
    return max(candidates, key=_selectivity, default=None)


def _item(op: Any, argument: Any) -> Words | None:
    if op is _sre.SUBPATTERN:
        return _sequence(list(argument[-1]))
    if op is _sre.ATOMIC_GROUP:
        return _sequence(list(argument))
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
        least, _most, body = argument
        return _sequence(list(body)) if least >= 1 else None
    if op is _sre.BRANCH:
        union: set[str] = set()
        for alternative in argument[1]:
            words = _sequence(list(alternative))
            if words is None:
                return None
            union |= words
        return frozenset(union)
    return None


def _selectivity(words: Words) -> tuple[int, int]:
    """Prefer sets whose shortest word is longest (rarer in text), then fewer words (fewer tests)."""
    return min(len(word) for word in words), -len(words)
