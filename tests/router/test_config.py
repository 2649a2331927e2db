"""Configuration: the shipped example parses, and every mistake names its dotted key."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from router.config import DEFAULT_MODEL_THRESHOLD, ModelConfig, Priority, RuleAction, parse_router_config
from router.errors import RouterConfigError

PRODUCT_EXAMPLE = r"""
[router]
default_queue = "general"

[[router.rules]]
name = "vpn"
when.channel = ["email", "portal"]
when.text = "(?i)\\bvpn\\b"
set.queue = "network"
set.priority = "high"
set.tags = ["vpn"]

[[router.routes]]
queue = "*"
to = "main"
"""


def test_product_example_parses() -> None:
    config = parse_router_config(tomllib.loads(PRODUCT_EXAMPLE)["router"])
    assert config.default_queue == "general"
    assert config.default_priority is Priority.NORMAL
    assert config.model is None
    [rule] = config.rules
    assert rule.name == "vpn"
    assert [c.key for c in rule.when] == ["channel", "text"]
    assert rule.set == RuleAction(queue="network", priority=Priority.HIGH, tags=("vpn",))


def test_toml_dotted_field_keys_and_model_table() -> None:
    data = tomllib.loads(
        """
        [router]
        default_queue = "general"
        default_priority = "Low"
        model = { path = "var/models/helpdesk.joblib", threshold = 0.7 }
        [[router.rules]]
        name = "laptops"
        timezone = "Europe/Budapest"
        when.field.product = "laptop"
        when.hours = ["Mon-Fri 09:00-17:00"]
        set.category = "hardware"
        [[router.rules]]
        name = "rest"
        set.queue = "triage"
        """
    )["router"]
    config = parse_router_config(data)
    assert config.default_priority is Priority.LOW
    assert config.model == ModelConfig(path="var/models/helpdesk.joblib", name="helpdesk", threshold=0.7)
    assert [c.key for c in config.rules[0].when] == ["field.product", "hours"]
    assert config.rules[1].matches_everything


def test_model_defaults() -> None:
    config = parse_router_config({"default_queue": "q", "model": {"path": "m.joblib", "name": "svc"}})
    assert config.model == ModelConfig(path="m.joblib", name="svc", threshold=DEFAULT_MODEL_THRESHOLD)


def rule(**overrides: Any) -> dict[str, Any]:
    return {"name": "r", "when": {"channel": "email"}, "set": {"queue": "q"}, **overrides}


def when(**conditions: Any) -> dict[str, Any]:
    """A configuration whose one rule has these `when` conditions."""
    return {"rules": [rule(when=conditions)]}


def action(**values: Any) -> dict[str, Any]:
    return {"rules": [rule(set=values)]}


W = "router.rules[0].when"
ERRORS: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown top key", {"colour": "red"}, "router.colour", "unknown key"),
    ("default queue type", {"default_queue": 5}, "router.default_queue", "got integer"),
    ("queue with slash", {"default_queue": "a/b"}, "router.default_queue", "'/'"),
    ("bad default priority", {"default_priority": "asap"}, "router.default_priority", "unknown priority 'asap'"),
    ("rules not array", {"rules": {"name": "x"}}, "router.rules", "got table"),
    ("rule not table", {"rules": ["x"]}, "router.rules[0]", "got string"),
    ("rule without name", {"rules": [{"set": {"queue": "q"}}]}, "router.rules[0].name", "required"),
    ("rule without set", {"rules": [{"name": "r"}]}, "router.rules[0].set", "required"),
    ("unknown rule key", {"rules": [rule(then={})]}, "router.rules[0].then", "unknown key"),
    ("when not table", {"rules": [rule(when="vpn")]}, W, "got string"),
    ("unknown when key", when(colour="red"), f"{W}.colour", "unknown key"),
    ("quoted unknown when key", when(**{"sender-domain": "x"}), f'{W}."sender-domain"', "unknown key"),
    ("bad regex", {"rules": [rule(), rule(name="s", when={"text": "(x"})]}, "router.rules[1].when.text", "regular"),
    ("bad regex in list", when(text=["ok", "[z-a]"]), f"{W}.text[1]", "invalid regular expression"),
    ("late global flag", when(subject="a(?i)b"), f"{W}.subject", "invalid regular expression"),
    ("bad priority", action(priority="critical"), "router.rules[0].set.priority", "low, normal, high, urgent"),
    ("bad hours", when(hours="Mon-Fri 9-5"), f"{W}.hours", "time range"),
    ("bad day", when(hours=["Mon 09:00-10:00", "Xyz"]), f"{W}.hours[1]", "unknown day"),
    (
        "bad timezone",
        {"rules": [rule(when={"hours": "Mon"}, timezone="Mars/Base")]},
        "router.rules[0].timezone",
        "IANA",
    ),
    ("timezone without hours", {"rules": [rule(timezone="UTC")]}, "router.rules[0].timezone", "when.hours"),
    ("wrong when type", when(channel=5), f"{W}.channel", "got integer"),
    ("wrong item type", when(channel=["email", 5]), f"{W}.channel[1]", "got integer"),
    ("empty list", when(keywords=[]), f"{W}.keywords", "empty"),
    ("empty string", when(keywords=" "), f"{W}.keywords", "empty"),
    ("unknown channel", when(channel="fax"), f"{W}.channel", "email, telegram, phone, portal"),
    ("unknown transport", when(transport="pigeon"), f"{W}.transport", "smtp"),
    ("bad recipient", when(recipient="support"), f"{W}.recipient", "address"),
    ("domain as sender", when(sender="@example.org"), f"{W}.sender", "sender_domain"),
    ("bad sender domain", when(sender_domain="a@b.org"), f"{W}.sender_domain", "domain"),
    ("bad phone prefix", when(phone_prefix="36"), f"{W}.phone_prefix", "E.164"),
    ("bad media type", when(attachment_type="pdf"), f"{W}.attachment_type", "media type"),
    ("field not table", when(field="x"), f"{W}.field", "got string"),
    ("field value type", when(field={"a": {"b": 1}}), f"{W}.field.a", "got table"),
    ("unknown set key", action(queue="q", owner="x"), "router.rules[0].set.owner", "unknown key"),
    ("empty set", action(), "router.rules[0].set", "at least one"),
    ("tags not list", action(tags="vpn"), "router.rules[0].set.tags", "array of strings"),
    ("duplicate names", {"rules": [rule(), rule()]}, "router.rules[1].name", "duplicate rule name 'r'"),
    (
        "unreachable rule",
        {"rules": [rule(name="all", when={}), rule(name="late")]},
        "router.rules[1]",
        "'late' can never",
    ),
    ("model without path", {"model": {"threshold": 0.5}}, "router.model.path", "required"),
    ("threshold range", {"model": {"path": "m", "threshold": 1.5}}, "router.model.threshold", "between 0.0 and 1.0"),
    ("threshold type", {"model": {"path": "m", "threshold": "high"}}, "router.model.threshold", "got string"),
    ("unknown model key", {"model": {"path": "m", "kind": "svm"}}, "router.model.kind", "unknown key"),
]


@pytest.mark.parametrize(("data", "key", "fragment"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_error_names_the_key(data: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(RouterConfigError) as caught:
        parse_router_config({"default_queue": "general", **data})
    assert caught.value.key == key
    assert fragment in caught.value.message
    assert str(caught.value).startswith(f"{key}: ")


def test_default_queue_is_required() -> None:
    with pytest.raises(RouterConfigError) as caught:
        parse_router_config({"rules": []})
    assert (caught.value.key, caught.value.message) == ("router.default_queue", "required")


def test_path_prefix_is_used_in_keys() -> None:
    with pytest.raises(RouterConfigError) as caught:
        parse_router_config({"default_queue": "q", "rules": [rule(set={"priority": "x"})]}, path="gateway.router")
    assert caught.value.key == "gateway.router.rules[0].set.priority"


def test_a_catch_all_rule_last_is_valid() -> None:
    config = parse_router_config({"default_queue": "q", "rules": [rule(), {"name": "rest", "set": {"queue": "other"}}]})
    assert [r.matches_everything for r in config.rules] == [False, True]
