"""The tests a rule's `when` keys become: each answers yes or no, and why.

A condition is built once at configuration load (values normalized, patterns
compiled) and then only compares against `MessageFacts`, so matching is pure
and a decision can always be explained by the verdicts it collected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from router.facts import MessageFacts
from router.hours import WeeklyHours
from router.text import shorten


@dataclass(frozen=True, slots=True)
class Verdict:
    matched: bool
    reason: str


class Condition(Protocol):
    """One `when` key of a rule; `key` is its name in the configuration."""

    @property
    def key(self) -> str: ...

    def test(self, facts: MessageFacts) -> Verdict: ...


FactReader = Callable[[MessageFacts], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class OneOf:
    """Matches when any observed value equals any accepted value (both already normalized)."""

    key: str
    accepted: tuple[str, ...]
    observed: FactReader

    def test(self, facts: MessageFacts) -> Verdict:
        seen = self.observed(facts)
        hits = [value for value in seen if value in self.accepted]
        wanted = _listing(self.accepted)
        if hits:
            return Verdict(True, f"{self.key}: {hits[0]!r} is one of {wanted}")
        if not seen:
            return Verdict(False, f"{self.key}: message has none, wanted {wanted}")
        return Verdict(False, f"{self.key}: {_listing(seen)} not in {wanted}")


@dataclass(frozen=True, slots=True)
class PhonePrefix:
    """Matches when the requester's E.164 number starts with any prefix."""

    key: str
    prefixes: tuple[str, ...]

    def test(self, facts: MessageFacts) -> Verdict:
        wanted = _listing(self.prefixes)
        if facts.phone is None:
            return Verdict(False, f"{self.key}: requester has no phone number, wanted {wanted}")
        for prefix in self.prefixes:
            if facts.phone.startswith(prefix):
                return Verdict(True, f"{self.key}: {facts.phone} starts with {prefix}")
        return Verdict(False, f"{self.key}: {facts.phone} starts with none of {wanted}")


@dataclass(frozen=True, slots=True)
class MediaType:
    """Matches when any attachment has one of the media types; "image/*" takes any subtype."""

    key: str
    patterns: tuple[str, ...]

    def test(self, facts: MessageFacts) -> Verdict:
        wanted = _listing(self.patterns)
        for observed in facts.attachment_types:
            for pattern in self.patterns:
                if _media_type_matches(pattern, observed):
                    return Verdict(True, f"{self.key}: attachment {observed} matches {pattern}")
        if not facts.attachment_types:
            return Verdict(False, f"{self.key}: no attachments, wanted {wanted}")
        return Verdict(False, f"{self.key}: {_listing(facts.attachment_types)} not in {wanted}")


@dataclass(frozen=True, slots=True)
class Hours:
    """Matches when the decision time falls in any of the weekly hours."""

    key: str
    hours: tuple[WeeklyHours, ...]

    def test(self, facts: MessageFacts) -> Verdict:
        zone = self.hours[0].zone
        when = f"{facts.moment.astimezone(zone):%a %H:%M} ({zone})"
        for hours in self.hours:
            if hours.contains(facts.moment):
                return Verdict(True, f"{self.key}: {when} is within {hours.spec!r}")
        return Verdict(False, f"{self.key}: {when} is outside {_listing(tuple(h.spec for h in self.hours))}")


@dataclass(frozen=True, slots=True)
class Pattern:
    """Matches when any pattern is found in the text a fact reader gives.

    `shown` is how the patterns appear in explanations (the configured regex,
    or the keywords), since a keyword pattern's compiled form explains nothing.
    """

    key: str
    patterns: tuple[re.Pattern[str], ...]
    shown: tuple[str, ...]
    text: Callable[[MessageFacts], str]

    def test(self, facts: MessageFacts) -> Verdict:
        haystack = self.text(facts)
        for pattern, shown in zip(self.patterns, self.shown, strict=True):
            found = pattern.search(haystack)
            if found is not None:
                return Verdict(True, f"{self.key}: {shorten(found.group(0))!r} matches {shown!r}")
        return Verdict(False, f"{self.key}: no match for {_listing(self.shown)}")


def _media_type_matches(pattern: str, observed: str) -> bool:
    kind, _, subtype = pattern.partition("/")
    observed_kind, _, observed_subtype = observed.partition("/")
    return kind in ("*", observed_kind) and subtype in ("*", observed_subtype)


def _listing(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values[:8]) + (", …" if len(values) > 8 else "")
