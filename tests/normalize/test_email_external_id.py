"""The header scan behind `email_external_id` gives what a parse of the header block gives."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from normalize.email import email_external_id
from normalize.email.parse import parse_header_block, raw_headers
from normalize.email.threading_keys import first_message_id_header, message_id_value
from tests.normalize.test_email_robustness import CPYTHON_DATA

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "email").glob("*.eml"))


def parsed_header(raw: bytes) -> str | None:
    """The reference: the stdlib feed parser's first Message-ID header, raw."""
    for key, value in raw_headers(parse_header_block(raw)):
        if key.strip().lower() == "message-id":
            return value
    return None


def parsed_external_id(raw: bytes) -> str:
    value = message_id_value(parsed_header(raw))
    return value if value else "sha256:" + hashlib.sha256(raw).hexdigest()


def assert_same(raw: bytes) -> None:
    assert first_message_id_header(raw) == parsed_header(raw)
    assert email_external_id(raw) == parsed_external_id(raw)


def test_there_are_messages_to_compare() -> None:
    assert len(FIXTURES) >= 30
    assert not CPYTHON_DATA or len(CPYTHON_DATA) >= 30


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixtures_give_the_parsed_id(path: Path) -> None:
    assert_same(path.read_bytes())


@pytest.mark.parametrize("path", CPYTHON_DATA, ids=lambda p: p.name)
def test_cpython_email_data_gives_the_parsed_id(path: Path) -> None:
    assert_same(path.read_bytes())


@pytest.mark.parametrize(
    "raw",
    [
        b"Message-ID: <a@example.org>\r\n\r\nbody",
        b"message-id:<a@example.org>",  # no line end at all
        b"MESSAGE-ID: \t <a@example.org>\n\nbody",
        b"Message-ID:\r\n <folded@example.org>\r\n\r\n",
        b"Message-ID: <part1\r\n\t.part2@example.org>\r\nSubject: x\r\n\r\n",
        b"Message-ID: <cr-only@example.org>\rSubject: x\r\rbody",
        b"From someone@example.org Mon Jan  1 00:00:00 2024\nMessage-ID: <mbox@example.org>\n\n",
        b" <continuation-first@example.org>\r\nMessage-ID: <b@example.org>\r\n\r\n",
        b"Subject: x\r\nnot a header line\r\nMessage-ID: <after-body@example.org>\r\n\r\n",
        b"Subject: x\r\n\r\nMessage-ID: <in-body@example.org>\r\n",
        b": no name\r\n <cont@example.org>\r\nMessage-ID: <c@example.org>\r\n\r\n",
        b"Message-ID: <first@example.org>\r\nMessage-ID: <second@example.org>\r\n\r\n",
        b"Message-ID : <space-before-colon@example.org>\r\n\r\n",
        b"Message-ID: <caf\xc3\xa9@example.org>\r\n\r\n",
        b"Message-ID: <\xff\xfe@example.org>\r\n\r\n",
        b"X-Message-ID: <x@example.org>\r\nMessage-Id: <real@example.org>\r\n\r\n",
        b"Message-ID: \r\n\r\n",
        b"Message-ID: <a@example.org>\r\nFrom not-a-header\r\n <cont@example.org>\r\n\r\n",
        b"Subject: x\r\n\tMessage-ID: <continued@example.org>\r\n\r\n",
        b"Message-ID: <" + b"x" * 600 + b"@example.org>\r\n\r\n",
        b"",
    ],
)
def test_edge_cases_give_the_parsed_id(raw: bytes) -> None:
    assert_same(raw)


_LINE = st.one_of(
    st.sampled_from([
        b"Message-ID: <m@example.org>", b"message-id:<n@example.org>", b"Message-Id:", b" <folded@example.org>",
        b"\t.tail@example.org>", b"Subject: hello", b"From x@example.org Mon Jan  1", b": nameless", b"",
        b"From: a@example.org", b"not a header", b" ", b"Message-ID: <\xc3\xa9@example.org>",
    ]),
    st.binary(max_size=30),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_LINE, st.sampled_from([b"\r\n", b"\n", b"\r"])), max_size=8), st.binary(max_size=20))
def test_arbitrary_header_blocks_give_the_parsed_id(lines: list[tuple[bytes, bytes]], tail: bytes) -> None:
    assert_same(b"".join(line + end for line, end in lines) + tail)


def test_the_normalizer_takes_the_callers_external_id_and_computes_it_otherwise() -> None:
    from datetime import UTC, datetime

    from normalize.email import normalize_email
    from normalize.schema import Transport

    raw = b"From: a@example.org\r\nMessage-ID: <given@example.org>\r\nSubject: x\r\n\r\nbody\r\n"
    when = datetime(2024, 1, 2, tzinfo=UTC)
    computed, _ = normalize_email(raw, transport=Transport.SMTP, received_at=when)
    reused, _ = normalize_email(raw, transport=Transport.SMTP, received_at=when, external_id="given@example.org")
    assert computed.external_id == reused.external_id == "given@example.org"
