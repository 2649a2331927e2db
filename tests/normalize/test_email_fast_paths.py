"""The normalizer's shortcuts change no result.

Two proofs, on a wide corpus (the fixtures, CPython's email test data, the
benchmark's messages and 400 generated ones, see `mailcorpus.py`):

* Against the code before the shortcuts: `fixtures/normalized_digests.json`
  holds the digest of every message's whole result as that code gave it
  (written with `python -m tests.normalize.mailcorpus --write` at that
  commit); the current code must give the same digests. Header parsing
  varies between Python releases, so this runs on the release the file was
  written with.
* Against the full parser, on any release: the same messages, and messages
  and header values hypothesis generates, normalized with the shortcuts off
  (`parse.reference_mode()`) and on must give the same result.
"""

from __future__ import annotations

import inspect
import itertools
import json
import re
from collections.abc import Iterator
from email import feedparser
from email.feedparser import FeedParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normalize.email import EmailLimits, parse
from tests.normalize import mailcorpus

RECORDED = json.loads(mailcorpus.DIGESTS.read_text())
CORPUS = list(mailcorpus.corpus())


def test_the_corpus_is_wide() -> None:
    assert len(CORPUS) >= 450
    assert len(RECORDED["messages"]) >= 450


@pytest.mark.skipif(RECORDED["python"] != mailcorpus.runtime(),
                    reason=f"digests recorded on Python {RECORDED['python']}")
def test_results_are_those_of_the_code_before_the_shortcuts() -> None:
    changed = []
    compared = 0
    for name, raw in CORPUS:
        recorded = RECORDED["messages"].get(name)
        if recorded is None or recorded["input"] != mailcorpus.hashlib.sha256(raw).hexdigest():
            continue  # CPython's data differs on this machine: nothing recorded to compare with
        compared += 1
        if mailcorpus.digest(raw) != recorded["output"]:
            changed.append(name)
    assert compared >= 450
    assert not changed, f"results changed for {len(changed)} messages: {changed[:20]}"


def _in_both_orders(items: list[tuple[str, bytes]]) -> Iterator[tuple[str, bytes]]:
    yield from items
    yield from reversed(items)  # parsed values are remembered between messages: order must not matter


def _both_ways(raw: bytes) -> tuple[str, str]:
    with parse.reference_mode():
        reference = mailcorpus.canonical(raw)
    return reference, mailcorpus.canonical(raw)


def _tree(raw: bytes) -> list[object]:
    """Everything the parser built: each part's headers, defects, preamble, epilogue and payload."""
    message = parse.parse_message(raw, EmailLimits().max_depth).message
    return [
        (part.raw_items() and list(part.raw_items()), [type(d).__name__ for d in part.defects],
         part.preamble, part.epilogue, part.get_payload() if not part.is_multipart() else len(part.get_payload()),
         part.get_content_type(), part.get_params(), part.get_filename(), part.get_boundary())
        for part in message.walk()
    ]


def _tree_both_ways(raw: bytes) -> tuple[list[object], list[object]]:
    with parse.reference_mode():
        reference = _tree(raw)
    return reference, _tree(raw)


def test_the_corpus_gives_the_reference_results() -> None:
    for name, raw in _in_both_orders(CORPUS):
        reference, fast = _both_ways(raw)
        assert fast == reference, name


def test_the_corpus_parses_to_the_reference_tree() -> None:
    for name, raw in CORPUS:
        reference, fast = _tree_both_ways(raw)
        assert fast == reference, name


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(min_value=0, max_value=2**32))
def test_generated_mail_gives_the_reference_results(seed: int) -> None:
    for _name, raw in mailcorpus.generated(count=3, seed=seed):
        assert _both_ways(raw)[1] == _both_ways(raw)[0]
        reference, fast = _tree_both_ways(raw)
        assert fast == reference


# Header values built from the characters that matter to the parser.
_PIECES = st.sampled_from([*"aZ09 \t;=\"\\()/*'%?,.-_+:<>@[]!#~é\x01", "=?", "?=", "=?utf-8?q?x?=", "charset", "name",
                           "text/plain", "; ", '"x y"', '""'])
_TOKEN = st.text(alphabet="aB9-._+", min_size=1, max_size=5)
_PARAM = st.tuples(
    st.sampled_from([";", "; ", ";\t", " ;", ";  "]), _TOKEN, st.sampled_from(["=", " =", "= "]),
    st.one_of(_TOKEN, st.text(alphabet="aB9 -._!#~[]=?", max_size=6).map(lambda v: f'"{v}"')),
).map("".join)
_MIME = st.tuples(
    _TOKEN, st.sampled_from(["/", "", " /", "/ "]), _TOKEN, st.lists(_PARAM, max_size=4),
    st.sampled_from(["", " ", ";"]),
).map(lambda t: t[0] + t[1] + t[2] + "".join(t[3]) + t[4])
_NAMES = ["Subject", "X-Anything", "Content-Type", "content-disposition", "Content-Transfer-Encoding", "Received",
          "List-Id", "Auto-Submitted", "From", "To", "Date", "Message-ID", "MIME-Version"]


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(_NAMES), st.one_of(st.lists(_PIECES, max_size=12).map("".join), _MIME, _TOKEN))
def test_a_header_read_without_parsing_reads_as_the_parsed_one(name: str, value: str) -> None:
    registry = parse.PARSE_POLICY.header_factory
    decoded = registry._decoded_without_parsing(name, value)
    if decoded is None:
        return
    try:
        full: object = str(registry.parsed(name, value))
    except Exception as exc:  # the parser raised: the fast path must not have answered
        full = exc
    assert decoded == full
    header = parse.DecodedHeader(name, value, decoded, registry)
    parsed = registry.parsed(name, value)
    assert (header.name, str(header), header.defects) == (parsed.name, str(parsed), parsed.defects)
    if hasattr(parsed, "params"):
        assert dict(header.params) == dict(parsed.params)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.text(alphabet="aZ09'()+_,-./:=? \\*[]$^|{}#&~", min_size=1, max_size=20),
    st.lists(st.sampled_from(["", "--", " ", "\t", "-- \t", "x", "--x", "\r\n", "\n", "\r"]), min_size=2, max_size=5),
)
def test_boundaries_split_parts_as_the_stdlib_does(boundary: str, tails: list[str]) -> None:
    quoted = boundary.replace("\\", "\\\\").replace('"', '\\"')
    lines = [f'Content-Type: multipart/mixed; boundary="{quoted}"', "", "preamble"]
    for i, tail in enumerate(tails):
        lines += [f"--{boundary}{tail}", "Content-Type: text/plain", "", f"part {i}"]
    raw = "\r\n".join([*lines, f"--{boundary}--", "epilogue"]).encode()
    reference, fast = _tree_both_ways(raw)
    assert fast == reference


def test_the_feed_parser_reads_only_the_boundary_groups_the_matcher_gives() -> None:
    """The boundary matcher stands in for one regex of `_parsegen`: check it still uses it as assumed."""
    source = inspect.getsource(FeedParser._parsegen)  # type: ignore[attr-defined]
    assert source.count("re.compile(") == 1
    assert "'(?P<sep>' + re.escape(separator) +" in source and "r'" + parse._BOUNDARY_TAIL + "'" in source
    assert set(re.findall(r"mo\.(\w+)", source)) == {"group"}
    assert set(re.findall(r"mo\.group\('(\w+)'\)", source)) <= {"end", "linesep"}
    assert "boundaryre.match" in source and not re.search(r"boundaryre\.(?!match\b)", source)
    assert set(re.findall(r"NLCRE_eol\.(\w+)\((\w+)\)", source)) == {
        ("search", "lastline"), ("search", "epilogue"), ("search", "payload")}


def test_the_line_end_at_the_end_is_found_as_the_stdlib_finds_it() -> None:
    for size in range(7):
        for chars in itertools.product("a\r\n", repeat=size):
            text = "".join(chars)
            stock, ours = feedparser.NLCRE_eol.search(text), parse._LineEndAtEnd.search(text)
            assert (stock and (stock.span(), stock.groups())) == (ours and (ours.span(), ours.groups()))


_LINES = st.sampled_from([
    "From: a@example.org", "Subject: x", "Content-Type: text/plain", "Content-Type: multipart/mixed; boundary=b",
    "Content-Type: message/rfc822", "Content-Type: message/delivery-status", "Content-Type: text/html; charset=utf-8",
    "Content-Transfer-Encoding: base64", " continued", "\tcontinued", "From nobody Mon Jan 1 00:00:00 2024",
    "not a header", ":no name", "", "", "", "--b", "--b--", "body text", "aGVsbG8=", "> quoted",
])
_ENDS = st.sampled_from(["\r\n", "\n", "\r", "\r\n", "\n"])


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(_LINES, _ENDS), max_size=25), st.sampled_from(["", "tail", "\r", "\n"]))
def test_any_line_structure_parses_to_the_reference_tree(lines: list[tuple[str, str]], tail: str) -> None:
    """Where the header block ends, how lines end, and what the root is: the one-piece body changes nothing."""
    raw = ("".join(line + end for line, end in lines) + tail).encode()
    reference, fast = _tree_both_ways(raw)
    assert fast == reference


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet='ab "()\\<>@,.:;[]x\t', max_size=30))
def test_a_from_header_without_quotes_or_comments_is_its_own_mask(raw: str) -> None:
    """The strict From reader skips its character loop when nothing is quoted or commented."""
    from normalize.email.addresses import _comments, _mask_quotes_and_comments

    masked = _mask_quotes_and_comments(raw)
    if '"' not in raw and "(" not in raw:
        assert masked == raw and _comments(raw) == []
    elif masked is not None:
        assert len(masked) == len(raw)
        assert all(m == c or m in ' x"' for m, c in zip(masked, raw, strict=True))


_LINE_PIECES = st.sampled_from([
    "a", " ", "\t", ":", "-", "--", "*", "From", "from", "VON", "Feladó", "от", "De", "sent from my iPhone",
    "Sent:", "Original Message", "wrote:", "küldve", "ſent", "x" * 40, "é", "\u00a0", "\u2028", ">", "_____",
])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_LINE_PIECES, max_size=12).map("".join))
def test_a_line_skipped_as_prose_is_one_no_reply_test_fires_on(line: str) -> None:
    from normalize.email import quotes

    if not quotes._plain_prose(line):
        return
    assert not quotes._SIGNATURE_DELIMITER.match(line)
    assert not quotes._is_mobile_signature(line)
    assert not quotes._ORIGINAL_MESSAGE.match(line)
    assert not quotes._HEADER_FROM.match(line)
    assert not line.rstrip().endswith(":")


_ATOM = st.text(alphabet="aZ09!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=5)
_ADDRESS = st.tuples(
    st.lists(_ATOM, min_size=1, max_size=3).map(" ".join),
    st.lists(_ATOM, min_size=1, max_size=3).map(".".join),
    st.lists(st.text(alphabet="aZ09-", min_size=1, max_size=4), min_size=1, max_size=3).map(".".join),
    st.sampled_from(["{l}@{d}", "{n} <{l}@{d}>", "<{l}@{d}>", "{n}<{l}@{d}>", "{n}  <{l}@{d}>"]),
).map(lambda t: t[3].format(n=t[0], l=t[1], d=t[2]))
_ADDRESS_LIST = st.tuples(st.lists(_ADDRESS, min_size=1, max_size=3), st.sampled_from([",", ", ", " , ", ",\t"])).map(
    lambda t: t[1].join(t[0]))
_ADDRESS_PIECES = st.sampled_from([*"aZ0 .<>@,;:\"()\\[]\t=?-'é", "=?utf-8?q?x?=", "Anna", "<a@b.org>", "a@b", ".."])


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(["from", "to", "cc", "reply-to"]),
    st.one_of(_ADDRESS_LIST, _ADDRESS_LIST.map(lambda v: f" {v} "),
              st.lists(_ADDRESS_PIECES, max_size=12).map("".join)),
)
def test_a_plain_address_list_reads_as_the_parser_reads_it(name: str, raw: str) -> None:
    from normalize.email.addresses import plain_addresses

    plain = plain_addresses(raw)
    if plain is None:
        return
    try:
        header = parse.PARSE_POLICY.header_factory.parsed(name, raw)
        full: object = [(a.display_name, a.username, a.domain, a.addr_spec) for a in header.addresses]
    except Exception as exc:  # the parser raised: the plain reading must not have answered
        full = exc
    assert plain == full


_MARKUP = st.sampled_from(["<ul>", "</ul>", "<UL class=x>", "<blockquote>", "</blockquote>", "<div>", "</div>", "<p>",
                           "<br>", "<li>", "text", "<", ">", "<ol", "<dir>", "<menu>", "</dl>", "<dl>", "<b>", "</b>"])


@settings(max_examples=1500, deadline=None)
@given(st.lists(_MARKUP, max_size=140).map("".join))
def test_markup_with_few_tags_is_left_as_the_nesting_limit_leaves_it(markup: str) -> None:
    from normalize.email import htmltext

    assert htmltext.limit_nesting(markup) == htmltext._limit_nesting(markup)


@pytest.mark.parametrize("start", ["<ul>", "<BLOCKQUOTE>", "<div>", "<ol type=1>"])
@pytest.mark.parametrize("count", [*range(8, 14), *range(97, 104)])
def test_markup_around_the_nesting_limits_is_left_as_the_nesting_limit_leaves_it(start: str, count: int) -> None:
    from normalize.email import htmltext

    for markup in (start * count, start * count + "x" + start.replace("<", "</") * count, "<p>" + start * count):
        assert htmltext.limit_nesting(markup) == htmltext._limit_nesting(markup)
