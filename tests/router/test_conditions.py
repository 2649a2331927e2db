"""Every `when` key, matching and not matching, with Unicode-aware case-insensitivity."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from normalize.schema import Channel, Requester, Transport
from router.decide import decide
from tests.router.drafts import MONDAY_10_UTC, attachment, make_draft, one_rule

SATURDAY_10_UTC = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)

CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("channel", {"channel": "email"}, {}, True),
    ("channel other", {"channel": "email"}, {"channel": Channel.TELEGRAM}, False),
    ("channel any of list", {"channel": ["email", "portal"]}, {"channel": Channel.PORTAL}, True),
    ("channel value in capitals", {"channel": "EMAIL"}, {}, True),
    ("transport", {"transport": "smtp"}, {}, True),
    ("transport other", {"transport": "smtp"}, {"transport": Transport.IMAP}, False),
    ("recipient", {"recipient": "support@example.org"}, {"extras": {"rcpt_tos": ["Support@Example.ORG"]}}, True),
    ("recipient other", {"recipient": "support@example.org"}, {"extras": {"rcpt_tos": ["sales@example.org"]}}, False),
    ("recipient domain", {"recipient": "@example.org"}, {"extras": {"rcpt_tos": ["it@example.org"]}}, True),
    ("recipient none", {"recipient": "support@example.org"}, {}, False),
    ("sender email", {"sender": "ANNA@example.org"}, {}, True),
    ("sender other email", {"sender": "bob@example.org"}, {}, False),
    ("sender phone", {"sender": "+36 1 234 5678"}, {"requester": Requester(phone="+3612345678")}, True),
    ("sender telegram id", {"sender": "424242"}, {"requester": Requester(telegram_id=424242)}, True),
    ("sender telegram key", {"sender": "telegram:424242"}, {"requester": Requester(telegram_id=424242)}, True),
    ("sender telegram username", {"sender": "@alice"}, {"requester": Requester(telegram_username="Alice")}, True),
    ("sender other username", {"sender": "@bob"}, {"requester": Requester(telegram_username="alice")}, False),
    ("sender_domain", {"sender_domain": "example.org"}, {}, True),
    (
        "sender_domain subdomain",
        {"sender_domain": "@example.org"},
        {"requester": Requester(email="x@mail.example.org")},
        True,
    ),
    ("sender_domain other", {"sender_domain": "example.com"}, {}, False),
    (
        "sender_domain idn",
        {"sender_domain": "BÜCHER.example"},
        {"requester": Requester(email="x@xn--bcher-kva.example")},
        True,
    ),
    ("sender_domain no email", {"sender_domain": "example.org"}, {"requester": Requester(phone="+3612345678")}, False),
    ("phone_prefix", {"phone_prefix": "+36"}, {"requester": Requester(phone="+36301234567")}, True),
    ("phone_prefix other", {"phone_prefix": ["+49", "+43"]}, {"requester": Requester(phone="+36301234567")}, False),
    ("phone_prefix no phone", {"phone_prefix": "+36"}, {}, False),
    ("portal_category", {"portal_category": "Network"}, {"category_hint": "network"}, True),
    ("portal_category other", {"portal_category": "Billing"}, {"category_hint": "network"}, False),
    ("portal_category none", {"portal_category": "Billing"}, {}, False),
    ("field", {"field": {"product": "Laptop"}}, {"fields": {"product": "laptop"}}, True),
    ("field other", {"field": {"product": "Laptop"}}, {"fields": {"product": "printer"}}, False),
    ("field missing", {"field": {"product": "Laptop"}}, {}, False),
    ("field list value", {"field": {"os": ["linux", "macos"]}}, {"fields": {"os": ["Windows", "MacOS"]}}, True),
    ("field boolean", {"field": {"urgent": True}}, {"fields": {"urgent": True}}, True),
    ("field number", {"field": {"floor": 2}}, {"fields": {"floor": "2"}}, True),
    ("field dotted key", {"field.product": "laptop"}, {"fields": {"product": "Laptop"}}, True),
    (
        "attachment_type",
        {"attachment_type": "application/pdf"},
        {"attachments": (attachment("application/pdf"),)},
        True,
    ),
    (
        "attachment_type wildcard",
        {"attachment_type": "image/*"},
        {"attachments": (attachment("Image/PNG; name=a.png"),)},
        True,
    ),
    ("attachment_type other", {"attachment_type": "image/*"}, {"attachments": (attachment("application/pdf"),)}, False),
    ("attachment_type none", {"attachment_type": "application/pdf"}, {}, False),
    ("hours within", {"hours": "Mon-Fri 09:00-17:00"}, {}, True),
    ("hours weekend", {"hours": "Mon-Fri 09:00-17:00"}, {"received_at": SATURDAY_10_UTC}, False),
    ("subject", {"subject": "^invoice"}, {"subject": "INVOICE 2026-03"}, True),
    ("subject only subject", {"subject": "invoice"}, {"text": "invoice attached"}, False),
    ("text", {"text": r"(?i)\bvpn\b"}, {"text": "The VPN is down"}, True),
    ("text in subject", {"text": r"\bvpn\b"}, {"subject": "VPN down"}, True),
    ("text whole word", {"text": r"\bvpn\b"}, {"text": "vpnclient crashed"}, False),
    ("text any of list", {"text": ["printer", "toner"]}, {"text": "Out of TONER"}, True),
    ("keywords", {"keywords": ["vpn", "wifi"]}, {"text": "my WiFi drops"}, True),
    ("keywords whole words", {"keywords": ["wifi"]}, {"text": "wifidirect setup"}, False),
    ("keywords phrase", {"keywords": "reset password"}, {"text": "please RESET\n  Password"}, True),
    ("keywords punctuation", {"keywords": "c++"}, {"text": "the C++ compiler"}, True),
]


@pytest.mark.parametrize(("when", "changes", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_when_key(when: dict[str, Any], changes: dict[str, Any], expected: bool) -> None:
    draft = make_draft(**changes)
    decision = decide(draft, one_rule(when), now=draft.received_at)
    assert (decision.decided_by == "rule:r") is expected, decision.tried
    assert decision.queue == ("hit" if expected else "general")


UNICODE_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("latin regex", {"text": "vpn"}, {"text": "VPN"}),
    ("hungarian regex", {"text": "őszi számla"}, {"text": "ŐSZI SZÁMLA érkezett"}),
    ("hungarian keywords", {"keywords": "ÁRVÍZTŰRŐ"}, {"text": "árvíztűrő tükörfúrógép"}),
    ("cyrillic keywords", {"keywords": "впн"}, {"text": "Не работает ВПН"}),
    ("cyrillic regex", {"text": "ПРИНТЕР"}, {"subject": "принтер сломался"}),
    ("decomposed accent", {"keywords": "ő"}, {"text": "o\u030b"}),
    ("greek portal category", {"portal_category": "ΔΊΚΤΥΟ"}, {"category_hint": "δίκτυο"}),
    ("german field", {"field": {"abteilung": "BÜRO"}}, {"fields": {"Abteilung": "büro"}}),
    ("sharp s casefold", {"field": {"street": "STRASSE"}}, {"fields": {"street": "straße"}}),
]


@pytest.mark.parametrize(("when", "changes"), [c[1:] for c in UNICODE_CASES], ids=[c[0] for c in UNICODE_CASES])
def test_matching_is_unicode_case_insensitive(when: dict[str, Any], changes: dict[str, Any]) -> None:
    decision = decide(make_draft(**changes), one_rule(when), now=MONDAY_10_UTC)
    assert decision.decided_by == "rule:r", decision.tried


def test_keywords_do_not_match_inside_words_of_other_scripts() -> None:
    decision = decide(make_draft(text="számlázás"), one_rule({"keywords": "számla"}), now=MONDAY_10_UTC)
    assert decision.decided_by == "default"


def test_all_when_keys_must_match() -> None:
    config = one_rule({"channel": "email", "keywords": "vpn"})
    assert decide(make_draft(text="vpn"), config, now=MONDAY_10_UTC).decided_by == "rule:r"
    assert decide(make_draft(text="printer"), config, now=MONDAY_10_UTC).decided_by == "default"
    telegram = make_draft(channel=Channel.TELEGRAM, transport=Transport.POLLING, text="vpn")
    assert decide(telegram, config, now=MONDAY_10_UTC).decided_by == "default"


def test_hours_use_the_rule_time_zone() -> None:
    config = one_rule({"hours": "Mon-Fri 09:00-17:00"}, timezone="Asia/Jakarta")
    friday_16_utc = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)  # 23:00 in Jakarta
    monday_02_utc = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 09:00 in Jakarta
    assert decide(make_draft(), config, now=friday_16_utc).decided_by == "default"
    assert decide(make_draft(), config, now=monday_02_utc).decided_by == "rule:r"


def test_hours_test_now_not_received_at() -> None:
    draft = make_draft(received_at=SATURDAY_10_UTC)
    decision = decide(draft, one_rule({"hours": "Mon-Fri 09:00-17:00"}), now=MONDAY_10_UTC)
    assert decision.decided_by == "rule:r"


def test_naive_now_is_taken_as_utc() -> None:
    decision = decide(make_draft(), one_rule({"hours": "Mon 10:00-10:01"}), now=datetime(2026, 3, 2, 10, 0))
    assert decision.decided_by == "rule:r"


# -- keywords: the substring shortcut never changes the answer ------------------------------------

TRICKY = "aAsSkKßẞſKİıiIσςΣµμéÉe\u0301 \n\t-_.'ä"


@given(
    text=st.text(alphabet=TRICKY, max_size=40),
    keywords=st.lists(st.text(alphabet=TRICKY, min_size=1, max_size=6).filter(str.strip), min_size=1, max_size=3),
)
@settings(max_examples=300, deadline=None)
def test_keywords_match_exactly_when_their_pattern_does(text, keywords):
    from router.conditions import Keywords
    from router.facts import MessageFacts
    from router.text import keyword_pattern

    condition = Keywords("keywords", tuple(keywords))
    facts = MessageFacts(make_draft(subject="", text=text), MONDAY_10_UTC)
    expected = keyword_pattern(tuple(keywords)).search(facts.searchable()[0]) is not None
    assert condition.test(facts).matched is expected


def test_keywords_ignore_case_across_scripts_and_special_letters():
    for text, keyword in [("Die STRASSE ist gesperrt", "strasse"), ("ſeaſon", "season"), ("KELVIN", "kelvin"),
                          ("ÉRVÉNYTELEN SZÁMLA", "számla"), ("ΣΦΆΛΜΑ", "σφάλμα"), ("ıNVOICE", "invoice"),
                          ("The VPN Is Down", "vpn is"), ("REMOTE\n\tACCESS", "remote access")]:
        decision = decide(make_draft(text=text), one_rule({"keywords": keyword}), now=MONDAY_10_UTC)
        assert decision.decided_by == "rule:r", (text, keyword)
    decision = decide(make_draft(text="the vpnclient hangs"), one_rule({"keywords": "vpn"}), now=MONDAY_10_UTC)
    assert decision.decided_by == "default"  # a keyword is a whole word


def test_a_rule_tests_cheap_conditions_first_and_explains_a_match_in_written_order() -> None:
    """A pattern scan costs more than a comparison; when both must match, a failed comparison ends
    the rule without the scan, and that comparison is the reason given."""
    when = {"text": r"print\w+", "hours": "Mon-Fri 09:00-17:00", "channel": "portal"}
    missed = decide(make_draft(text="The printer"), one_rule(when), now=MONDAY_10_UTC)
    assert missed.tried[0].reason.startswith("channel:")
    hit = decide(make_draft(text="The printer", channel=Channel.PORTAL), one_rule(when), now=MONDAY_10_UTC)
    assert hit.decided_by == "rule:r"
    assert [part.split(":")[0] for part in hit.tried[0].reason.split("; ")] == ["text", "hours", "channel"]


def test_text_conditions_search_a_bounded_start_of_the_text() -> None:
    from router.facts import RULE_TEXT_CHARS

    filler = "lorem ipsum " * (RULE_TEXT_CHARS // 12 + 10)
    for when in ({"keywords": "ransomware"}, {"text": r"ransom\w+"}):
        early = decide(make_draft(text="ransomware " + filler), one_rule(when), now=MONDAY_10_UTC)
        late = decide(make_draft(text=filler + " ransomware"), one_rule(when), now=MONDAY_10_UTC)
        assert (early.decided_by, late.decided_by) == ("rule:r", "default")


def test_rules_keep_their_judgement_per_value_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    from router import plan

    monkeypatch.setattr(plan, "KEPT_VERDICTS", 8)
    config = one_rule({"sender_domain": "example.org"})
    for n in range(40):
        for domain, expected in ((f"d{n}.example.com", "default"), ("example.org", "rule:r")):
            decision = decide(make_draft(requester=Requester(email=f"a@{domain}")), config, now=MONDAY_10_UTC)
            assert decision.decided_by == expected
            assert domain in decision.tried[0].reason  # each value's own explanation, not another's
    assert 0 < config.plan.programs <= 8
