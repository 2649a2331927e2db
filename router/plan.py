"""The rule list evaluated in two stages: what depends on a message's small facts once per combination of them,
what depends on its text once per message.

Most conditions compare one small fact (a channel, a sender's domain, a
portal category, the minute of the week) that recurs from message to
message; only `text`, `subject` and `keywords` depend on what each message
says. So the rules are evaluated on the small facts once per combination of
their values (a bounded number are kept), which leaves a `Program`: the
attempts that are already known, and the text conditions still to test, in
rule order. A message then costs reading its small facts, one look-up and the
text scans, instead of every condition's test and explanation again; testing
every rule condition by condition cost several times the scans themselves.

The answer is the one the rules give tested one by one, in order: a rule
tests its conditions cheapest first (`conditions.cost`, which puts every
small-fact condition before the text ones), the first failing condition is
its reason, and a match is explained in the order its conditions were written.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from router.conditions import KEPT_VERDICTS, Attempt, Condition, Verdict
from router.facts import MessageFacts

if TYPE_CHECKING:
    from router.config import Rule


@dataclass(frozen=True, slots=True)
class Scan:
    """A rule whose small-fact conditions all hold: its text conditions decide it, message by message."""

    rule: Rule
    conditions: tuple[tuple[int, Condition], ...]
    """The text conditions with their places in the rule, in the order tested."""
    reasons: tuple[str | None, ...]
    """Per condition as written, the small-fact verdict's reason, or None for a text condition."""
    attempts: dict[int, tuple[Verdict, Attempt]] = field(default_factory=dict)
    """The attempt of each failing verdict seen (keyed by identity; the entry keeps the verdict alive)."""

    def attempt(self, facts: MessageFacts) -> Attempt:
        for _, condition in self.conditions:
            verdict = condition.test(facts)
            if not verdict.matched:
                kept = self.attempts.get(id(verdict))
                if kept is None:
                    if len(self.attempts) >= KEPT_VERDICTS:
                        self.attempts.clear()
                    kept = self.attempts[id(verdict)] = (verdict, Attempt(self.rule.name, False, verdict.reason))
                return kept[1]
        # A match, at most once a message: its explanation tests the text conditions again, in written order.
        found = {index: condition.test(facts).reason for index, condition in self.conditions}
        reasons = (reason if reason is not None else found[i] for i, reason in enumerate(self.reasons))
        return Attempt(self.rule.name, True, "; ".join(reasons))


class Program(NamedTuple):
    """The rules on one combination of small facts: known attempts (tuples) and scans, then the rule matched
    without scanning (None when none did)."""

    steps: tuple[tuple[Attempt, ...] | Scan, ...]
    matched: Rule | None


class RulePlan:
    """Evaluates an ordered rule list on message facts (see the module's docstring)."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        readers = (condition.reads for rule in self.rules for condition in rule.when)
        self._readers = tuple(dict.fromkeys(reader for reader in readers if reader is not None))
        self._programs: dict[tuple[Hashable, ...], Program] = {}

    def run(self, facts: MessageFacts, tried: list[Attempt]) -> Rule | None:
        """The first rule that matches `facts`, or None; every rule tested is appended to `tried`."""
        key = tuple([read(facts) for read in self._readers])  # Python calls: a C caller (map) costs more per call
        program = self._programs.get(key)
        if program is None:
            if len(self._programs) >= KEPT_VERDICTS:
                self._programs.clear()
            program = self._programs[key] = self._program(facts)
        for step in program.steps:
            if isinstance(step, tuple):
                tried += step
                continue
            attempt = step.attempt(facts)
            tried.append(attempt)
            if attempt.matched:
                return step.rule
        return program.matched

    def _program(self, facts: MessageFacts) -> Program:
        """The rules judged on the small facts of `facts` (any message with the same values gets the same)."""
        steps: list[tuple[Attempt, ...] | Scan] = []
        known: list[Attempt] = []
        for rule in self.rules:
            keyed = {index: rule.when[index].test(facts) for index in rule.order if rule.when[index].reads is not None}
            failed = next((verdict for verdict in keyed.values() if not verdict.matched), None)
            if failed is not None:
                known.append(Attempt(rule.name, False, failed.reason))
                continue
            scanned = tuple((index, rule.when[index]) for index in rule.order if index not in keyed)
            if not scanned:
                reason = "; ".join(keyed[i].reason for i in range(len(rule.when))) if rule.when else _EVERY
                known.append(Attempt(rule.name, True, reason))
                return Program((*steps, tuple(known)) if known else tuple(steps), rule)
            if known:
                steps.append(tuple(known))
                known = []
            reasons = tuple(keyed[i].reason if i in keyed else None for i in range(len(rule.when)))
            steps.append(Scan(rule, scanned, reasons))
        if known:
            steps.append(tuple(known))
        return Program(tuple(steps), None)

    @property
    def programs(self) -> int:
        """How many combinations of small facts are kept (bounded by `KEPT_VERDICTS`)."""
        return len(self._programs)


_EVERY = "no conditions: matches every message"
