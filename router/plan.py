"""The rule list evaluated in two stages: what depends on facts that recur from message to message once per
combination of them, the rest once per message.

Most conditions compare one fact that recurs (a channel, a sender's domain,
a portal category, the minute); only `text`, `subject` and `keywords`, and
facts that vary per requester (`sender`, `phone_prefix`, form fields), depend
on the message. So the rules are judged on the recurring facts once per
combination of their values (a bounded number are kept), which leaves a
`Program`: the attempts already known, and the conditions still to test on
each message (`Scan`), in rule order. A message then costs reading those
facts, one look-up and its own tests, instead of every condition's test and
explanation again: testing every rule condition by condition cost several
times the text scans themselves.

The answer is the one the rules give tested one by one, in order: a rule
tests its conditions cheapest first (`conditions.cost`, which puts every
recurring-fact condition before those tested per message), the first failing
condition is its reason, and a match is explained in the order its
conditions were written.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from router.conditions import KEPT_VERDICTS, Attempt, Verdict
from router.facts import MessageFacts

if TYPE_CHECKING:
    from router.config import Rule


class Scan:
    """One rule as the plan tests it: the conditions judged once per combination of recurring facts, and
    those tested on each message, each cheapest first. Programs share it."""

    __slots__ = ("_failures", "_quick", "judged", "rule", "tested")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        conditions = [rule.when[index] for index in rule.order]
        self.judged = tuple(condition for condition in conditions if condition.reads is not None)
        self.tested = tuple(condition for condition in conditions if condition.reads is None)
        self._failures: dict[int, tuple[Verdict, Attempt]] = {}
        quick = self.tested[0].quick if self.tested else None
        self._quick = None if quick is None else (quick.read, quick.words, self.failure(quick.verdict))
        """The first tested condition's `QuickMiss`, with the rule's attempt when it settles the message."""

    def attempt(self, facts: MessageFacts) -> Attempt:
        """The rule's attempt on a message whose judged conditions all hold."""
        quick = self._quick
        if quick is not None:  # inline: most messages end here, and a call costs as much as the test
            read, words, failed = quick
            value = read(facts)
            if words is None:
                if not value:
                    return failed
            elif value is not None:
                for word in words:
                    if word in value:
                        break
                else:
                    return failed
        for condition in self.tested:
            verdict = condition.test(facts)
            if not verdict.matched:
                return self.failure(verdict)
        # A match, at most once a message: explained by every condition's verdict, in written order.
        return Attempt(self.rule.name, True, "; ".join([c.test(facts).reason for c in self.rule.when]) or _EVERY)

    def failure(self, verdict: Verdict) -> Attempt:
        """The attempt a failing verdict makes, kept by the verdict's identity (conditions keep their verdicts,
        so most recur; the entry holds the verdict, so its id is not reused while kept)."""
        kept = self._failures.get(id(verdict))
        if kept is None:
            if len(self._failures) >= KEPT_VERDICTS:
                self._failures.clear()
            kept = self._failures[id(verdict)] = (verdict, Attempt(self.rule.name, False, verdict.reason))
        return kept[1]


class Program(NamedTuple):
    """The rules on one combination of recurring facts: known attempts (tuples) and the rules to test on
    each message, then the rule that matched on its judged conditions alone (None when none did)."""

    steps: tuple[tuple[Attempt, ...] | Scan, ...]
    matched: Rule | None


class RulePlan:
    """Evaluates an ordered rule list on message facts (see the module's docstring)."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._scans = tuple(Scan(rule) for rule in rules)
        readers = (condition.reads for rule in rules for condition in rule.when)
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
        """The rules judged on the recurring facts of `facts` (any message with the same values gets the same)."""
        steps: list[tuple[Attempt, ...] | Scan] = []
        known: list[Attempt] = []
        for scan in self._scans:
            failed = None
            for condition in scan.judged:
                verdict = condition.test(facts)
                if not verdict.matched:
                    failed = verdict
                    break
            if failed is not None:
                known.append(scan.failure(failed))
            elif not scan.tested:
                known.append(scan.attempt(facts))
                return Program((*steps, tuple(known)), scan.rule)
            else:
                if known:
                    steps.append(tuple(known))
                    known = []
                steps.append(scan)
        if known:
            steps.append(tuple(known))
        return Program(tuple(steps), None)

    @property
    def programs(self) -> int:
        """How many combinations of recurring facts are kept (bounded by `KEPT_VERDICTS`)."""
        return len(self._programs)


_EVERY = "no conditions: matches every message"
