"""Decisions: first match wins, what each step tried and why, defaults and the category hint."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest

from normalize.schema import Channel, Transport
from router.classifier import Classifier
from router.config import Priority
from router.decide import Attempt, Decision, decide, decide_many
from tests.router.drafts import MONDAY_10_UTC, make_draft, rules

VPN = {"name": "vpn", "when": {"keywords": "vpn"}, "set": {"queue": "network", "priority": "high", "tags": ["vpn"]}}
EMAIL = {"name": "email", "when": {"channel": "email"}, "set": {"queue": "mailbox"}}
TELEGRAM = {"name": "telegram", "when": {"channel": "telegram"}, "set": {"queue": "chat"}}


class ProbabilitiesByText:
    """Stands in for a fitted pipeline: each text's probabilities named by the text's first word."""

    def __init__(self, rows: dict[str, dict[str, float]]) -> None:
        self.classes_ = np.array(list(next(iter(rows.values()))))
        self._rows = {word: list(row.values()) for word, row in rows.items()}

    def predict_proba(self, texts: list[str]) -> Any:
        return np.array([self._rows[text.split()[0]] for text in texts])


class FixedProbabilities:
    """Stands in for a fitted pipeline: always the same probabilities."""

    def __init__(self, probabilities: dict[str, float]) -> None:
        self.classes_ = np.array(list(probabilities))
        self._row = list(probabilities.values())

    def predict_proba(self, texts: list[str]) -> Any:
        return np.array([self._row for _ in texts])


def fixed_model(probabilities: dict[str, float], name: str = "stub") -> Classifier:
    return Classifier(pipeline=FixedProbabilities(probabilities), name=name)


def test_first_matching_rule_decides_and_later_rules_are_not_tried() -> None:
    config = rules(TELEGRAM, VPN, EMAIL)
    decision = decide(make_draft(text="VPN broken"), config, now=MONDAY_10_UTC)
    assert decision.decided_by == "rule:vpn"
    assert (decision.queue, decision.priority, decision.tags) == ("network", Priority.HIGH, ("vpn",))
    assert [(a.rule, a.matched) for a in decision.tried] == [("telegram", False), ("vpn", True)]


def test_order_matters() -> None:
    draft = make_draft(text="VPN broken")
    assert decide(draft, rules(VPN, EMAIL), now=MONDAY_10_UTC).decided_by == "rule:vpn"
    assert decide(draft, rules(EMAIL, VPN), now=MONDAY_10_UTC).decided_by == "rule:email"


def test_tried_explains_matches_and_misses() -> None:
    both = {"name": "both", "when": {"channel": "email", "text": r"\bvpn\b"}, "set": {"queue": "n"}}
    config = rules(TELEGRAM, {**both, "name": "subject", "when": {"subject": "^urgent"}}, both)
    decision = decide(make_draft(subject="Hi", text="our vpn is down"), config, now=MONDAY_10_UTC)
    telegram, subject, matched = decision.tried
    assert telegram == Attempt("telegram", False, "channel: 'email' not in 'telegram'")
    assert subject.rule == "subject" and not subject.matched
    assert subject.reason == "subject: no match for '^urgent'"
    assert matched.matched
    assert "channel: 'email' is one of 'email'" in matched.reason
    assert "text: 'vpn' matches '\\\\bvpn\\\\b'" in matched.reason


def test_each_message_keeps_its_own_explanation_when_rules_reuse_their_attempts() -> None:
    """Rules keep the attempt they recorded for a verdict they saw before: messages that differ
    must still each get their own reason, and a message seen again the same one as before."""
    prefix = {"name": "p", "when": {"phone_prefix": "+36"}, "set": {"queue": "hu"}}
    word = {"name": "w", "when": {"text": r"(?i)printer|scanner"}, "set": {"queue": "hw"}}
    config = rules(TELEGRAM, prefix, word)
    seen = {}
    for _ in range(3):
        for channel, text in ((Channel.EMAIL, "the printer jams"), (Channel.PORTAL, "the scanner jams"),
                              (Channel.EMAIL, "nothing to see")):
            draft = dataclasses.replace(make_draft(text=text), channel=channel)
            tried = decide(draft, config, now=MONDAY_10_UTC).tried
            assert tried[0].reason == f"channel: {channel.value!r} not in 'telegram'"
            assert tried[1].reason == "phone_prefix: requester has no phone number, wanted '+36'"
            assert seen.setdefault((channel, text), tried) == tried
    assert seen[(Channel.EMAIL, "the printer jams")][2].reason == "text: 'printer' matches '(?i)printer|scanner'"
    assert seen[(Channel.PORTAL, "the scanner jams")][2].reason == "text: 'scanner' matches '(?i)printer|scanner'"
    assert seen[(Channel.EMAIL, "nothing to see")][2] == Attempt("w", False, "text: no match for '(?i)printer|scanner'")


def test_missing_facts_are_named_in_the_reason() -> None:
    config = rules({"name": "p", "when": {"phone_prefix": "+36"}, "set": {"queue": "hu"}})
    [attempt] = decide(make_draft(), config, now=MONDAY_10_UTC).tried
    assert attempt == Attempt("p", False, "phone_prefix: requester has no phone number, wanted '+36'")


def test_no_rule_matches_gives_the_default() -> None:
    config = rules(TELEGRAM, default_priority="low")
    decision = decide(make_draft(), config, now=MONDAY_10_UTC)
    assert decision == Decision(
        queue="general",
        category=None,
        priority=Priority.LOW,
        tags=(),
        decided_by="default",
        confidence=None,
        tried=(Attempt("telegram", False, "channel: 'email' not in 'telegram'"),),
    )


def test_no_rules_at_all() -> None:
    decision = decide(make_draft(), rules(), now=MONDAY_10_UTC)
    assert (decision.queue, decision.decided_by, decision.tried) == ("general", "default", ())


def test_catch_all_rule_matches_everything() -> None:
    config = rules(TELEGRAM, {"name": "rest", "set": {"queue": "triage"}})
    decision = decide(make_draft(), config, now=MONDAY_10_UTC)
    assert (decision.queue, decision.decided_by) == ("triage", "rule:rest")
    assert decision.tried[-1] == Attempt("rest", True, "no conditions: matches every message")


def test_rule_without_queue_keeps_the_default_queue() -> None:
    config = rules({"name": "urgent", "when": {"keywords": "urgent"}, "set": {"priority": "urgent"}})
    decision = decide(make_draft(subject="URGENT"), config, now=MONDAY_10_UTC)
    assert (decision.queue, decision.priority, decision.decided_by) == ("general", Priority.URGENT, "rule:urgent")


def test_portal_category_is_a_hint() -> None:
    portal = make_draft(channel=Channel.PORTAL, transport=Transport.HTTP, category_hint="Printers ", text="VPN?")
    by_default = decide(portal, rules(), now=MONDAY_10_UTC)
    assert (by_default.category, by_default.decided_by) == ("Printers", "default")
    by_rule = decide(portal, rules(VPN), now=MONDAY_10_UTC)
    assert (by_rule.queue, by_rule.category, by_rule.decided_by) == ("network", "Printers", "rule:vpn")
    setting = {**VPN, "set": {"queue": "network", "category": "remote access"}}
    assert decide(portal, rules(setting), now=MONDAY_10_UTC).category == "remote access"


def test_portal_category_rule() -> None:
    rule = {"name": "billing", "when": {"portal_category": ["billing", "invoices"]}, "set": {"queue": "finance"}}
    portal = make_draft(channel=Channel.PORTAL, transport=Transport.HTTP, category_hint="Invoices")
    assert decide(portal, rules(rule), now=MONDAY_10_UTC).queue == "finance"


def test_model_decides_when_no_rule_matches_and_it_is_confident() -> None:
    model = fixed_model({"billing/invoice": 0.8, "network": 0.2})
    config = rules(TELEGRAM, model={"path": "m.joblib", "name": "helpdesk", "threshold": 0.7})
    decision = decide(make_draft(), config, now=MONDAY_10_UTC, classifier=model)
    assert (decision.queue, decision.category, decision.decided_by) == ("billing", "invoice", "model:helpdesk")
    assert decision.confidence == 0.8
    assert decision.priority is Priority.NORMAL
    assert decision.tried[-1] == Attempt("model:helpdesk", True, "label 'billing/invoice' at 0.80 >= threshold 0.70")


def test_confidence_at_the_threshold_is_enough() -> None:
    model = fixed_model({"network": 0.7, "hardware": 0.3})
    config = rules(model={"path": "m.joblib", "threshold": 0.7})
    decision = decide(make_draft(), config, now=MONDAY_10_UTC, classifier=model)
    assert (decision.queue, decision.category, decision.decided_by) == ("network", None, "model:m")


def test_below_threshold_falls_back_to_the_default() -> None:
    model = fixed_model({"network": 0.55, "hardware": 0.45})
    config = rules(model={"path": "m.joblib", "name": "helpdesk", "threshold": 0.6})
    draft = make_draft(channel=Channel.PORTAL, transport=Transport.HTTP, category_hint="Hardware")
    decision = decide(draft, config, now=MONDAY_10_UTC, classifier=model)
    assert (decision.queue, decision.category, decision.decided_by) == ("general", "Hardware", "default")
    assert decision.confidence is None
    assert decision.tried == (Attempt("model:helpdesk", False, "label 'network' at 0.55 < threshold 0.60"),)


def test_one_batch_explains_each_draft_by_its_own_label_and_confidence() -> None:
    """The model's reasons are assembled from parts kept per label: each draft still gets its own."""
    model = Classifier(pipeline=ProbabilitiesByText({
        "vpn": {"network": 0.81, "billing/invoice": 0.19},
        "invoice": {"network": 0.05, "billing/invoice": 0.95},
        "unsure": {"network": 0.52, "billing/invoice": 0.48},
    }), name="helpdesk")
    config = rules(model={"path": "m.joblib", "name": "helpdesk", "threshold": 0.75})
    texts = ["vpn down", "invoice wrong", "unsure what", "vpn again"]
    decisions = decide_many([(make_draft(subject="", text=t), MONDAY_10_UTC) for t in texts], config, classifier=model)
    assert [(d.queue, d.category, d.decided_by) for d in decisions] == [
        ("network", None, "model:helpdesk"), ("billing", "invoice", "model:helpdesk"), ("general", None, "default"),
        ("network", None, "model:helpdesk")]
    assert [d.tried for d in decisions] == [
        (Attempt("model:helpdesk", True, "label 'network' at 0.81 >= threshold 0.75"),),
        (Attempt("model:helpdesk", True, "label 'billing/invoice' at 0.95 >= threshold 0.75"),),
        (Attempt("model:helpdesk", False, "label 'network' at 0.52 < threshold 0.75"),),
        (Attempt("model:helpdesk", True, "label 'network' at 0.81 >= threshold 0.75"),)]
    assert [d.confidence for d in decisions] == [0.81, 0.95, None, 0.81]


def test_model_label_without_category_keeps_the_hint() -> None:
    model = fixed_model({"network": 0.9, "hardware": 0.1})
    draft = make_draft(category_hint="wifi")
    decision = decide(draft, rules(model={"path": "m.joblib"}), now=MONDAY_10_UTC, classifier=model)
    assert (decision.queue, decision.category) == ("network", "wifi")


def test_rules_come_before_the_model() -> None:
    model = fixed_model({"billing/invoice": 0.99, "network": 0.01})
    decision = decide(make_draft(text="vpn"), rules(VPN), now=MONDAY_10_UTC, classifier=model)
    assert decision.decided_by == "rule:vpn"
    assert [a.rule for a in decision.tried] == ["vpn"]


def test_without_a_classifier_the_model_config_decides_nothing() -> None:
    decision = decide(make_draft(), rules(model={"path": "m.joblib"}), now=MONDAY_10_UTC)
    assert (decision.decided_by, decision.tried) == ("default", ())


def test_json_round_trip() -> None:
    model = fixed_model({"billing/invoice": 0.5, "network": 0.5})
    config = rules(TELEGRAM, VPN, model={"path": "m.joblib", "threshold": 0.9})
    decision = decide(make_draft(text="vpn"), config, now=MONDAY_10_UTC, classifier=model)
    data = json.loads(json.dumps(decision.to_json()))
    assert data == {
        "queue": "network",
        "category": None,
        "priority": "high",
        "tags": ["vpn"],
        "decided_by": "rule:vpn",
        "confidence": None,
        "tried": [
            {"rule": "telegram", "matched": False, "reason": "channel: 'email' not in 'telegram'"},
            {"rule": "vpn", "matched": True, "reason": "keywords: 'vpn' matches 'vpn'"},
        ],
    }
    assert Decision.from_json(data) == decision
    fallback = decide(make_draft(), config, now=MONDAY_10_UTC, classifier=model)
    assert Decision.from_json(json.loads(json.dumps(fallback.to_json()))) == fallback


def test_decisions_that_tried_the_same_rules_write_the_same_attempts_each_with_its_own_list_and_model_verdict() -> None:
    """The JSON of rule attempts is kept per combination seen before; each decision still gets a list of
    its own, and the model's attempt (its confidence) is each decision's own, never one kept earlier."""
    config = rules(TELEGRAM, VPN, model={"path": "m.joblib", "threshold": 0.9})
    sure = decide(make_draft(), config, now=MONDAY_10_UTC, classifier=fixed_model({"network": 0.95}))
    unsure = decide(make_draft(), config, now=MONDAY_10_UTC, classifier=fixed_model({"network": 0.55}))
    first, second = sure.to_json()["tried"], unsure.to_json()["tried"]
    assert first[:2] == second[:2] == [
        {"rule": "telegram", "matched": False, "reason": "channel: 'email' not in 'telegram'"},
        {"rule": "vpn", "matched": False, "reason": "keywords: no match for 'vpn'"},
    ]
    assert (first[2]["matched"], second[2]["matched"]) == (True, False)
    assert "0.95" in first[2]["reason"] and "0.55" in second[2]["reason"]
    rules_only = decide(make_draft(), rules(TELEGRAM, VPN), now=MONDAY_10_UTC)
    assert rules_only.to_json()["tried"] == second[:2]
    for changed in (first, rules_only.to_json()["tried"]):  # a caller's change to its list reaches no other
        changed.append({"rule": "x"})
    assert len(sure.to_json()["tried"]) == len(unsure.to_json()["tried"]) == 3
    assert len(rules_only.to_json()["tried"]) == 2
    assert Decision.from_json(json.loads(json.dumps(unsure.to_json()))) == unsure


def test_the_stored_form_of_a_decision_is_its_json_once_serialized() -> None:
    """Tickets store `to_stored()`, whose tried list is serialized once per combination of rule attempts:
    written by orjson it must read back as `to_json()` exactly, with no rule, a rule decision, the model sure
    and unsure (its attempt appended to the kept rules' text), and the default."""
    import orjson

    model_config = {"path": "m.joblib", "threshold": 0.9}
    cases = [
        decide(make_draft(), rules(model=model_config), now=MONDAY_10_UTC, classifier=fixed_model({"network": 0.95})),
        decide(make_draft(text="vpn down"), rules(TELEGRAM, VPN), now=MONDAY_10_UTC),
        decide(make_draft(), rules(TELEGRAM, VPN), now=MONDAY_10_UTC),
        decide(make_draft(), rules(TELEGRAM, VPN, model=model_config), now=MONDAY_10_UTC,
               classifier=fixed_model({"network": 0.95})),
        decide(make_draft(), rules(TELEGRAM, VPN, model=model_config), now=MONDAY_10_UTC,
               classifier=fixed_model({"network": 0.55})),
        decide(make_draft(), rules(), now=MONDAY_10_UTC),
    ]
    for decision in cases:
        assert orjson.loads(orjson.dumps(decision.to_stored())) == decision.to_json(), decision.decided_by
    assert [len(d.to_json()["tried"]) for d in cases] == [1, 2, 2, 3, 3, 0]


def test_decision_is_frozen() -> None:
    decision = decide(make_draft(), rules(), now=MONDAY_10_UTC)
    with pytest.raises(AttributeError):
        decision.queue = "x"  # type: ignore[misc]
