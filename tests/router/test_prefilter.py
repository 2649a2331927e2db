"""The words a pattern cannot match without: never a wrong skip, and rules decide as before."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.decide import decide
from router.prefilter import may_match, required_words
from tests.router.drafts import MONDAY_10_UTC, make_draft, one_rule


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"\bvpn\b|remote access", {"vpn", "remote access"}),
        (r"(?i)Password|jelszó|kata sandi", {"password", "jelsz", "kata sandi"}),
        (r"a?bc", {"bc"}),
        (r"(?:ab)+x", {"ab"}),
        (r"(?-i:VPN) down", {" down"}),
        (r"printer.*(broken|jam)", {"printer"}),
        (r"x(broken|jammed)", {"broken", "jammed"}),
        (r"ab\d+(?:cdef)", {"cdef"}),
    ],
)
def test_required_words_of_common_patterns(pattern: str, words: set[str]) -> None:
    assert required_words(pattern, re.IGNORECASE) == words


@pytest.mark.parametrize("pattern", ["", r"\d+", r"a*", r"(?:x|.)", r"[a-z]{3}", r"(?!vpn)", r"ő", r"x?"])
def test_no_words_means_the_pattern_always_runs(pattern: str) -> None:
    assert required_words(pattern, re.IGNORECASE) is None
    assert may_match(None, "anything")


def test_non_ascii_text_always_runs_the_pattern() -> None:
    """The letter "ſ" matches "s" without case, though it is not its lowercase: no substring test can stand in."""
    assert re.search("stop", "ſtop the printer", re.IGNORECASE)
    assert may_match(required_words("stop", re.IGNORECASE), None)
    decision = decide(make_draft(text="ſtop the printer"), one_rule({"text": "stop"}), now=MONDAY_10_UTC)
    assert decision.decided_by == "rule:r"


def test_a_text_without_the_words_is_not_scanned() -> None:
    words = required_words(r"\bvpn\b|remote access", re.IGNORECASE)
    assert not may_match(words, "the printer on floor 3 is broken")
    assert may_match(words, "my vpn is broken")
    assert may_match(words, "no remote access since monday")


def test_rule_decisions_are_unchanged_by_the_filter() -> None:
    config = one_rule({"text": r"\bvpn\b|remote access"})
    hit = decide(make_draft(text="The VPN client fails"), config, now=MONDAY_10_UTC)
    miss = decide(make_draft(text="The printer fails"), config, now=MONDAY_10_UTC)
    assert hit.decided_by == "rule:r" and "'VPN' matches" in hit.tried[0].reason
    assert miss.decided_by == "default" and not miss.tried[0].matched


# Patterns from a small grammar of what rule authors write: literals, classes, groups, alternation,
# repeats, anchors, lookarounds and scoped flags; texts drawn from the same letters, so matches are common.
_ALPHABET = "abcAB -."
_atoms = st.one_of(
    st.sampled_from(list("abcAB .-")).map(re.escape),
    st.sampled_from([r"\w", r"\s", r"\b", r".", r"[ab]", r"[^a]", r"\d", "^", "$"]),
)


def _patterns() -> st.SearchStrategy[str]:
    return st.recursive(
        st.lists(_atoms, min_size=1, max_size=5).map("".join),
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda p: f"{p[0]}|{p[1]}"),
            st.tuples(inner, st.sampled_from(["", "?", "*", "+", "{2}", "{1,3}", "+?"])).map(
                lambda p: f"(?:{p[0]}){p[1]}"
            ),
            st.tuples(inner, inner).map(lambda p: f"({p[0]}){p[1]}"),
            inner.map(lambda p: f"(?=x|{p})"),
            inner.map(lambda p: f"(?-i:{p})"),
            inner.map(lambda p: f"(?>{p})"),
        ),
        max_leaves=6,
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=_patterns(), text=st.text(alphabet=_ALPHABET, max_size=24))
def test_a_skipped_pattern_never_matches(pattern: str, text: str) -> None:
    compiled = re.compile(pattern, re.IGNORECASE)
    words = required_words(compiled.pattern, compiled.flags)
    if compiled.search(text) is not None:
        assert may_match(words, text.lower()), (pattern, text, words)
