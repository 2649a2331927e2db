"""Body choice (plain over HTML), HTML to text and sanitizing, and the new part of a reply."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from normalize.email import EmailLimits, EmailSettings, normalize_email
from normalize.email.htmltext import html_to_text, limit_nesting, sanitize_html
from normalize.email.quotes import split_reply
from normalize.schema import MessageDraft, Transport

FIXTURES = Path(__file__).parent / "fixtures" / "email"
RECEIVED = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)


def draft(raw: bytes, settings: EmailSettings | None = None) -> MessageDraft:
    return normalize_email(raw, transport=Transport.SMTP, received_at=RECEIVED, settings=settings or EmailSettings())[0]


def fixture(name: str) -> MessageDraft:
    return draft((FIXTURES / name).read_bytes())


def test_alternative_prefers_text_plain_and_keeps_sanitized_html() -> None:
    result = fixture("alternative.eml")
    assert result.text == "Plain version: the printer on floor 3 is jammed."
    assert result.html == "<p>HTML version: the <b>printer</b> on floor 3 is jammed.</p>"


def test_an_empty_plain_alternative_falls_back_to_the_html_branch() -> None:
    result = fixture("alternative_related.eml")
    assert result.text == "See the screenshot:"
    assert [(a.content_type, a.inline) for a in result.attachments] == [("image/png", True)]


def test_html_only_mail_becomes_readable_text_and_safe_html() -> None:
    result = fixture("html_only.eml")
    assert "The VPN client fails with error\xa0809." in result.text
    assert "Thanks, Éva" in result.text
    assert "[docs](https://help.example/vpn)" in result.text
    assert "alert" not in result.text and "javascript" not in result.text
    html = result.html or ""
    assert "VPN" in html
    for bad in ("<script", "onload", "onerror", "javascript:", "http-equiv", "url(", "<svg", "style="):
        assert bad not in html, bad


def test_sanitize_html_removes_active_content() -> None:
    dirty = '<p onclick="x()">hi</p><script>evil()</script><a href="javascript:evil()">x</a><iframe src="//e"></iframe>'
    clean = sanitize_html(dirty)
    assert clean.startswith("<p>hi</p>")
    assert "evil" not in clean and "iframe" not in clean


def test_html_to_text_renders_blockquotes_as_quotes() -> None:
    text = html_to_text("<div>New text</div><blockquote>old<br>older</blockquote>")
    assert text.splitlines()[0] == "New text"
    assert "> old" in text


def test_limit_nesting_bounds_deep_markup_and_keeps_text() -> None:
    deep = "<ul><li>x" * 5000 + "end"
    limited = limit_nesting(deep)
    assert limited.count("<ul>") == 10
    assert limited.endswith("end")
    assert len(html_to_text(deep)) < 200_000  # without the limit: about 25 MB of indentation


@pytest.mark.parametrize(
    ("name", "new_part"),
    [
        ("reply_en.eml", "It works again, thanks!"),
        ("reply_de.eml", "Danke, es funktioniert wieder."),
        ("reply_hu.eml", "Köszönöm, már működik."),
        ("reply_id.eml", "Terima kasih, sudah berfungsi."),
        ("reply_ru.eml", "Спасибо, всё заработало."),
        ("reply_ru_pishet.eml", "Спасибо!"),
        ("reply_outlook_en.eml", "Still broken after the restart."),
        ("reply_outlook_de.eml", "Immer noch kaputt."),
        ("reply_outlook_hu.eml", "Még mindig rossz."),
        ("reply_outlook_id.eml", "Masih rusak."),
        ("reply_outlook_ru.eml", "Всё ещё не работает."),
        ("signature.eml", "The scanner is offline too."),
        ("mobile_signature.eml", "Cannot log in to the VPN."),
    ],
)
def test_reply_text_is_the_new_part_and_full_text_everything(name: str, new_part: str) -> None:
    result = fixture(name)
    assert result.text == new_part
    assert result.full_text is not None
    assert result.full_text.startswith(new_part) and len(result.full_text) > len(new_part)


def test_a_reply_that_is_only_quotes_keeps_the_full_text() -> None:
    result = fixture("quote_only.eml")
    assert result.text == result.full_text == "> Please restart the printer.\n> Thanks"


@pytest.mark.parametrize(
    "signature",
    [
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Get Outlook for Android",
        "Von meinem iPhone gesendet",
        "Gesendet von meinem Samsung Galaxy",
        "Az iPhone-omról küldve",
        "Dikirim dari iPhone saya",
        "Отправлено с iPhone",
        "--",
        "-- ",
    ],
)
def test_signatures_end_the_new_part(signature: str) -> None:
    assert split_reply(f"Printer is down.\n\n{signature}\nJane\n+1 555 0100") == "Printer is down."


def test_interleaved_answers_survive_without_the_quotes() -> None:
    text = "On Mon, 1 Jan 2024 Bob <bob@example.org> wrote:\n> Q1?\nA1.\n> Q2?\nA2."
    assert split_reply(text) == "A1.\nA2."


def test_wrapped_attribution_is_removed_whole() -> None:
    text = "Done.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Bob Smith <\nbob@example.org> wrote:\n> old"
    assert split_reply(text) == "Done."


def test_a_greeting_right_above_an_attribution_is_kept() -> None:
    text = "Hi team\nKovács János <janos@example.hu> írta:\n> régi"
    assert split_reply(text) == "Hi team"


def test_unquoted_history_below_an_attribution_is_cut() -> None:
    text = "New answer.\n\nOn 1 Jan 2024 Bob <bob@example.org> wrote:\nold text without quote marks"
    assert split_reply(text) == "New answer."


def test_an_ordinary_colon_line_is_not_an_attribution() -> None:
    text = "Steps I tried:\nrestart\nOn the second floor someone wrote:\nnothing"
    assert split_reply(text) == text


def test_forwarded_block_is_history_with_its_marker() -> None:
    text = (
        "FYI, see below.\n\n---------- Forwarded message ---------\n"
        "From: A <a@example.org>\nDate: Mon, 1 Jan 2024\nSubject: x\n\nold"
    )
    assert split_reply(text) == "FYI, see below."


def test_text_over_the_limit_is_truncated_with_a_defect() -> None:
    raw = b"From: a@example.org\r\nSubject: long\r\n\r\n" + b"x" * 5000
    result = draft(raw, EmailSettings(limits=EmailLimits(max_text_chars=1000)))
    assert len(result.full_text or "") == 1000
    assert "TextTruncated" in result.defects


def test_several_inline_text_parts_are_joined() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: apple\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n"
        b"--b\r\nContent-Type: image/jpeg\r\nContent-Disposition: inline\r\n\r\nJPEG\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--b--\r\n"
    )
    result = draft(raw)
    assert result.full_text == "first\n\nsecond"
    assert [a.inline for a in result.attachments] == [True]


def test_an_html_only_reply_loses_its_quoted_history() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: Re: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<div dir="ltr">Fixed, thanks!</div><br><div class="gmail_quote"><div class="gmail_attr">'
        b"On Mon, 1 Jan 2024 at 10:00, Desk &lt;support@desk.example&gt; wrote:<br></div>"
        b"<blockquote>Please restart.</blockquote></div>"
    )
    result = draft(raw)
    assert result.text == "Fixed, thanks!"
    assert "Please restart." in (result.full_text or "")
