"""Nothing but NormalizeError ever escapes: real-world oddities and arbitrary bytes."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normalize.email import email_external_id, normalize_email
from normalize.errors import NormalizeError
from normalize.schema import MessageDraft, Transport

RECEIVED = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures" / "email"


def _cpython_email_data() -> list[Path]:
    """The messages of CPython's own email test suite, where this Python ships it."""
    try:
        import test.test_email  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return []
    folder = Path(os.path.dirname(test.test_email.__file__)) / "data"
    return sorted(folder.iterdir()) if folder.is_dir() else []


CPYTHON_DATA = _cpython_email_data()


def normalize_or_error(raw: bytes) -> MessageDraft | None:
    """The draft, or None for a NormalizeError; anything else fails the test."""
    try:
        draft, attachments = normalize_email(raw, transport=Transport.IMAP, received_at=RECEIVED)
    except NormalizeError:
        return None
    assert draft.external_id == email_external_id(raw)
    assert len(attachments) == len(draft.attachments)
    json.dumps(draft.to_json(), ensure_ascii=False).encode("utf-8")  # storable: no surrogates
    for value in (draft.subject, draft.requester.name or "", draft.extras["from"]):
        assert "\r" not in value and "\n" not in value and "\x00" not in value
    assert not any(d.startswith("InternalError") for d in draft.defects), draft.defects
    return draft


def test_cpython_email_data_exists_in_this_python() -> None:
    assert len(CPYTHON_DATA) > 40


@pytest.mark.parametrize("path", CPYTHON_DATA, ids=[p.name for p in CPYTHON_DATA])
def test_every_cpython_test_message_normalizes(path: Path) -> None:
    assert normalize_or_error(path.read_bytes()) is not None


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.eml")), ids=lambda p: p.name)
def test_every_fixture_normalizes_cleanly(path: Path) -> None:
    assert normalize_or_error(path.read_bytes()) is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise_anything_but_normalize_error(raw: bytes) -> None:
    normalize_or_error(raw)


_PIECES = st.sampled_from(
    [
        b"From: ",
        b"Subject: ",
        b"To: ",
        b"Message-ID: <",
        b">",
        b"<",
        b"@",
        b'"',
        b"(",
        b")",
        b",",
        b":",
        b";",
        b"\r\n",
        b"\n",
        b"\r\n\r\n",
        b" ",
        b"\t",
        b"\x00",
        b"\xff",
        b"=?utf-8?b?",
        b"=?x-unknown?q?=0D=0A",
        b"?=",
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"Content-Type: multipart/alternative; boundary=b\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n",
        b"Content-Type: message/delivery-status\r\n",
        b"Content-Type: text/html; charset=koi8-r\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Disposition: attachment; filename*=utf-8''..%2F%00x\r\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"> quoted\r\n",
        b"On Mon wrote:\r\n",
        b"-- \r\n",
        b"<p onclick=x>hi<blockquote>",
        b"Final-Recipient: rfc822; x@y\r\nAction: failed\r\n",
        b"Auto-Submitted: auto-replied\r\n",
        b"From: MAILER-DAEMON@x\r\nSubject: failure notice\r\n",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_PIECES, st.binary(max_size=8)), max_size=60).map(b"".join))
def test_mail_shaped_noise_never_raises_anything_but_normalize_error(raw: bytes) -> None:
    normalize_or_error(raw)


def test_remembered_headers_are_bounded_and_read_like_fresh_ones(monkeypatch) -> None:
    """Parsed headers are shared between reads and messages; each message still reads its own values."""
    from normalize.email import parse

    monkeypatch.setattr(parse, "MEMO_ENTRIES", 20)
    registry = parse.PARSE_POLICY.header_factory
    registry._parsed.clear()
    for n in range(60):
        raw = (f"From: User {n} <u{n}@example.org>\r\nTo: support@example.org\r\n"
               f"Subject: =?utf-8?q?r=C3=A9f_{n}?=\r\nMessage-ID: <m{n}@example.org>\r\n"
               f"Content-Type: text/plain; charset=utf-8\r\n\r\nbody {n}\r\n").encode()
        draft, _ = normalize_email(raw, transport=Transport.SMTP, received_at=RECEIVED)
        assert (draft.subject, draft.requester.email, draft.text.strip()) == (f"réf {n}", f"u{n}@example.org",
                                                                              f"body {n}")
        assert len(registry._parsed) <= 20
    long_value = "x" * (parse.MEMO_VALUE_CHARS + 1)
    assert registry("Subject", long_value) == long_value and ("Subject", long_value) not in registry._parsed
