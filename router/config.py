"""The `[router]` configuration, validated at load into frozen objects.

Everything a rule needs at run time is prepared here (regexes compiled, time
zones resolved, values normalized), so a bad value fails when the gateway
starts, with its dotted key, and never while a message is being routed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import PurePath
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.conditions import Condition, cost
from router.errors import RouterConfigError
from router.plan import RulePlan
from router.validation import (
    child_key,
    expect_number,
    expect_table,
    expect_text,
    reject_unknown,
    type_name,
)
from router.when import parse_when

DEFAULT_MODEL_THRESHOLD = 0.6
ROUTER_KEYS = ("default_queue", "default_priority", "rules", "model")
DELEGATED_KEYS = ("routes",)
"""Keys of `[router]` that other modules parse (`routes` belongs to dispatch)."""
RULE_KEYS = ("name", "when", "set", "timezone")
SET_KEYS = ("queue", "category", "priority", "tags")
MODEL_KEYS = ("path", "threshold", "name")


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


@dataclass(frozen=True, slots=True)
class RuleAction:
    """What a matching rule sets; what it leaves as None falls back to the defaults."""

    queue: str | None = None
    category: str | None = None
    priority: Priority | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """A named rule: every condition in `when` must match (an empty `when` matches everything).

    Conditions are tested cheapest first (a comparison before a pattern scan),
    since every one must match and the first that does not ends the test; a
    match still explains itself in the order the conditions were written.
    The rule list is evaluated by `router.plan.RulePlan`.
    """

    name: str
    when: tuple[Condition, ...]
    set: RuleAction
    order: tuple[int, ...] = field(init=False, repr=False, compare=False)
    """Indexes of `when` in the order tested."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", tuple(sorted(range(len(self.when)), key=lambda i: cost(self.when[i]))))

    @property
    def matches_everything(self) -> bool:
        return not self.when


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """A trained classifier consulted when no rule matches; it decides only at `threshold` or above."""

    path: str
    name: str
    threshold: float = DEFAULT_MODEL_THRESHOLD


@dataclass(frozen=True, slots=True)
class RouterConfig:
    default_queue: str
    default_priority: Priority = Priority.NORMAL
    rules: tuple[Rule, ...] = ()
    model: ModelConfig | None = None
    plan: RulePlan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plan", RulePlan(self.rules))


def parse_router_config(data: Mapping[str, Any], path: str = "router") -> RouterConfig:
    """Validate the `[router]` table; raises `RouterConfigError` naming the key at fault."""
    table = expect_table(data, path)
    reject_unknown(table, ROUTER_KEYS + DELEGATED_KEYS, path)
    if "default_queue" not in table:
        raise RouterConfigError(child_key(path, "default_queue"), "required")
    default_priority = Priority.NORMAL
    if "default_priority" in table:
        default_priority = _priority(table["default_priority"], child_key(path, "default_priority"))
    model = _model(table["model"], child_key(path, "model")) if "model" in table else None
    return RouterConfig(
        default_queue=_queue(table["default_queue"], child_key(path, "default_queue")),
        default_priority=default_priority,
        rules=_rules(table.get("rules", []), child_key(path, "rules")),
        model=model,
    )


def _rules(data: Any, key: str) -> tuple[Rule, ...]:
    if not isinstance(data, list | tuple):
        raise RouterConfigError(key, f"expected an array of tables, got {type_name(data)}")
    rules = tuple(_rule(item, f"{key}[{i}]") for i, item in enumerate(data))
    _check_names_and_reach(rules, key)
    return rules


def _rule(data: Any, key: str) -> Rule:
    table = expect_table(data, key)
    reject_unknown(table, RULE_KEYS, key)
    for required in ("name", "set"):
        if required not in table:
            raise RouterConfigError(child_key(key, required), "required")
    name = expect_text(table["name"], child_key(key, "name")).strip()
    zone = _zone(table["timezone"], child_key(key, "timezone")) if "timezone" in table else UTC
    when = parse_when(table.get("when", {}), child_key(key, "when"), zone)
    if "timezone" in table and not any(condition.key == "hours" for condition in when):
        raise RouterConfigError(child_key(key, "timezone"), "only used by when.hours, which this rule does not have")
    return Rule(name=name, when=when, set=_action(table["set"], child_key(key, "set")))


def _action(data: Any, key: str) -> RuleAction:
    table = expect_table(data, key)
    reject_unknown(table, SET_KEYS, key)
    if not table:
        raise RouterConfigError(key, f"must set at least one of {', '.join(SET_KEYS)}")
    tags: tuple[str, ...] = ()
    if "tags" in table:
        tags = _tags(table["tags"], child_key(key, "tags"))
    return RuleAction(
        queue=_queue(table["queue"], child_key(key, "queue")) if "queue" in table else None,
        category=expect_text(table["category"], child_key(key, "category")).strip() if "category" in table else None,
        priority=_priority(table["priority"], child_key(key, "priority")) if "priority" in table else None,
        tags=tags,
    )


def _tags(data: Any, key: str) -> tuple[str, ...]:
    if not isinstance(data, list | tuple):
        raise RouterConfigError(key, f"expected an array of strings, got {type_name(data)}")
    tags = (expect_text(tag, f"{key}[{i}]").strip() for i, tag in enumerate(data))
    return tuple(dict.fromkeys(tags))


def _queue(data: Any, key: str) -> str:
    queue = expect_text(data, key).strip()
    if "/" in queue:
        raise RouterConfigError(
            key, "a queue name cannot contain '/', which separates queue and category in model labels"
        )
    return queue


def _priority(data: Any, key: str) -> Priority:
    text = expect_text(data, key)
    try:
        return Priority(text.strip().casefold())
    except ValueError:
        allowed = ", ".join(p.value for p in Priority)
        raise RouterConfigError(key, f"unknown priority {text!r}; expected one of {allowed}") from None


def _zone(data: Any, key: str) -> tzinfo:
    name = expect_text(data, key).strip()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RouterConfigError(key, f"unknown IANA time zone {name!r}, such as 'Europe/Budapest'") from None


def _model(data: Any, key: str) -> ModelConfig:
    table = expect_table(data, key)
    reject_unknown(table, MODEL_KEYS, key)
    if "path" not in table:
        raise RouterConfigError(child_key(key, "path"), "required")
    path = expect_text(table["path"], child_key(key, "path")).strip()
    name = expect_text(table["name"], child_key(key, "name")).strip() if "name" in table else PurePath(path).stem
    threshold = DEFAULT_MODEL_THRESHOLD
    if "threshold" in table:
        threshold = expect_number(table["threshold"], child_key(key, "threshold"), 0.0, 1.0)
    return ModelConfig(path=path, name=name, threshold=threshold)


def _check_names_and_reach(rules: tuple[Rule, ...], key: str) -> None:
    """Names must be unique (decisions cite them) and no rule may hide behind a catch-all."""
    seen: dict[str, int] = {}
    catch_all: int | None = None
    for index, rule in enumerate(rules):
        if rule.name in seen:
            raise RouterConfigError(
                f"{key}[{index}].name", f"duplicate rule name {rule.name!r}, also {key}[{seen[rule.name]}]"
            )
        seen[rule.name] = index
        if catch_all is not None:
            raise RouterConfigError(
                f"{key}[{index}]",
                f"rule {rule.name!r} can never match: rule {rules[catch_all].name!r} ({key}[{catch_all}])"
                " before it has no `when` and matches every message",
            )
        if rule.matches_everything:
            catch_all = index
