"""The tests a rule's `when` keys become: each answers yes or no, and why.

A condition is built once at configuration load (values normalized, patterns
compiled) and then only compares against `MessageFacts`, so matching is pure
and a decision can always be explained by the verdicts it collected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from router.facts import ATTACHMENT_TYPES, MOMENT, PHONE, RAW_PHONE, Fact, MessageFacts
from router.hours import WeeklyHours
from router.prefilter import Words, may_match, required_words
from router.text import keyword_pattern, shorten


@dataclass(frozen=True, slots=True)
class Verdict:
    matched: bool
    reason: str


class Attempt(NamedTuple):
    """One step tried on the way to a decision: a rule, or the model as `model:<name>`."""

    rule: str
    matched: bool
    reason: str


class Condition(Protocol):
    """One `when` key of a rule; `key` is its name in the configuration.

    `reads` is the source of the fact its verdict is a function of, for a condition on a fact that
    recurs from message to message (a channel, a domain, the minute), so the verdict holds for every
    message with the same value (`router.plan`); None for a condition tested on each message: on the
    text, which each message has its own of, or on a fact that varies per requester (`facts.Fact`).
    """

    @property
    def key(self) -> str: ...

    @property
    def reads(self) -> Callable[[MessageFacts], Hashable] | None: ...

    @property
    def quick(self) -> QuickMiss | None:
        """For a condition tested on each message: a cheap test that settles most messages, or None."""
        ...

    def test(self, facts: MessageFacts) -> Verdict: ...


class QuickMiss(NamedTuple):
    """When a condition tested on each message certainly fails, found without the test's own calls.

    The condition fails with `verdict` when `read(facts)` is None or empty and `words` is None (a fact the
    message lacks: no phone number), or when `words` is given and the text `read` gives (a lowercased ASCII
    text, None when there is none) holds none of them. `router.plan` tests it inline: most messages fail
    their text rules' conditions for want of a word, and half the cost of such a test was the calls
    leading to the substring tests.
    """

    read: Callable[[MessageFacts], str | None]
    words: Words | None
    verdict: Verdict


KEPT_VERDICTS = 4096
"""Judgements kept for values seen before (verdicts, attempts, programs); each store is emptied when full."""


@dataclass(frozen=True, slots=True)
class OneOf:
    """Matches when any observed value equals any accepted value (both already normalized).

    The values a message can show (a channel, a sender's domain, a portal
    category) recur, so each one's verdict is kept (a bounded number)
    instead of its explanation being written again.
    """

    key: str
    accepted: tuple[str, ...]
    observed: Fact
    """A fact whose value is a tuple of strings."""
    wanted: str = field(init=False)
    verdicts: dict[tuple[str, ...], Verdict] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wanted", _listing(self.accepted))
        object.__setattr__(self, "verdicts", {})

    @property
    def reads(self) -> Callable[[MessageFacts], Hashable] | None:
        return self.observed.source

    @property
    def quick(self) -> None:
        return None

    def test(self, facts: MessageFacts) -> Verdict:
        seen: tuple[str, ...] = self.observed.read(facts)
        verdict = self.verdicts.get(seen)
        if verdict is None:
            if len(self.verdicts) >= KEPT_VERDICTS:
                self.verdicts.clear()
            verdict = self.verdicts[seen] = self._judge(seen)
        return verdict

    def _judge(self, seen: tuple[str, ...]) -> Verdict:
        hits = [value for value in seen if value in self.accepted]
        wanted = self.wanted
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
    wanted: str = field(init=False)
    no_phone: Verdict = field(init=False)
    quick: QuickMiss = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wanted", _listing(self.prefixes))
        object.__setattr__(self, "no_phone", Verdict(False, f"{self.key}: requester has no phone number, "
                                                            f"wanted {self.wanted}"))
        object.__setattr__(self, "quick", QuickMiss(RAW_PHONE, None, self.no_phone))

    @property
    def reads(self) -> Callable[[MessageFacts], Hashable] | None:
        return PHONE.source

    def test(self, facts: MessageFacts) -> Verdict:
        wanted = self.wanted
        if facts.phone is None:
            return self.no_phone
        for prefix in self.prefixes:
            if facts.phone.startswith(prefix):
                return Verdict(True, f"{self.key}: {facts.phone} starts with {prefix}")
        return Verdict(False, f"{self.key}: {facts.phone} starts with none of {wanted}")


@dataclass(frozen=True, slots=True)
class MediaType:
    """Matches when any attachment has one of the media types; "image/*" takes any subtype."""

    key: str
    patterns: tuple[str, ...]
    wanted: str = field(init=False)
    no_attachments: Verdict = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wanted", _listing(self.patterns))
        object.__setattr__(self, "no_attachments", Verdict(False, f"{self.key}: no attachments, wanted {self.wanted}"))

    @property
    def reads(self) -> Callable[[MessageFacts], Hashable] | None:
        return ATTACHMENT_TYPES.source

    @property
    def quick(self) -> None:
        return None

    def test(self, facts: MessageFacts) -> Verdict:
        wanted = self.wanted
        if not facts.attachment_types:
            return self.no_attachments
        for observed in facts.attachment_types:
            for pattern in self.patterns:
                if _media_type_matches(pattern, observed):
                    return Verdict(True, f"{self.key}: attachment {observed} matches {pattern}")
        return Verdict(False, f"{self.key}: {_listing(facts.attachment_types)} not in {wanted}")


@dataclass(frozen=True, slots=True)
class Hours:
    """Matches when the decision time falls in any of the weekly hours."""

    key: str
    hours: tuple[WeeklyHours, ...]

    @property
    def reads(self) -> Callable[[MessageFacts], Hashable] | None:
        return MOMENT.source

    @property
    def quick(self) -> None:
        return None

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
    `text` reads the text and its lowercase when it is ASCII: a pattern runs
    only when the text holds one of the words it cannot match without
    (`router.prefilter`).
    """

    key: str
    patterns: tuple[re.Pattern[str], ...]
    shown: tuple[str, ...]
    text: Callable[[MessageFacts], tuple[str, str | None]]
    words: tuple[Words | None, ...] = field(init=False)
    miss: Verdict = field(init=False)
    quick: QuickMiss | None = field(init=False)
    """When every pattern names words: none of them in the text, no pattern can match."""
    _checks: tuple[tuple[re.Pattern[str], Words | None, str], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", tuple(required_words(p.pattern, p.flags) for p in self.patterns))
        object.__setattr__(self, "miss", Verdict(False, f"{self.key}: no match for {_listing(self.shown)}"))
        object.__setattr__(self, "_checks", tuple(zip(self.patterns, self.words, self.shown, strict=True)))
        known = [words for words in self.words if words is not None]
        quick = None
        if len(known) == len(self.words):
            lowered = MessageFacts.lowered_subject if self.text is MessageFacts.subject else MessageFacts.lowered
            quick = QuickMiss(lowered, frozenset().union(*known), self.miss)
        object.__setattr__(self, "quick", quick)

    @property
    def reads(self) -> None:
        return None

    def test(self, facts: MessageFacts) -> Verdict:
        text, lowered = self.text(facts)
        for pattern, words, shown in self._checks:
            if not may_match(words, lowered):
                continue
            found = pattern.search(text)
            if found is not None:
                return Verdict(True, f"{self.key}: {shorten(found.group(0))!r} matches {shown!r}")
        return self.miss


@dataclass(frozen=True, slots=True)
class Keywords:
    """Matches when any keyword (or phrase) occurs as a whole word in subject or text, in any case.

    Most messages contain none of the words, and finding that out with
    substring tests costs a fraction of a case-insensitive pattern scan. When
    the text and a keyword are ASCII, where matching without case is exactly
    lowercasing, the pattern (`router.text.keyword_pattern`) runs only if
    every word of some keyword occurs in the lowercased text, to check word
    boundaries. Otherwise (Unicode has letters such as "ı" and "ſ" that match
    "I" and "s" without being their lowercase) the pattern always runs.
    """

    key: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str] = field(init=False)
    words: tuple[tuple[str, ...], ...] | None = field(init=False)
    """Each keyword's words lowercased, or None when a keyword is not ASCII."""
    single: Words | None = field(init=False)
    """The keywords lowercased when each is one word (the usual case, tested in one pass), else None."""
    miss: Verdict = field(init=False)
    quick: QuickMiss | None = field(init=False)
    """When each keyword is one ASCII word: none of them in the text, none can match."""

    def __post_init__(self) -> None:
        ascii_only = all(k.isascii() for k in self.keywords)
        words = tuple(tuple(k.lower().split()) for k in self.keywords) if ascii_only else None
        single = frozenset(ws[0] for ws in words) if words and all(len(ws) == 1 for ws in words) else None
        object.__setattr__(self, "pattern", keyword_pattern(self.keywords))
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "single", single)
        object.__setattr__(self, "miss", Verdict(False, f"{self.key}: no match for {', '.join(self.keywords)!r}"))
        quick = None if single is None else QuickMiss(MessageFacts.lowered, single, self.miss)
        object.__setattr__(self, "quick", quick)

    @property
    def reads(self) -> None:
        return None

    def test(self, facts: MessageFacts) -> Verdict:
        text, lowered = facts.searchable()
        if lowered is None or self.words is None or self._may_occur(lowered):
            found = self.pattern.search(text)
            if found is not None:
                return Verdict(True, f"{self.key}: {shorten(found.group(0))!r} matches {', '.join(self.keywords)!r}")
        return self.miss

    def _may_occur(self, lowered: str) -> bool:
        """Whether every word of some keyword occurs in the lowercased ASCII text (`words` is set)."""
        if self.single is not None:
            return may_match(self.single, lowered)
        return any(all(w in lowered for w in ws) for ws in self.words or ())


def cost(condition: Condition) -> int:
    """How expensive a test is, in rank: a rule tests its cheap conditions first, as each may end it.
    Conditions judged once per combination of values (`reads`) come before those tested on each message
    (`router.plan` relies on it)."""
    if isinstance(condition, Pattern):
        return 4
    if isinstance(condition, Keywords):
        return 3
    if condition.reads is None:
        return 2
    if isinstance(condition, Hours):
        return 1
    return 0


def _media_type_matches(pattern: str, observed: str) -> bool:
    kind, _, subtype = pattern.partition("/")
    observed_kind, _, observed_subtype = observed.partition("/")
    return kind in ("*", observed_kind) and subtype in ("*", observed_subtype)


def _listing(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values[:8]) + (", …" if len(values) > 8 else "")
