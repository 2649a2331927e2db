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

import json
from collections.abc import Iterator

import pytest

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
