"""Body text cleaning: line ends, control characters and lone surrogates, for any input."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from normalize.sanitize import clean_body_text, decode_surrogates

CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
ALPHABET = "ab \t\n\r\x00\x01\x08\x0b\x0c\x0e\x1b\x1f\x7f\x80\x85é€\u2028😀\ud800\udbff\udc80\udce9\udcff"


@given(st.text(alphabet=ALPHABET, max_size=60))
@settings(max_examples=500, deadline=None)
def test_body_text_keeps_everything_but_controls_and_surrogates(text):
    cleaned = clean_body_text(text)
    cleaned.encode("utf-8")  # storable: no surrogate survives
    assert "\r" not in cleaned and not CONTROLS.search(cleaned)
    expected = CONTROLS.sub("", decode_surrogates(text).replace("\r\n", "\n").replace("\r", "\n"))
    assert cleaned == expected


def test_escaped_bytes_become_characters_or_replacement_marks():
    assert decode_surrogates("caf\udcc3\udca9") == "café"  # UTF-8 bytes kept as escapes
    assert decode_surrogates("caf\udce9") == "café"  # not UTF-8: read as cp1252
    assert decode_surrogates("x\ud800y") == "x\ufffdy"  # a surrogate that is no escaped byte
    assert decode_surrogates("plain ascii") == "plain ascii"
    assert clean_body_text("a\x00b\r\nc\rd\x7f\te") == "ab\nc\nd\te"
