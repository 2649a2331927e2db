"""The routing decision for one draft: rules first, then the model, then the default.

Pure: the same draft, configuration, time and model give the same decision,
and the decision carries every rule it tried with the reason it matched or
not, so a ticket's classification can always be explained after the fact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from normalize.schema import MessageDraft
from router.conditions import KEPT_VERDICTS, Attempt
from router.config import DEFAULT_MODEL_THRESHOLD, Priority, RouterConfig, Rule
from router.facts import MessageFacts

if TYPE_CHECKING:
    from router.classifier import Classifier


class Decision(NamedTuple):
    """Where a ticket goes and why; `decided_by` is `rule:<name>`, `model:<name>` or `default`.

    A named tuple rather than a frozen dataclass: as immutable, and made in a third of the time (a frozen
    dataclass sets each field through `object.__setattr__`), once for every ticket.
    """

    queue: str
    category: str | None
    priority: Priority
    tags: tuple[str, ...]
    decided_by: str
    confidence: float | None
    tried: tuple[Attempt, ...]

    def to_json(self) -> dict[str, Any]:
        if not _has_model(self.tried):
            return self._document(list(_kept(self.tried)[0]))
        return self._document([*_kept(self.tried[:-1])[0], _attempt_json(self.tried[-1])])

    def to_stored(self) -> dict[str, Any]:
        """`to_json` as a ticket stores it: the same document once serialized by orjson, whose tried list is
        already serialized (an `orjson.Fragment`), once per combination of rule attempts."""
        tried = self.tried
        if not _has_model(tried):
            return self._document(orjson.Fragment(_kept(tried)[1]))
        text = _kept(tried[:-1])[1]
        model = orjson.dumps(_attempt_json(tried[-1]))
        text = b"[" + model + b"]" if text == b"[]" else text[:-1] + b"," + model + b"]"
        return self._document(orjson.Fragment(text))

    def _document(self, tried: Any) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "category": self.category,
            "priority": str(self.priority),  # a StrEnum: str() is its value, without `.value`'s Python-level lookup
            "tags": list(self.tags),
            "decided_by": self.decided_by,
            "confidence": self.confidence,
            "tried": tried,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Decision:
        return cls(
            queue=data["queue"],
            category=data.get("category"),
            priority=Priority(data["priority"]),
            tags=tuple(data.get("tags", ())),
            decided_by=data["decided_by"],
            confidence=data.get("confidence"),
            tried=tuple(Attempt(t["rule"], bool(t["matched"]), t["reason"]) for t in data.get("tried", ())),
        )


MODEL_PREFIX = "model:"
"""How the model's attempt and decision are named: `model:<name>`."""
_KEPT_TRIED: dict[tuple[Attempt, ...], tuple[list[dict[str, Any]], bytes]] = {}
"""The JSON of combinations of rule attempts seen before; emptied when it holds `KEPT_VERDICTS`."""


def _has_model(tried: tuple[Attempt, ...]) -> bool:
    return bool(tried) and tried[-1].rule.startswith(MODEL_PREFIX)


def _kept(rules: tuple[Attempt, ...]) -> tuple[list[dict[str, Any]], bytes]:
    """The rules' attempts (the model's left out) as JSON objects, shared (read them, never change them), and
    as serialized JSON.

    Ten rules tried make ten objects per ticket, about a tenth of what the rules cost a message. Most messages
    try the same rules with the same verdicts as an earlier one (see `Rule.attempt`), so the rules'
    attempts are kept per combination, objects and text; the model's attempt, whose confidence differs
    every time, is made anew by the caller.
    """
    kept = _KEPT_TRIED.get(rules)
    if kept is None:
        if len(_KEPT_TRIED) >= KEPT_VERDICTS:
            _KEPT_TRIED.clear()
        objects = [_attempt_json(attempt) for attempt in rules]
        kept = _KEPT_TRIED[rules] = (objects, orjson.dumps(objects))
    return kept


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {"rule": attempt.rule, "matched": attempt.matched, "reason": attempt.reason}


def decide(
    draft: MessageDraft,
    config: RouterConfig,
    *,
    now: datetime,
    classifier: Classifier | None = None,
) -> Decision:
    """Classify `draft`; `now` is the time `hours` conditions test (pass `draft.received_at` to replay).

    The portal category the user picked (`draft.category_hint`) is only a
    hint: rules may test it and the model reads it, and it becomes the
    category when nothing else sets one, without changing `decided_by`.
    """
    return decide_many([(draft, now)], config, classifier=classifier)[0]


def decide_many(
    items: Sequence[tuple[MessageDraft, datetime]],
    config: RouterConfig,
    *,
    classifier: Classifier | None = None,
) -> list[Decision]:
    """`decide` for (draft, now) pairs; the model scores every draft no rule decided in one call."""
    plan = config.plan if config.rules else None  # facts cost more than everything else here: only for rules
    tried: list[list[Attempt]] = []
    decisions: list[Decision | None] = []
    for draft, now in items:
        attempts: list[Attempt] = []
        tried.append(attempts)
        rule = None if plan is None else plan.run(MessageFacts(draft, now), attempts)
        decisions.append(None if rule is None else _by_rule(rule, config, _hint(draft), attempts))
    undecided = [i for i, decision in enumerate(decisions) if decision is None]
    if classifier is not None and undecided:
        predictions = classifier.predict_many([items[i][0] for i in undecided])
        judge = _ModelJudge(classifier, config)
        for i, prediction in zip(undecided, predictions, strict=True):
            decisions[i] = judge.decide(items[i][0], prediction, tried[i])
    return [
        decision if decision is not None else _by_default(items[i][0], config, tried[i])
        for i, decision in enumerate(decisions)
    ]


def _by_default(draft: MessageDraft, config: RouterConfig, tried: list[Attempt]) -> Decision:
    return Decision(config.default_queue, _hint(draft), config.default_priority, (), "default", None, tuple(tried))


def _hint(draft: MessageDraft) -> str | None:
    hint = draft.category_hint
    return (hint.strip() or None) if hint else None


def _by_rule(rule: Rule, config: RouterConfig, hint: str | None, tried: list[Attempt]) -> Decision:
    action = rule.set
    return Decision(
        queue=action.queue or config.default_queue,
        category=action.category or hint,
        priority=action.priority or config.default_priority,
        tags=action.tags,
        decided_by=f"rule:{rule.name}",
        confidence=None,
        tried=tuple(tried),
    )


class _ModelJudge:
    """The model's verdicts for one `decide_many` call: its name and threshold looked up once, and the parts of
    each reason that do not depend on the confidence made once per label."""

    def __init__(self, classifier: Classifier, config: RouterConfig) -> None:
        name = config.model.name if config.model else classifier.name
        self.threshold = threshold = config.model.threshold if config.model else DEFAULT_MODEL_THRESHOLD
        self.attempt_name = f"{MODEL_PREFIX}{name}"
        self.above = f" >= threshold {threshold:.2f}"
        self.below = f" < threshold {threshold:.2f}"
        self.config = config
        self.labels: dict[str, str] = {}

    def decide(self, draft: MessageDraft, prediction: tuple[str, float], tried: list[Attempt]) -> Decision | None:
        """The model's decision when it is confident enough, else None (the attempt is recorded either way)."""
        label, confidence = prediction
        head = self.labels.get(label)
        if head is None:
            head = self.labels[label] = f"label {label!r} at "
        confident = confidence >= self.threshold
        reason = f"{head}{confidence:.2f}{self.above if confident else self.below}"
        tried.append(Attempt(self.attempt_name, confident, reason))
        if not confident:
            return None
        config = self.config
        queue, _, category = label.partition("/")
        return Decision(queue or config.default_queue, category or _hint(draft), config.default_priority, (),
                        self.attempt_name, confidence, tuple(tried))
