"""The rule plan gives, message after message, exactly what testing every rule condition by condition gives.

The plan judges recurring-fact conditions once per combination of values and keeps
the result, so the risk is a kept judgement reused for a message it does not
fit. Random rule sets meet random streams of messages that share some values
and differ in others; each message's decision is compared with a reference
that tests every rule from scratch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normalize.schema import Channel, Requester
from router.conditions import Attempt
from router.config import RouterConfig, Rule
from router.decide import decide
from router.facts import MessageFacts
from tests.router.drafts import attachment, make_draft, rules

START = datetime(2026, 3, 6, 22, 58, 30, tzinfo=UTC)  # a Friday evening: minutes cross into the weekend in Budapest

CONDITIONS: dict[str, st.SearchStrategy[Any]] = {
    "channel": st.sampled_from(["email", "portal", ["phone", "telegram"]]),
    "sender_domain": st.sampled_from(["example.org", "board.example.org", ["other.net", "example.org"]]),
    "sender": st.sampled_from(["anna@example.org", "+36301234567", "@alice"]),
    "recipient": st.sampled_from(["@sales.example.org", "support@example.org"]),
    "portal_category": st.sampled_from(["Billing", ["Access", "VPN"]]),
    "phone_prefix": st.sampled_from(["+36", ["+62", "+49"]]),
    "attachment_type": st.sampled_from(["application/pdf", "image/*"]),
    "hours": st.sampled_from(["Sat,Sun", "Mon-Fri 09:00-17:00", "Sat 00:00-00:01"]),
    "field.form": st.sampled_from(["invoice", ["refund", "invoice"]]),
    "keywords": st.sampled_from(["vpn", ["printer", "toner"], "remote access"]),
    "text": st.sampled_from([r"\bvpn\b|remote access", r"print\w+", r"jelsz[oó]"]),
    "subject": st.sampled_from(["(?i)password|jelszó", r"urgent"]),
}

RULE_SETS = st.lists(
    st.fixed_dictionaries(
        {},
        optional={key: strategy for key, strategy in CONDITIONS.items()},
    ),
    min_size=1,
    max_size=6,
).filter(lambda items: all(items[:-1]))  # a catch-all (no conditions) may only come last

MESSAGES = st.lists(
    st.fixed_dictionaries(
        {
            "channel": st.sampled_from(list(Channel)),
            "email": st.sampled_from(["anna@example.org", "ceo@board.example.org", "x@other.net", None]),
            "phone": st.sampled_from(["+36 30 123 4567", "+4930123", "", "ext. 12", None]),
            "username": st.sampled_from(["Alice", None]),
            "rcpt": st.sampled_from([None, ["support@example.org"], ["a@sales.example.org", "b@example.org"]]),
            "category": st.sampled_from([None, "billing", " VPN ", "Hardware"]),
            "form": st.sampled_from([None, "invoice", "Refund", ["x", "INVOICE"], 3]),
            "attachments": st.sampled_from([(), ("application/pdf",), ("image/png", "text/plain")]),
            "subject": st.sampled_from(["Hello", "Password reset", "URGENT: jelszó", ""]),
            "text": st.sampled_from(["The printer jams", "vpn down", "Remote\n access please", "ſeaſon", "",
                                     "VPN-Zugang geht nicht, Drucker ok"]),
            "minutes": st.integers(min_value=0, max_value=4),
        }
    ),
    min_size=1,
    max_size=12,
)


def _config(items: list[dict[str, Any]]) -> RouterConfig:
    named = []
    for i, when in enumerate(items):
        rule: dict[str, Any] = {"name": f"r{i}", "when": when, "set": {"queue": f"q{i}"}}
        if "hours" in when:
            rule["timezone"] = "Europe/Budapest"
        named.append(rule)
    return rules(*named)


def _draft(message: dict[str, Any]) -> Any:
    fields = {} if message["form"] is None else {"Form": message["form"]}
    return make_draft(
        channel=message["channel"],
        requester=Requester(email=message["email"], phone=message["phone"], telegram_username=message["username"]),
        extras={} if message["rcpt"] is None else {"rcpt_tos": message["rcpt"]},
        category_hint=message["category"],
        fields=fields,
        attachments=tuple(attachment(t) for t in message["attachments"]),
        subject=message["subject"],
        text=message["text"],
    )


def _reference(config: RouterConfig, facts: MessageFacts) -> tuple[list[Attempt], Rule | None]:
    """Every rule tested condition by condition, cheapest first; a match explained in written order."""
    tried: list[Attempt] = []
    for rule in config.rules:
        reasons: dict[int, str] = {}
        failed = None
        for index in rule.order:
            verdict = rule.when[index].test(facts)
            if not verdict.matched:
                failed = verdict
                break
            reasons[index] = verdict.reason
        if failed is not None:
            tried.append(Attempt(rule.name, False, failed.reason))
            continue
        reason = "; ".join(reasons[i] for i in range(len(rule.when))) or "no conditions: matches every message"
        tried.append(Attempt(rule.name, True, reason))
        return tried, rule
    return tried, None


@given(rule_set=RULE_SETS, messages=MESSAGES)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_plan_decides_each_message_as_testing_every_rule_would(rule_set, messages) -> None:
    config = _config(rule_set)
    for message in messages:
        now = START + timedelta(minutes=message["minutes"], seconds=message["minutes"] * 7)
        draft = _draft(message)
        tried: list[Attempt] = []
        matched = config.plan.run(MessageFacts(draft, now), tried)
        expected_tried, expected_rule = _reference(config, MessageFacts(draft, now))
        assert (tried, matched) == (expected_tried, expected_rule), message


def test_messages_that_share_their_recurring_facts_share_one_judgement() -> None:
    config = rules(
        {"name": "vip", "when": {"sender_domain": "board.example.org"}, "set": {"queue": "vip"}},
        {"name": "vpn", "when": {"keywords": "vpn", "channel": "email"}, "set": {"queue": "network"}},
    )
    texts = ["printer jams", "the VPN is down", "nothing", "vpn again"]
    decisions = [decide(make_draft(text=text), config, now=START) for text in texts]
    assert [d.decided_by for d in decisions] == ["default", "rule:vpn", "default", "rule:vpn"]
    assert config.plan.programs == 1  # the text differs, the sender and channel do not
    decide(make_draft(requester=Requester(email="ceo@board.example.org")), config, now=START)
    assert config.plan.programs == 2


def test_facts_that_vary_per_requester_are_tested_per_message_not_judged_per_value() -> None:
    """Judging every rule again for each new address or number would cost more than the one test."""
    config = rules(
        {"name": "domain", "when": {"sender_domain": "board.example.org"}, "set": {"queue": "vip"}},
        {"name": "boss", "when": {"sender": "boss@example.org"}, "set": {"queue": "vip"}},
        {"name": "hu", "when": {"phone_prefix": "+36"}, "set": {"queue": "hu"}},
        {"name": "form", "when": {"field.asset": "PRN-1"}, "set": {"queue": "printers"}},
    )
    for n in range(20):
        requester = Requester(email=f"user{n}@example.org", phone=f"+4930{n:06d}")
        draft = make_draft(requester=requester, fields={"asset": f"PRN-{n}"})
        assert decide(draft, config, now=START).decided_by == ("rule:form" if n == 1 else "default")
    assert config.plan.programs == 1  # one domain
    boss = decide(make_draft(requester=Requester(email="Boss@example.org")), config, now=START)
    assert boss.decided_by == "rule:boss" and config.plan.programs == 1


def test_an_hours_rule_is_judged_again_each_minute() -> None:
    config = rules({"name": "weekend", "when": {"hours": "Sat,Sun"}, "timezone": "Europe/Budapest",
                    "set": {"queue": "oncall"}})
    friday_late = datetime(2026, 3, 6, 22, 59, 59, 999999, tzinfo=UTC)  # 23:59:59 in Budapest
    saturday = friday_late + timedelta(microseconds=1)
    assert decide(make_draft(), config, now=friday_late).decided_by == "default"
    assert decide(make_draft(), config, now=saturday).decided_by == "rule:weekend"
    assert decide(make_draft(), config, now=friday_late).decided_by == "default"
    first_minute = rules({"name": "first", "when": {"hours": "Sat 00:00-00:01"}, "timezone": "Europe/Budapest",
                          "set": {"queue": "oncall"}})
    for seconds, expected in ((59, "rule:first"), (60, "default"), (0, "rule:first"), (-1, "default")):
        moment = saturday + timedelta(seconds=seconds)
        assert decide(make_draft(), first_minute, now=moment).decided_by == expected, moment


def test_an_hours_rule_is_judged_by_the_instant_whatever_zone_the_time_is_given_in() -> None:
    """The kept judgement is found by the time's fields and zone: equal clocks in two zones are two instants."""
    config = rules({"name": "weekend", "when": {"hours": "Sat,Sun"}, "timezone": "Europe/Budapest",
                    "set": {"queue": "oncall"}})
    budapest = ZoneInfo("Europe/Budapest")
    utc_clock = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)  # 00:30 on Saturday in Budapest
    budapest_clock = utc_clock.replace(tzinfo=budapest)  # the same clock, Friday 23:30 there
    assert decide(make_draft(), config, now=utc_clock).decided_by == "rule:weekend"
    assert decide(make_draft(), config, now=budapest_clock).decided_by == "default"
    assert decide(make_draft(), config, now=utc_clock.astimezone(budapest)).decided_by == "rule:weekend"
